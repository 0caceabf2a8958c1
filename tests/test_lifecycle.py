"""The state machine alone: every setStatus branch, polls and expiry, no I/O."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from proxy.lifecycle import (
    Activation,
    Answer,
    Listing,
    State,
    Upstream,
    on_clock,
    on_poll,
    on_upstream_refused,
    plan_set_status,
)
from proxy.providers.base import Poll, PollState, Refusal, Sms
from proxy.store.activations import decode, encode

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


class TestRetryBySmsPosition:
    """Issue 12, point 4: after setStatus 3 an SMS is new by its position, never by its text."""

    def test_vak_same_code_listed_again_is_new(self) -> None:
        """VAK-SMS `all` after setStatus=send: ["1234","1234"] (seeds/003:1199-1205)."""
        waiting = plan_set_status(with_code("1234"), 3, NOW + 2, Listing.EVERY).after
        assert (waiting.listed, waiting.retries, waiting.retry_code) == (1, 1, "1234")
        assert on_poll(waiting, received("1234"), NOW + 3).state is State.WAIT_RETRY
        act = on_poll(waiting, received("1234", "1234"), NOW + 4)
        assert act.state is State.CODE_RECEIVED
        assert [m.code for m in act.messages] == ["1234", "1234"]
        assert act.listed == 2 and act.retry_code is None

    def test_smspva_same_code_after_clear_is_new(self) -> None:
        """SMSPVA's clearsms deletes the SMS shown (seeds/000:120-126): what `sms` shows next
        came after the retry, whatever its code."""
        waiting = plan_set_status(with_code("1234"), 3, NOW + 2, Listing.CLEARED).after
        assert (waiting.listed, waiting.retries) == (0, 1)
        assert on_poll(waiting, Poll(PollState.WAITING), NOW + 3) == waiting
        act = on_poll(waiting, received("1234"), NOW + 4, listing=Listing.CLEARED)
        assert act.state is State.CODE_RECEIVED
        assert [m.code for m in act.messages] == ["1234", "1234"]

    @pytest.mark.parametrize("listing", list(Listing))
    def test_three_retries_with_the_same_code(self, listing: Listing) -> None:
        upstream = Upstream_(listing)
        act = make()
        upstream.sms("1234")
        act = on_poll(act, upstream.poll(), NOW + 1, listing=listing)
        for n in range(3):
            plan = plan_set_status(act, 3, NOW + 2 + n, listing)
            assert plan.upstream is Upstream.REQUEST_ANOTHER
            upstream.clear()
            act = on_poll(plan.after, upstream.poll(), NOW + 2 + n, listing=listing)
            assert act.state is State.WAIT_RETRY and act.retry_code == "1234"
            upstream.sms("1234")
            act = on_poll(act, upstream.poll(), NOW + 2 + n, basis=act.retries, listing=listing)
            assert act.state is State.CODE_RECEIVED and act.last_code == "1234"
        assert [m.code for m in act.messages] == ["1234"] * 4
        assert act.retries == 3

    def test_two_sms_in_one_poll_are_both_kept(self) -> None:
        """VAK lists two new codes at once: each is an SMS (a webhook each), the newest shown."""
        waiting = plan_set_status(with_code("1111"), 3, NOW + 2).after
        act = on_poll(waiting, received("1111", "2222", "2222"), NOW + 3)
        assert [m.code for m in act.messages] == ["1111", "2222", "2222"]
        assert act.last_code == "2222"

    def test_sms_before_the_retry_is_not_its_answer(self) -> None:
        """An SMS that came with no setStatus 3 before it is passed over, and still does not
        answer the retry asked after it (VAK keeps listing it)."""
        act = on_poll(with_code("1111"), received("1111", "2222"), NOW + 2)
        assert act.state is State.CODE_RECEIVED and act.last_code == "1111"
        assert act.listed == 2
        waiting = plan_set_status(act, 3, NOW + 3).after
        assert waiting.listed == 2
        assert on_poll(waiting, received("1111", "2222"), NOW + 4).state is State.WAIT_RETRY
        done = on_poll(waiting, received("1111", "2222", "2222"), NOW + 5)
        assert done.state is State.CODE_RECEIVED and len(done.messages) == 2

    def test_poll_asked_before_the_retry_is_stale(self) -> None:
        """SMSPVA: a poll sent before clearsms, read after it, still shows the cleared SMS."""
        act = with_code("1234")
        waiting = plan_set_status(act, 3, NOW + 2, Listing.CLEARED).after
        stale = on_poll(waiting, received("1234"), NOW + 3, basis=act.retries)
        assert stale.state is State.WAIT_RETRY
        fresh = on_poll(waiting, received("1234"), NOW + 4, basis=waiting.retries)
        assert fresh.state is State.CODE_RECEIVED

    def test_stale_poll_still_reports_expiry(self) -> None:
        waiting = plan_set_status(with_code(), 3, NOW + 2).after
        assert on_poll(waiting, Poll(PollState.EXPIRED), NOW + 3, basis=0).state is (State.FINISHED)

    def test_refused_retry_changes_nothing(self) -> None:
        """VAK waitSMS / SMSPVA 405 on the retry: no retry counted, the mark unchanged."""
        act = with_code()
        plan = plan_set_status(act, 3, NOW + 2, Listing.CLEARED)
        refused = on_upstream_refused(plan, act, Refusal.WAIT_SMS, NOW + 2)
        assert refused.after == act and refused.after.retries == 0


class TestRecordsBeforeListed:
    """Records written before `listed`/`retries` existed load, and retry by position too."""

    def fields_of_old_code(self, act: Activation) -> dict[str, str]:
        fields = encode(act)
        del fields["listed"], fields["retries"]
        return fields

    def test_round_trip(self) -> None:
        act = on_poll(plan_set_status(with_code("1"), 3, NOW + 2).after, received("1", "1"), NOW)
        assert decode(act.id, encode(act)) == act

    def test_old_record_loads_unknown(self) -> None:
        old = decode(1, self.fields_of_old_code(with_code("1234")))
        assert (old.listed, old.retries, old.last_code) == (None, 0, "1234")
        assert decode(1, encode(old)) == old  # saved again, still unknown

    @pytest.mark.parametrize("listing", list(Listing))
    def test_old_record_awaiting_a_retry(self, listing: Listing) -> None:
        """Its mark is what the upstream must have listed: none after SMSPVA's clear, one per
        code on VAK-SMS; the same code again then answers it."""
        asked = plan_set_status(with_code("1234"), 3, NOW + 2, listing).after
        old = decode(1, self.fields_of_old_code(asked))
        assert old.state is State.WAIT_RETRY and old.listed is None
        still: tuple[str, ...] = () if listing is Listing.CLEARED else ("1234",)
        if still:
            assert on_poll(old, received(*still), NOW + 3, listing=listing) == old
        act = on_poll(old, received(*still, "1234"), NOW + 4, basis=0, listing=listing)
        assert act.state is State.CODE_RECEIVED
        assert [m.code for m in act.messages] == ["1234", "1234"]

    @pytest.mark.parametrize("listing", list(Listing))
    def test_old_record_with_a_code_retries(self, listing: Listing) -> None:
        old = decode(1, self.fields_of_old_code(with_code("1234")))
        waiting = plan_set_status(old, 3, NOW + 2, listing).after
        assert waiting.listed == (0 if listing is Listing.CLEARED else 1)
        assert waiting.retries == 1


class Upstream_:
    """A model of how each upstream lists an order's SMS."""

    def __init__(self, listing: Listing) -> None:
        self.listing = listing
        self.codes: list[str] = []  # every SMS, oldest first
        self.cleared = 0  # SMS deleted by clearsms (CLEARED)

    def sms(self, code: str) -> None:
        self.codes.append(code)

    def clear(self) -> None:
        if self.listing is Listing.CLEARED:
            self.cleared = len(self.codes)

    def poll(self) -> Poll:
        if self.listing is Listing.EVERY:  # VAK getSmsCode&all: every code (003:1199-1205)
            shown = self.codes
        else:  # SMSPVA sms: the latest SMS, none after clearsms until the next (000:74-126)
            shown = self.codes[-1:] if len(self.codes) > self.cleared else []
        if not shown:
            return Poll(PollState.WAITING)
        return Poll(PollState.RECEIVED, tuple(Sms(code=c) for c in shown))


