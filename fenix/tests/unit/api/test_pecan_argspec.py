# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""Pecan's argument specs, cached per function."""
from pecan import core
from pecan import util
import testtools

from fenix.api import pecan_argspec


class Controller(object):
    def get(self, a, b=1, *rest):
        return a


class TestArgspecCache(testtools.TestCase):

    def test_same_spec_as_pecan_computed_once(self):
        first = pecan_argspec.getargspec(Controller().get)
        self.assertEqual(tuple(util.getargspec(Controller().get)),
                         tuple(first))
        self.assertEqual(['self', 'a', 'b'], first.args)
        self.assertEqual('rest', first.varargs)
        # Another instance's bound method: the cached object itself.
        self.assertIs(first, pecan_argspec.getargspec(Controller().get))
        self.assertIs(first, pecan_argspec.getargspec(Controller.get))

    def test_installed_in_pecan(self):
        pecan_argspec.install()
        pecan_argspec.install()
        self.assertIs(pecan_argspec.getargspec, core.getargspec)
