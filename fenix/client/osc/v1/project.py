# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""``openstack maintenance project ...``: a project's (application
manager's) view of a session and its replies to events."""
from cliff import show
from osc_lib.cli import parseractions

from fenix.client.osc.v1 import common


class _ProjectCommand(show.ShowOne):

    instance = False

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        common.add_session(parser)
        parser.add_argument('project', metavar='<project-id>',
                            help='Project id.')
        if self.instance:
            parser.add_argument('instance', metavar='<instance-id>',
                                help='Instance id.')
        parser.add_argument(
            '--event-id', metavar='<event-id>',
            help='The event (its event_id): refused with 409 when it is no '
                 'longer the current one.')
        return parser


class ShowProject(_ProjectCommand):
    """Show the project's current event and the instances it is about."""

    def take_action(self, parsed_args):
        return common.show(common.client(self).get_project(
            parsed_args.session, parsed_args.project,
            event_id=parsed_args.event_id))


class ReplyProject(_ProjectCommand):
    """Answer the project's current event (ACK_<EVENT> or NACK_<EVENT>)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('state', metavar='<reply>',
                            help='E.g. ACK_PLANNED_MAINTENANCE.')
        parser.add_argument(
            '--instance-action', metavar='<instance-id=action>',
            action=parseractions.KeyValueAction,
            help='What to do with an instance (repeatable): MIGRATE, '
                 'LIVE_MIGRATE or OWN_ACTION.')
        return parser

    def take_action(self, parsed_args):
        return common.show(common.client(self).project_reply(
            parsed_args.session, parsed_args.project, parsed_args.state,
            instance_actions=parsed_args.instance_action or None,
            event_id=parsed_args.event_id))


class ShowProjectInstance(_ProjectCommand):
    """Show an instance of the project and its current event."""

    instance = True

    def take_action(self, parsed_args):
        return common.show(common.client(self).get_project_instance(
            parsed_args.session, parsed_args.project, parsed_args.instance,
            event_id=parsed_args.event_id))


class ReplyProjectInstance(_ProjectCommand):
    """Answer an event about one instance."""

    instance = True

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('state', metavar='<reply>',
                            help='E.g. ACK_PLANNED_MAINTENANCE.')
        parser.add_argument(
            '--action', dest='instance_action',
            choices=('MIGRATE', 'LIVE_MIGRATE', 'OWN_ACTION'),
            help='What to do with the instance.')
        return parser

    def take_action(self, parsed_args):
        return common.show(common.client(self).project_instance_reply(
            parsed_args.session, parsed_args.project, parsed_args.instance,
            parsed_args.state, instance_action=parsed_args.instance_action,
            event_id=parsed_args.event_id))
