# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
"""The drawings of the state machines in doc/ follow the code."""
import os
import xml.etree.ElementTree as ET

from fenix.common import state_machine
from fenix.common import states as st
from fenix.tests.unit.tools import base
from fenix_tools import machines

DOC = os.path.join(os.path.dirname(__file__), '..', '..', '..', '..',
                   'doc', 'source')


class TestMachineDrawings(base.TestCase):

    def test_committed_drawings_are_current(self):
        for path, text in machines.render().items():
            with open(os.path.join(DOC, path)) as f:
                self.assertEqual(
                    text, f.read(),
                    '%s is out of date: run tox -e statemachines' % path)

    def test_svg_is_well_formed_and_names_every_state_and_event(self):
        for machine in state_machine.MACHINES:
            root = ET.fromstring(machines.svg(machine))
            texts = ' '.join(t.text or '' for t in root.iter(
                '{http://www.w3.org/2000/svg}text'))
            for src, event, dst in machine.edges():
                self.assertIn(src, texts)
                self.assertIn(event, texts)
                self.assertIn(dst, texts)

    def test_dot_has_every_edge(self):
        text = machines.dot(state_machine.HOST)
        self.assertIn('"%s" -> "%s" [label="empty"];'
                      % (st.HOST_PENDING, st.HOST_EMPTYING), text)
        self.assertIn('"%s" [peripheries=2];' % st.HOST_MAINTAINED, text)

    def test_labels_do_not_overlap(self):
        labels = machines._Labels()
        y1 = labels.place(10, 100, 'a label', 'start')
        y2 = labels.place(12, 100, 'another', 'start')
        self.assertEqual(100, y1)
        self.assertNotEqual(y1, y2)