def retry(act: Activation, upstream: Upstream_, now: float) -> tuple[Activation, bool]:
    """setStatus 3 as proxy.actions performs it (EVERY: the list counted first); whether the
    retry was sent upstream."""
    listing = upstream.listing
    plan = plan_set_status(act, 3, now, listing)
    if plan.upstream is Upstream.REQUEST_ANOTHER and listing is Listing.EVERY:
        act = on_poll(act, upstream.poll(), now, basis=act.retries, listing=listing)
        plan = plan_set_status(act, 3, now, listing)
    sent = plan.upstream is Upstream.REQUEST_ANOTHER
    if sent:
        upstream.clear()
    return plan.after, sent


EVENTS = st.lists(
    st.one_of(
        st.tuples(st.just("sms"), st.sampled_from(["1234", "5678"])),
        st.just(("retry", "")),
        st.just(("poll", "")),
        st.just(("stale", "")),  # a poll asked now, read after a retry
    ),
    max_size=25,
)


@given(listing=st.sampled_from(list(Listing)), events=EVENTS)
def test_code_shown_exactly_when_an_sms_came_after_the_last_retry(
    listing: Listing, events: list[tuple[str, str]]
) -> None:
    """Over random SMS (two codes, repeated at will), retries and polls, on both listings:
    after each poll the activation shows a code exactly when an SMS arrived after the last
    retry sent upstream, and that code is one of those SMS."""
    upstream, act, now = Upstream_(listing), make(), NOW
    since: list[str] = []  # codes of the SMS since the last retry sent upstream
    for kind, code in events:
        now += 1
        if kind == "sms":
            upstream.sms(code)
            since.append(code)
            continue
        poll, basis = upstream.poll(), act.retries
        if kind in ("retry", "stale"):
            act, sent = retry(act, upstream, now)
            since = [] if sent else since
            if kind == "retry":
                continue
        act = on_poll(act, poll, now, basis=basis, listing=listing)
        if kind == "stale":
            poll = upstream.poll()
            act = on_poll(act, poll, now, basis=act.retries, listing=listing)
        assert (act.state is State.CODE_RECEIVED) == bool(since), (act, since)
        if since:
            assert act.last_code in since
        elif act.retries:
            assert act.state is State.WAIT_RETRY and act.retry_code in ("1234", "5678")
        else:
            assert act.state is State.WAIT_CODE
        assert len(act.messages) <= len(upstream.codes)
