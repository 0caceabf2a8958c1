"""The state machine alone: every setStatus branch, polls and expiry, no I/O."""

from __future__ import annotations

from decimal import Decimal

import pytest

from proxy.lifecycle import (
    Activation,
    Answer,
    State,
    Upstream,
    on_clock,
    on_poll,
    on_upstream_refused,
    plan_set_status,
)
from proxy.providers.base import Poll, PollState, Refusal, Sms

NOW = 1_700_000_000.0


def make(**changes: object) -> Activation:
    act = Activation(
        id=1,
        tenant="alice",
        provider="smspva",
        order_id="42",
        phone="79001234567",
        service="tg",
        country=0,
        operator=None,
        cost=Decimal("0.5"),
        currency="USD",
        created=NOW,
        expires=NOW + 600,
    )
    return act.evolve(NOW, **changes)


def received(*codes: str) -> Poll:
    return Poll(PollState.RECEIVED, tuple(Sms(code=c) for c in codes))


def with_code(code: str = "1111") -> Activation:
    return on_poll(make(), received(code), NOW + 1)


class TestPoll:
    def test_first_code_is_received(self) -> None:
        """A code on a waiting activation makes it CODE_RECEIVED with that code."""
        act = with_code("1234")
        assert act.state is State.CODE_RECEIVED
        assert act.last_code == "1234"

    def test_waiting_poll_changes_nothing(self) -> None:
        """An upstream still waiting leaves the activation as it was."""
        act = make()
        assert on_poll(act, Poll(PollState.WAITING), NOW + 1) == act

    def test_old_code_is_not_new_after_retry(self) -> None:
        """After setStatus 3 the previous code, still shown upstream, is ignored."""
        plan = plan_set_status(with_code("1111"), 3, NOW + 2)
        waiting = plan.after
        assert on_poll(waiting, received("1111"), NOW + 3).state is State.WAIT_RETRY

    def test_new_code_after_retry_is_received(self) -> None:
        """A different code after setStatus 3 is the new code."""
        waiting = plan_set_status(with_code("1111"), 3, NOW + 2).after
        act = on_poll(waiting, received("1111", "2222"), NOW + 3)
        assert act.state is State.CODE_RECEIVED
        assert [m.code for m in act.messages] == ["1111", "2222"]

    def test_expired_without_code_is_cancelled(self) -> None:
        """An order the upstream reports expired, with no code, is cancelled."""
        assert on_poll(make(), Poll(PollState.EXPIRED), NOW + 1).state is State.CANCELLED

    def test_expired_with_code_is_finished(self) -> None:
        """An order that expired after delivering a code was used: finished."""
        act = with_code()
        assert on_poll(act, Poll(PollState.EXPIRED), NOW + 2).state is State.FINISHED

    def test_terminal_ignores_polls(self) -> None:
        """Nothing the upstream says changes a cancelled activation."""
        act = make(state=State.CANCELLED)
        assert on_poll(act, received("9"), NOW + 1) == act


class TestClock:
    def test_before_expiry_nothing_changes(self) -> None:
        act = make()
        assert on_clock(act, NOW + 599) == act

    def test_expiry_cancels_waiting(self) -> None:
        """The order lifetime passing with no SMS answers STATUS_CANCEL from then on."""
        assert on_clock(make(), NOW + 600).state is State.CANCELLED

    def test_expiry_finishes_after_code(self) -> None:
        assert on_clock(with_code(), NOW + 601).state is State.FINISHED


