# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The Python client of the Fenix API (service type ``maintenance``).

Installable and importable without the server: this package needs only
keystoneauth1 (and, for the ``openstack maintenance`` commands in
:mod:`fenix.client.osc`, osc-lib). It never imports the rest of ``fenix``
(a unit test checks it)::

    from fenix.client import v1

    fenix = v1.Client(session=keystone_session)
    sid = fenix.create_session(hosts=['compute-0'])['session_id']
    print(fenix.get_session(sid)['state'])
"""
