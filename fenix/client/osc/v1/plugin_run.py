# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""``openstack maintenance plugin-run list|report``: runs of action
plug-ins and the reports of out-of-process agents."""
from cliff import lister
from cliff import show

from fenix.client.osc.v1 import common

FIELDS = ('plugin', 'type', 'hostname', 'state', 'attempt',
          'asynchronous', 'message', 'started_at', 'finished_at')


class ListPluginRun(lister.Lister):
    """List the action plug-in runs of a session."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        common.add_session(parser)
        return parser

    def take_action(self, parsed_args):
        return common.listing(common.client(self).list_action_plugin_runs(
            parsed_args.session), FIELDS)


class ReportPluginRun(show.ShowOne):
    """Report how a run of an action plug-in ended."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        common.add_session(parser)
        parser.add_argument('plugin', metavar='<plugin>',
                            help='Action plug-in name.')
        parser.add_argument(
            '--host', metavar='<hostname>',
            help='Host of the run (none: a session-wide pre/post run).')
        parser.add_argument('--state', required=True,
                            choices=('DONE', 'FAILED'),
                            help='How the run ended.')
        parser.add_argument('--message', metavar='<text>',
                            help='What happened.')
        parser.add_argument('--attempt', type=int, metavar='<n>',
                            help='The attempt the agent was given.')
        return parser

    def take_action(self, parsed_args):
        return common.show(common.client(self).report_action_plugin_run(
            parsed_args.session, parsed_args.plugin, parsed_args.state,
            hostname=parsed_args.host, message=parsed_args.message,
            attempt=parsed_args.attempt))
