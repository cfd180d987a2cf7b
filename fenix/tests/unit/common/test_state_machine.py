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

    def test_every_workflow_state_may_pause(self):
        for src in st.WORKFLOW_STATES:
            state_machine.check_transition(src, st.PAUSED)
        for src in (st.PAUSED,) + st.FINAL_SESSION_STATES:
            self.assertRaises(exception.InvalidTransition,
                              state_machine.check_transition, src,
                              st.PAUSED)

    def test_paused_goes_back_where_it_was_only(self):
        for hold in st.WORKFLOW_STATES:
            state_machine.check_transition(st.PAUSED, hold, hold_state=hold)
            for other in st.WORKFLOW_STATES:
                if other != hold:
                    self.assertRaises(
                        exception.InvalidTransition,
                        state_machine.check_transition, st.PAUSED, other,
                        hold_state=hold)
        self.assertRaises(exception.InvalidTransition,
                          state_machine.check_transition, st.PAUSED,
                          st.MAINTENANCE_DONE,
                          hold_state=st.MAINTENANCE_COMPLETE)
        # Without a hold state it goes nowhere but to a failure.
        self.assertRaises(exception.InvalidTransition,
                          state_machine.check_transition, st.PAUSED,
                          st.MAINTENANCE)
        state_machine.check_transition(st.PAUSED, st.MAINTENANCE_FAILED)

    def test_paused_is_active_but_not_a_workflow_state(self):
        self.assertIn(st.PAUSED, st.ACTIVE_SESSION_STATES)
        self.assertNotIn(st.PAUSED, st.WORKFLOW_STATES)
        self.assertNotIn(st.PAUSED, state_machine.RESUME_TARGETS)

    def test_pause_and_unpause_checks(self):
        state_machine.check_pause(st.PLANNED_MAINTENANCE, False)
        e = self.assertRaises(exception.Conflict, state_machine.check_pause,
                              st.PLANNED_MAINTENANCE, True)
        self.assertEqual(409, e.code)
        self.assertIn('already requested', str(e))
        for state in (st.PAUSED, st.MAINTENANCE_DONE, st.MAINTENANCE_FAILED):
            e = self.assertRaises(exception.SessionStateConflict,
                                  state_machine.check_pause, state, False)
            self.assertIn('cannot be paused', str(e))
        state_machine.check_unpause(st.PAUSED, True)
        state_machine.check_unpause(st.START_MAINTENANCE, True)
        for state, hold in ((st.START_MAINTENANCE, False),
                            (st.MAINTENANCE_DONE, True),
                            (st.MAINTENANCE_FAILED, False)):
            e = self.assertRaises(exception.SessionStateConflict,
                                  state_machine.check_unpause, state, hold)
            self.assertEqual(409, e.code)
            self.assertIn('cannot be resumed', str(e))

    def test_reply_states(self):
        self.assertIn('ACK_MAINTENANCE', st.REPLY_STATES)
        self.assertIn('NACK_PLANNED_MAINTENANCE', st.REPLY_STATES)
        self.assertIn('ACK_INSTANCE_ACTION_DONE', st.REPLY_STATES)
        self.assertNotIn('NACK_INSTANCE_ACTION_DONE', st.REPLY_STATES)


