# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""fenix-status: is this installation ready for the code now installed?

::

    fenix-status [--config-file /etc/fenix/fenix.conf] upgrade check [--json]

Run it after installing a new version, before starting the services
(oslo.upgradecheck: exit status 0 when every check succeeds, 1 when one
warns, 2 when one fails, 255 on an error of the command itself). Checks:

* **Database schema**: the database is at the newest revision of the
  migrations (``fenix-manage db upgrade`` otherwise).
* **Policy file**: the ``[oslo_policy] policy_file``, when there is one,
  is YAML, parses, and overrides only rules Fenix has.
* **Service user**: ``[service_user]`` describes credentials (Nova and
  AODH are reached with them).
"""
import sys

from oslo_upgradecheck import common_checks
from oslo_upgradecheck import upgradecheck

from fenix.common import clients
from fenix.common import exception
from fenix.common import policies
from fenix.common import policy
from fenix.conf import CONF

Code = upgradecheck.Code
Result = upgradecheck.Result


class Checks(upgradecheck.UpgradeCommands):

    def _check_schema(self):
        from fenix.db import migration
        try:
            current = migration.version()
        except Exception as e:
            return Result(Code.FAILURE, 'Cannot read the schema revision of '
                          '[database] connection: %s: %s'
                          % (type(e).__name__, e))
        head = migration.head()
        if current == head:
            return Result(Code.SUCCESS, 'At revision %s.' % head)
        if current is None:
            return Result(Code.FAILURE, 'The database is not under '
                          'migration control (empty?): run fenix-manage db '
                          'upgrade.')
        known = migration.revisions()
        if current not in known:
            return Result(Code.FAILURE, 'The database is at revision %s, '
                          'which this version of Fenix does not know (a '
                          'newer version migrated it?).' % current)
        behind = len(known) - 1 - known.index(current)
        return Result(Code.FAILURE, 'The database is at revision %s, %d '
                      'behind %s: run fenix-manage db upgrade.'
                      % (current, behind, head))

    def _check_policy(self):
        result = common_checks.check_policy_json(self, CONF)
        if result.code != Code.SUCCESS:
            return result
        path = CONF.find_file(CONF.oslo_policy.policy_file)
        if not path:
            return Result(Code.SUCCESS, 'No policy file: the defaults in '
                          'code apply.')
        policy.reset()
        try:
            enforcer = policy.init()
            enforcer.load_rules(force_reload=True)
            overridden = set(enforcer.file_rules)
        except Exception as e:
            return Result(Code.FAILURE, 'The policy file %s cannot be '
                          'used: %s: %s' % (path, type(e).__name__, e))
        finally:
            policy.reset()
        known = {r.name for r in policies.list_rules()}
        unknown = sorted(overridden - known)
        if unknown:
            return Result(Code.WARNING, 'The policy file %s overrides rules '
                          'Fenix does not have (misspelt or removed): %s'
                          % (path, ', '.join(unknown)))
        return Result(Code.SUCCESS, 'The policy file %s is valid.' % path)

    def _check_service_user(self):
        if clients.service_user_hint(CONF):
            return Result(Code.FAILURE, '[service_user] auth_type is not '
                          'set: sessions that need Nova and AODH cannot '
                          'run. See etc/fenix/fenix.conf.sample.')
        try:
            clients.get_session(CONF)
        except exception.CloudError as e:
            return Result(Code.FAILURE, str(getattr(e, 'message', e)))
        return Result(Code.SUCCESS, '[service_user] describes credentials '
                      '(not tried against Keystone).')

    _upgrade_checks = (
        ('Database schema', _check_schema),
        ('Policy file', _check_policy),
        ('Service user', _check_service_user),
    )


def main(argv=None):
    return upgradecheck.main(
        CONF, project='fenix', upgrade_command=Checks(),
        argv=sys.argv[1:] if argv is None else argv)


if __name__ == '__main__':
    sys.exit(main())
