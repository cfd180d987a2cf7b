# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""What the real Ceilometer makes of notifications (runs in the stack venv).

    ceilometer_event.py EVENT_DEFINITIONS_YAML [SECRET] < notifications

Reads one JSON object a line: ``{"event_type", "payload", "publisher_id",
"message_id", "timestamp", "ctxt", "priority"}`` (an oslo.messaging
notification as ceilometer-agent-notification receives it), converts it
with Ceilometer's own converter and the given event definitions, and
writes, one JSON line each, the event exactly as Ceilometer's notifier
publisher puts it on the bus for aodh-listener (signed with SECRET, none
by default), or ``{"dropped": "<why>"}``.
"""
import json
import sys

from oslo_config import cfg
from stevedore import extension

from ceilometer.event import converter
from ceilometer.publisher import utils
from ceilometer import service


def main():
    definitions, secret = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2
                                        else '')
    conf = service.prepare_service([], [])
    conf.set_override('definitions_cfg_file', definitions, group='event')
    conv = converter.setup_events(conf, extension.ExtensionManager(
        namespace='ceilometer.event.trait_plugin'))
    for line in sys.stdin:
        if not line.strip():
            continue
        note = json.loads(line)
        message = {'ctxt': note.get('ctxt') or {},
                   'publisher_id': note['publisher_id'],
                   'event_type': note['event_type'],
                   'payload': note['payload'],
                   'metadata': {'message_id': note['message_id'],
                                'timestamp': note['timestamp']}}
        try:
            event = conv.to_event(note.get('priority', 'info'), message)
        except Exception as e:  # Ceilometer logs and drops it
            print(json.dumps({'dropped': '%s: %s' % (type(e).__name__, e)}))
            continue
        if event is None:
            print(json.dumps({'dropped': 'no event'}))
            continue
        # The notifier publisher's message, through JSON as on the bus.
        print(json.dumps(utils.message_from_event(event, secret)))
        sys.stdout.flush()


if __name__ == '__main__':
    cfg.CONF.reset()
    main()
