# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Where Fenix's notifications go, besides oslo.messaging's own settings.

[notification_http]: the fenix-http notification driver. The all-in-one
has no broker, so its notifications cannot reach an alarm service over a
message bus; set [oslo_messaging_notifications] driver = fenix-http and
this URL to have every notification POSTed as JSON instead.

[notification_aodh]: events straight to AODH, for clouds without
Ceilometer. Normally Ceilometer's notification agent turns Fenix's
notifications into events and publishes them to AODH's listener; with
``enabled`` Fenix does that itself, in the same event format.
"""
from oslo_config import cfg

GROUP = cfg.OptGroup('notification_http', title='HTTP notification driver')

OPTS = [
    cfg.URIOpt('url', schemes=['http', 'https'],
               help='URL every notification is POSTed to.'),
    cfg.IntOpt('timeout', default=10, min=1,
               help='Seconds one POST may take.'),
    cfg.BoolOpt('batch', default=False,
                help='POST the notifications a thread sends at once (those '
                     'recorded in one transaction, e.g. a project event '
                     'once per type of [workflow] project_event_types) as '
                     'one JSON array of the same objects, in their order, '
                     'instead of one POST each. The receiver must accept '
                     'an array (the simulated cloud\'s /sim/notifications '
                     'does). A failed POST fails them all: each is tried '
                     'again by itself. Used only when fenix-http is the '
                     'only way notifications take.'),
]

AODH_GROUP = cfg.OptGroup(
    'notification_aodh', title='Events straight to AODH (no Ceilometer)',
    help='For clouds that run AODH without Ceilometer: Fenix publishes '
         'each of its notifications (project events, maintenance.host, '
         'maintenance.session) a second time, as the event Ceilometer\'s '
         'notification agent would make of it, to the topic aodh-listener '
         'evaluates event alarms from. Event alarms of the VNFMs then fire '
         'exactly as through Ceilometer. The notifications themselves are '
         'still sent as configured in [oslo_messaging_notifications].')

AODH_OPTS = [
    cfg.BoolOpt('enabled', default=False,
                help='Publish every notification to AODH\'s listener as a '
                     'Ceilometer event (priority sample, event type '
                     '"event", payload a list of one event: message_id, '
                     'event_type, generated, traits as [name, type, value] '
                     'with Ceilometer\'s type codes 1 text, 2 int, '
                     '3 float, 4 datetime, raw, message_signature), using '
                     'the traits of Fenix\'s Ceilometer event definitions '
                     '(doc/source/admin.rst). Do not enable it where '
                     'Ceilometer\'s notification agent also converts '
                     'Fenix\'s notifications for AODH: every alarm would '
                     'fire twice.'),
    cfg.StrOpt('topic', default='alarm.all',
               help='The topic aodh-listener consumes, AODH\'s [listener] '
                    'event_alarm_topic.'),
    cfg.StrOpt('transport_url', secret=True,
               help='The message bus of AODH\'s listener, if it is not the '
                    'one Fenix sends its notifications on '
                    '([oslo_messaging_notifications] transport_url, else '
                    '[DEFAULT] transport_url).'),
    cfg.StrOpt('telemetry_secret', secret=True, default='',
               help='Sign each event as Ceilometer does with its '
                    '[publisher] telemetry_secret (HMAC-SHA256 in '
                    'message_signature). AODH does not check signatures; '
                    'empty leaves message_signature empty, as Ceilometer '
                    'does with an empty secret.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)
    conf.register_group(AODH_GROUP)
    conf.register_opts(AODH_OPTS, group=AODH_GROUP)


def list_opts():
    return [(GROUP, OPTS), (AODH_GROUP, AODH_OPTS)]
