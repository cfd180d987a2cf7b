# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""[download]: software a session downloads before it starts, and the
operator's policy of what may be downloaded (see
fenix.common.download_policy and doc/source/admin.rst)."""
from oslo_config import cfg

GROUP = cfg.OptGroup('download', title='Session downloads')

SCHEMES = ('https', 'http', 'file')

OPTS = [
    cfg.StrOpt('directory', default='/var/lib/fenix/downloads',
               help='Directory under which each session gets its own '
                    'download directory.'),
    cfg.IntOpt('max_size', default=512 * 1024 * 1024, min=1,
               help='Largest file a session may download, in bytes.'),
    cfg.IntOpt('timeout', default=60, min=1,
               help='Seconds one download may stall (connect, or wait '
                    'for the next bytes).'),
    cfg.IntOpt('deadline', default=1800, min=1,
               help='Seconds one download may take in all (name '
                    'resolution, redirects and transfer): a server that '
                    'trickles its bytes is cut off then.'),
    cfg.ListOpt('allowed_schemes', default=['https'],
                item_type=cfg.types.String(choices=SCHEMES),
                help='URL schemes a session may download from: https, '
                     'http, file. A file URL must also lie under '
                     'file_directories.'),
    cfg.ListOpt('file_directories', default=[],
                help='Directories file:// URLs may read from (with '
                     '"file" in allowed_schemes). The path is resolved '
                     '(symbolic links, "..") before the check. Empty: no '
                     'file URL is allowed.'),
    cfg.ListOpt('allowed_hosts', default=[],
                help='Host names (or "*.example.com" patterns, or IP '
                     'addresses) sessions may download from. Empty: any '
                     'host whose addresses are allowed (see '
                     'allowed_networks).'),
    cfg.ListOpt('denied_hosts', default=[],
                help='Host names, "*.example.com" patterns and networks '
                     '(CIDR) never downloaded from; wins over every '
                     'allowance.'),
    cfg.ListOpt('allowed_networks', default=[],
                help='Networks (CIDR) a download host may resolve to '
                     'although they are not public: by default every '
                     'loopback, link-local, private (RFC 1918, unique '
                     'local fc00::/7, shared 100.64.0.0/10), unspecified '
                     '(0.0.0.0/8, ::), multicast and reserved address is '
                     'refused. For a mirror inside the cloud, e.g. '
                     '10.20.0.0/16.'),
    cfg.IntOpt('max_redirects', default=5, min=0,
               help='HTTP redirects a download may follow. Each target '
                    'is checked against the policy again and may not '
                    'change the scheme.'),
    cfg.StrOpt('ca_file',
               help='CA bundle to verify https download servers with '
                    '(default: the system\'s).'),
    cfg.BoolOpt('allow_plugin_code', default=False,
                help='Load workflow and action plug-ins found in a '
                     'session\'s downloads. Off: such code is never run. '
                     'On: a plug-in file (<name>.py) is only taken from '
                     'an https URL with a sha256.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)