class TestSetStatus:
    @pytest.mark.parametrize("state", [State.WAIT_CODE, State.CODE_RECEIVED, State.WAIT_RETRY])
    def test_ready_while_active(self, state: State) -> None:
        """setStatus 1 is confirmed without any upstream call."""
        plan = plan_set_status(make(state=state), 1, NOW)
        assert (plan.upstream, plan.answer) == (Upstream.NONE, Answer.ACCESS_READY)
        assert plan.after.ready

    def test_retry_after_code_asks_upstream(self) -> None:
        plan = plan_set_status(with_code("5555"), 3, NOW + 2)
        assert (plan.upstream, plan.answer) == (Upstream.REQUEST_ANOTHER, Answer.ACCESS_RETRY_GET)
        assert plan.after.state is State.WAIT_RETRY
        assert plan.after.retry_code == "5555"

    def test_retry_twice_does_not_ask_again(self) -> None:
        waiting = plan_set_status(with_code(), 3, NOW + 2).after
        plan = plan_set_status(waiting, 3, NOW + 3)
        assert (plan.upstream, plan.answer) == (Upstream.NONE, Answer.ACCESS_RETRY_GET)

    def test_retry_before_code_is_bad_status(self) -> None:
        assert plan_set_status(make(), 3, NOW).answer is Answer.BAD_STATUS

    def test_finish_with_code(self) -> None:
        plan = plan_set_status(with_code(), 6, NOW + 2)
        assert (plan.upstream, plan.answer) == (Upstream.NONE, Answer.ACCESS_ACTIVATION)
        assert plan.after.state is State.FINISHED

    def test_finish_before_sms_closes_and_refunds(self) -> None:
        """seeds/004:196: 6 in preparation closes the activation as an error."""
        plan = plan_set_status(make(), 6, NOW)
        assert (plan.upstream, plan.answer) == (Upstream.CANCEL, Answer.ACCESS_ACTIVATION)
        assert plan.after.state is State.CANCELLED

    def test_finish_while_awaiting_retry_completes(self) -> None:
        """seeds/004:207-208: for an activation in status 3, 6 confirms and completes."""
        waiting = plan_set_status(with_code("1111"), 3, NOW + 2).after
        plan = plan_set_status(waiting, 6, NOW + 3)
        assert (plan.upstream, plan.answer) == (Upstream.NONE, Answer.ACCESS_ACTIVATION)
        assert plan.after.state is State.FINISHED
        assert plan.after.last_code == "1111"

    @pytest.mark.parametrize("status", [8, -1])
    def test_cancel_before_sms(self, status: int) -> None:
        plan = plan_set_status(make(), status, NOW)
        assert (plan.upstream, plan.answer) == (Upstream.CANCEL, Answer.ACCESS_CANCEL)
        assert plan.after.state is State.CANCELLED

    def test_cancel_is_idempotent(self) -> None:
        plan = plan_set_status(make(state=State.CANCELLED), 8, NOW)
        assert (plan.upstream, plan.answer) == (Upstream.NONE, Answer.ACCESS_CANCEL)

    @pytest.mark.parametrize("status", [8, -1])
    def test_cancel_after_code_is_bad_status(self, status: int) -> None:
        assert plan_set_status(with_code(), status, NOW + 2).answer is Answer.BAD_STATUS

    @pytest.mark.parametrize("status", [0, 2, 4, 5, 7, 9, 100])
    def test_unknown_status_is_bad_status(self, status: int) -> None:
        assert plan_set_status(make(), status, NOW).answer is Answer.BAD_STATUS

    @pytest.mark.parametrize("status", [1, 3, 8])
    def test_finished_refuses_changes(self, status: int) -> None:
        act = make(state=State.FINISHED)
        assert plan_set_status(act, status, NOW).answer is Answer.BAD_STATUS


class TestRefusal:
    def test_cancel_refused_after_sms_is_bad_status(self) -> None:
        """VAK smsReceived: the code came in meanwhile; the activation stays."""
        act = make()
        plan = plan_set_status(act, 8, NOW)
        refused = on_upstream_refused(plan, act, Refusal.SMS_RECEIVED, NOW)
        assert refused.answer is Answer.BAD_STATUS
        assert refused.after == act

    def test_cancel_of_order_gone_upstream_is_cancel(self) -> None:
        """An order the upstream no longer has cannot be paid for: cancelled."""
        act = make()
        plan = plan_set_status(act, 8, NOW)
        gone = on_upstream_refused(plan, act, Refusal.ORDER_EXPIRED, NOW)
        assert gone.answer is Answer.ACCESS_CANCEL
        assert gone.after.state is State.CANCELLED

    def test_retry_on_order_gone_is_bad_status(self) -> None:
        act = with_code()
        plan = plan_set_status(act, 3, NOW + 2)
        gone = on_upstream_refused(plan, act, Refusal.ORDER_NOT_FOUND, NOW + 2)
        assert gone.answer is Answer.BAD_STATUS
        assert gone.after.state is State.FINISHED
