# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
import datetime

from fenix.common import exception
from fenix.common import timeutils
from fenix.tests import base


class TestTimeutils(base.TestCase):

    def test_parse_forms(self):
        want = datetime.datetime(2026, 2, 28, 6, 6, 3)
        for text in ('2026-02-28 06:06:03', '2026-02-28T06:06:03',
                     '2026-02-28T06:06:03Z', '2026-02-28T08:06:03+02:00',
                     '2026-02-28T06:06:03.123456'):
            self.assertEqual(want, timeutils.parse_time(text), text)

    def test_parse_error_names_field(self):
        e = self.assertRaises(exception.Invalid, timeutils.parse_time,
                              'tomorrow', 'maintenance_at')
        self.assertIn('maintenance_at', str(e))
        self.assertIn('tomorrow', str(e))
        self.assertEqual(400, e.code)

    def test_format_and_after(self):
        t = datetime.datetime(2026, 1, 1, 0, 0, 0)
        self.assertEqual('2026-01-01 00:00:30',
                         timeutils.format_time(timeutils.after(30, t)))
        self.assertIsNone(timeutils.format_time(None))

    def test_utcnow_is_naive_utc(self):
        now = timeutils.utcnow()
        self.assertIsNone(now.tzinfo)
        aware = datetime.datetime.now(datetime.timezone.utc)
        self.assertLess(abs((aware.replace(tzinfo=None) - now)
                            .total_seconds()), 5)
