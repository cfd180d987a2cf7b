# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
from fenix.common import exception
from fenix.common import state_machine
from fenix.common import states as st
from fenix.tests import base


class TestStateMachine(base.TestCase):

    def test_every_state_is_declared(self):
        self.assertEqual(set(st.SESSION_STATES),
                         set(state_machine.TRANSITIONS))

    def test_targets_are_states(self):
        for src, dsts in state_machine.TRANSITIONS.items():
            for dst in dsts:
                self.assertIn(dst, st.SESSION_STATES, src)

    def test_default_path(self):
        path = [st.MAINTENANCE, st.SCALE_IN, st.PREPARE_MAINTENANCE,
                st.START_MAINTENANCE, st.PLANNED_MAINTENANCE,
                st.START_MAINTENANCE, st.MAINTENANCE_COMPLETE,
                st.MAINTENANCE_DONE]
        for src, dst in zip(path, path[1:]):
            state_machine.check_transition(src, dst)

    def test_any_active_state_may_fail(self):
        for src in st.ACTIVE_SESSION_STATES:
            state_machine.check_transition(src, st.MAINTENANCE_FAILED)

    def test_final_states_go_nowhere(self):
        for src in st.FINAL_SESSION_STATES:
            for dst in st.SESSION_STATES:
                self.assertRaises(exception.InvalidTransition,
                                  state_machine.check_transition, src, dst)

    def test_illegal_edge(self):
        e = self.assertRaises(exception.InvalidTransition,
                              state_machine.check_transition,
                              st.MAINTENANCE, st.MAINTENANCE_DONE)
        self.assertIn('MAINTENANCE_DONE', str(e))
        self.assertEqual(409, e.code)

    def test_unknown_state(self):
        self.assertRaises(exception.InvalidState,
                          state_machine.allowed_next, 'BOGUS')

    def test_resume_only_failed_sessions(self):
        state_machine.check_resume(st.MAINTENANCE_FAILED,
                                   st.PLANNED_MAINTENANCE)
        e = self.assertRaises(exception.SessionStateConflict,
                              state_machine.check_resume,
                              st.MAINTENANCE_DONE, st.MAINTENANCE)
        self.assertEqual(409, e.code)
        self.assertRaises(exception.InvalidState,
                          state_machine.check_resume,
                          st.MAINTENANCE_FAILED, st.MAINTENANCE_DONE)

    def test_reply_states(self):
        self.assertIn('ACK_MAINTENANCE', st.REPLY_STATES)
        self.assertIn('NACK_PLANNED_MAINTENANCE', st.REPLY_STATES)
        self.assertIn('ACK_INSTANCE_ACTION_DONE', st.REPLY_STATES)
        self.assertNotIn('NACK_INSTANCE_ACTION_DONE', st.REPLY_STATES)
