# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""``openstack maintenance instance-group|instance-constraint ...``: the
constraints application managers keep for their instances and groups.

``set`` changes the options given and keeps the others: it reads the
stored constraint (if any), applies the options and stores the whole
constraint again (the API's ``PUT`` replaces it).
"""
from cliff import command
from cliff import lister
from cliff import show

from fenix.client import exceptions as exc
from fenix.client.osc.v1 import common

MIGRATION_TYPES = ('MIGRATE', 'LIVE_MIGRATE', 'OWN_ACTION')


def _bool_pair(parser, name, help_on, help_off):
    group = parser.add_mutually_exclusive_group()
    dest = name.replace('-', '_')
    group.add_argument('--' + name, dest=dest, action='store_true',
                       default=None, help=help_on)
    group.add_argument('--no-' + name, dest=dest, action='store_false',
                       help=help_off)


class _Kind(object):
    """Binds the commands below to one kind of constraint."""

    noun = None
    id_field = None
    fields = ()

    def api(self, name):
        return getattr(common.client(self), name % self.noun)


class _Set(_Kind, show.ShowOne):

    def add_options(self, parser):
        raise NotImplementedError()

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('id', metavar='<id>',
                            help='Id (%s).' % self.id_field)
        parser.add_argument('--project', metavar='<project-id>',
                            help='Owner (default: your project).')
        self.add_options(parser)
        return parser

    def take_action(self, parsed_args):
        try:
            values = self.api('get_%s')(parsed_args.id)
        except exc.NotFound:
            values = {}
        values = {k: v for k, v in values.items() if k in self.fields}
        given = {k: getattr(parsed_args, k) for k in self.fields
                 if k != 'project_id' and getattr(parsed_args, k, None)
                 is not None}
        values.update(given)
        if parsed_args.project:
            values['project_id'] = parsed_args.project
        return common.show(self.api('set_%s')(parsed_args.id, **values))


class _Show(_Kind, show.ShowOne):

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('id', metavar='<id>',
                            help='Id (%s).' % self.id_field)
        return parser

    def take_action(self, parsed_args):
        return common.show(self.api('get_%s')(parsed_args.id))


class _Delete(_Kind, command.Command):

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('ids', metavar='<id>', nargs='+',
                            help='Id(s) (%s).' % self.id_field)
        return parser

    def take_action(self, parsed_args):
        for item in parsed_args.ids:
            self.api('delete_%s')(item)


class _List(_Kind, lister.Lister):

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument(
            '--project', metavar='<project-id>',
            help='Only this project\'s (admins and system readers; '
                 'default: yours, or every project\'s for them).')
        return parser

    def take_action(self, parsed_args):
        records = self.api('list_%ss')(project_id=parsed_args.project)
        return common.listing(records, (self.id_field,) + self.fields)


class _Group(_Kind):
    noun = 'instance_group'
    id_field = 'group_id'
    fields = ('project_id', 'group_name', 'anti_affinity_group',
              'max_instances_per_host', 'max_impacted_members',
              'recovery_time', 'resource_mitigation')


class _Instance(_Kind):
    noun = 'instance'
    id_field = 'instance_id'
    fields = ('project_id', 'group_id', 'instance_name',
              'max_interruption_time', 'migration_type',
              'resource_mitigation', 'lead_time')


class SetInstanceGroup(_Group, _Set):
    """Create or change an instance group constraint."""

    def add_options(self, parser):
        parser.add_argument('--name', dest='group_name', metavar='<name>',
                            help='Name (the server group\'s).')
        _bool_pair(parser, 'anti-affinity-group',
                   'Members must run on different hosts.',
                   'Members may share a host.')
        parser.add_argument(
            '--max-instances-per-host', type=int, metavar='<n>',
            help='Members one host may hold; 0 = no limit.')
        parser.add_argument(
            '--max-impacted-members', type=int, metavar='<n>',
            help='Members that may be out of service at once.')
        parser.add_argument(
            '--recovery-time', type=int, metavar='<seconds>',
            help='Seconds a moved member needs before the next is touched.')
        _bool_pair(parser, 'resource-mitigation',
                   'The group may be scaled in.',
                   'The group may not be scaled in.')


class ShowInstanceGroup(_Group, _Show):
    """Show an instance group constraint."""


class DeleteInstanceGroup(_Group, _Delete):
    """Delete instance group constraint(s)."""


class ListInstanceGroup(_Group, _List):
    """List instance group constraints."""


class SetInstance(_Instance, _Set):
    """Create or change an instance constraint."""

    def add_options(self, parser):
        parser.add_argument('--group', dest='group_id', metavar='<group-id>',
                            help='The instance group it belongs to.')
        parser.add_argument('--name', dest='instance_name',
                            metavar='<name>', help='Name.')
        parser.add_argument(
            '--max-interruption-time', type=int, metavar='<seconds>',
            help='Seconds of outage a move may cause (live or cold '
                 'migration).')
        parser.add_argument(
            '--migration-type', choices=MIGRATION_TYPES,
            help='What to do with it, also when the manager is silent.')
        _bool_pair(parser, 'resource-mitigation',
                   'The instance may be scaled in.',
                   'The instance may not be scaled in.')
        parser.add_argument(
            '--lead-time', type=int, metavar='<seconds>',
            help='Seconds of notice before Fenix acts on it.')


class ShowInstance(_Instance, _Show):
    """Show an instance constraint."""


class DeleteInstance(_Instance, _Delete):
    """Delete instance constraint(s)."""


class ListInstance(_Instance, _List):
    """List instance constraints."""
