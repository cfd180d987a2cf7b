# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The pure parts of the crash campaign (``tools/chaos/campaign.py``).

:mod:`.tally` turns what a session left behind (the notifications the
simulated cloud received, the servers before and after, the plug-in starts
an agent saw) into the campaign's figures, and adds them up.
:mod:`.plan` decides where each kill goes. Neither starts a process nor
imports Fenix, so both are unit-tested on recorded data.
"""