class TestMachines(base.TestCase):

    def test_every_row_state_is_in_its_machine(self):
        sm = state_machine
        self.assertEqual({st.HOST_PENDING, st.HOST_EMPTYING,
                          st.HOST_IN_MAINTENANCE, st.HOST_MAINTAINED,
                          st.HOST_FAILED, st.HOST_SKIPPED},
                         set(sm.HOST.states))
        self.assertEqual({st.ACTION_PENDING, st.ACTION_IN_PROGRESS,
                          st.ACTION_DONE, st.ACTION_FAILED},
                         set(sm.MOVE.states))
        self.assertEqual(set(st.RUN_STATES), set(sm.PLUGIN_RUN.states))
        self.assertEqual(set(st.STEP_STATES), set(sm.STEP.states))
        self.assertEqual(set(st.SESSION_STATES), set(sm.SESSION.states))

    def test_session_machine_is_the_transition_table(self):
        edges = {(src, dst) for src, _e, dst in state_machine.SESSION.edges()}
        for src in st.SESSION_STATES:
            for dst in state_machine.allowed_next(src):
                self.assertIn((src, dst), edges)
        for src in state_machine.RESUMABLE_FROM:
            for dst in state_machine.RESUME_TARGETS:
                self.assertEqual(dst, state_machine.SESSION.next(
                    src, 'continue_in_%s' % dst.lower()))

    def test_named_events(self):
        host = state_machine.HOST
        self.assertEqual(st.HOST_EMPTYING, host.next(st.HOST_PENDING,
                                                     'empty'))
        self.assertEqual(st.HOST_MAINTAINED,
                         host.next(st.HOST_IN_MAINTENANCE, 'maintained'))
        e = self.assertRaises(exception.InvalidStepTransition, host.next,
                              st.HOST_MAINTAINED, 'empty')
        self.assertIn('host cannot move from MAINTAINED', str(e))
        self.assertRaises(exception.InvalidState, host.next, 'BOGUS',
                          'empty')
        self.assertEqual((), host.events(st.HOST_SKIPPED))

    def test_final_states(self):
        self.assertEqual({st.HOST_MAINTAINED, st.HOST_SKIPPED},
                         set(state_machine.HOST.final_states))
        self.assertEqual({st.RUN_DONE},
                         set(state_machine.PLUGIN_RUN.final_states))
        # A failed session leaves its state only when an admin continues it.
        self.assertEqual({st.MAINTENANCE_DONE},
                         set(state_machine.SESSION.final_states))

    def test_step_machine(self):
        step = state_machine.STEP
        self.assertEqual(st.STEP_PENDING, step.initial)
        self.assertEqual({st.STEP_SKIPPED, st.STEP_CANCELLED},
                         set(step.final_states))
        path = [('start', st.STEP_RUNNING), ('fail', st.STEP_FAILED),
                ('retry', st.STEP_PENDING), ('start', st.STEP_RUNNING),
                ('resume', st.STEP_RUNNING), ('done', st.STEP_DONE),
                ('again', st.STEP_PENDING), ('cancel', st.STEP_CANCELLED)]
        state = step.initial
        for event, expected in path:
            state = step.next(state, event)
            self.assertEqual(expected, state, event)
        # A done step is not started again, a cancelled one goes nowhere.
        self.assertRaises(exception.InvalidStepTransition, step.next,
                          st.STEP_DONE, 'start')
        self.assertRaises(exception.InvalidStepTransition, step.check_move,
                          st.STEP_CANCELLED, st.STEP_PENDING)
        self.assertIn(state_machine.STEP, state_machine.MACHINES)

    def test_check_move(self):
        run = state_machine.PLUGIN_RUN
        run.check_move(None, st.RUN_RUNNING)
        run.check_move(st.RUN_RUNNING, st.RUN_RUNNING)
        run.check_move(st.RUN_FAILED, st.RUN_RUNNING)
        self.assertRaises(exception.InvalidStepTransition, run.check_move,
                          st.RUN_DONE, st.RUN_RUNNING)
        self.assertRaises(exception.InvalidState, run.check_move,
                          st.RUN_RUNNING, 'BOGUS')

    def test_a_machine_refuses_an_unknown_target(self):
        self.assertRaises(ValueError, state_machine.Machine, 'm', 'A',
                          {'A': {'go': 'B'}})

    def test_every_machine_reaches_every_state(self):
        for machine in state_machine.MACHINES:
            seen = {machine.initial}
            todo = [machine.initial]
            while todo:
                for dst in machine.table[todo.pop()].values():
                    if dst not in seen:
                        seen.add(dst)
                        todo.append(dst)
            self.assertEqual(set(machine.states), seen, machine.name)
