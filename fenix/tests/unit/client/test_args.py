# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
import argparse
import datetime

from fenix.client import args
from fenix.tests import base


class TestValues(base.TestCase):

    def test_numbers(self):
        self.assertEqual(0.5, args.positive('0.5'))
        self.assertEqual(0.0, args.non_negative('0'))
        self.assertEqual(3, args.positive_int('3'))
        for func, text in ((args.positive, '0'), (args.positive, 'x'),
                           (args.non_negative, '-1'),
                           (args.positive_int, '0'),
                           (args.positive_int, '1.5')):
            self.assertRaises(argparse.ArgumentTypeError, func, text)

    def test_times_are_utc_in_the_api_form(self):
        self.assertEqual('2026-01-02 03:04:05',
                         args.utc_time('2026-01-02T03:04:05Z'))
        self.assertEqual('2026-01-02 01:04:05',
                         args.utc_time('2026-01-02T03:04:05+02:00'))
        self.assertEqual('2026-01-02 03:04:05',
                         args.utc_time('2026-01-02 03:04:05'))
        error = self.assertRaises(argparse.ArgumentTypeError,
                                  args.utc_time, 'tomorrow')
        self.assertIn('YYYY-MM-DD HH:MM:SS', str(error))
        now = datetime.datetime(2026, 1, 2, 3, 4, 5)
        self.assertEqual('2026-01-02 03:05:35', args.utc_in(90, now))

    def test_action(self):
        self.assertEqual({'plugin': 'dummy', 'type': 'host'},
                         args.action('dummy:host'))
        self.assertEqual({'plugin': 'ansible', 'type': 'compute',
                          'metadata': {'playbook': 'p.yml'}},
                         args.action('ansible:compute:{"playbook": "p.yml"}'))
        for text in ('dummy', ':host', 'dummy:nowhere', 'dummy:host:[1]',
                     'dummy:host:{'):
            self.assertRaises(argparse.ArgumentTypeError, args.action, text)

    def test_json_object_names_the_option(self):
        self.assertEqual({'a': 1}, args.json_object('{"a": 1}'))
        error = self.assertRaises(argparse.ArgumentTypeError,
                                  args.json_object, '[1]', '--metadata')
        self.assertIn('--metadata must be a JSON object', str(error))

    def test_host_names(self):
        self.assertEqual(['c1', 'c2', 'c3'],
                         args.host_names(['c1,c2', 'c3', ',']))
        self.assertEqual([], args.host_names(None))
