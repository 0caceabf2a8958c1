"""The activation state machine: pure functions from (activation, event) to the next activation.

No I/O here. The handlers ask this module what to do (`plan_set_status`), perform the upstream
call it names, and store the activation it returns. SMS-Activate's rules (seeds/002:339-371,
seeds/004:191-232, SPEC-NOTES "setStatus") map onto the upstreams like this:

    client action        state before          upstream call            answer / state after
    setStatus 1          any active state      none                     ACCESS_READY, ready flag
    setStatus 3          CODE_RECEIVED         request_another          ACCESS_RETRY_GET,
                                                                        WAIT_RETRY, retries + 1,
                                                                        listed kept (EVERY)
                                                                        or 0 (CLEARED)
    setStatus 3          WAIT_RETRY            none (already asked)     ACCESS_RETRY_GET
    setStatus 6          CODE_RECEIVED         none (no finish call)    ACCESS_ACTIVATION, FINISHED
    setStatus 6          WAIT_CODE (no SMS)    cancel (refund)          ACCESS_ACTIVATION, CANCELLED
    setStatus 6          WAIT_RETRY            none                     ACCESS_ACTIVATION, FINISHED
    setStatus 8 / -1     WAIT_CODE             cancel                   ACCESS_CANCEL, CANCELLED
    setStatus 8 / -1     CANCELLED             none (idempotent)        ACCESS_CANCEL
    anything else                              none                     BAD_STATUS
    poll: SMS past       WAIT_CODE,            -                        CODE_RECEIVED, each such SMS
          `listed`       WAIT_RETRY                                     appended, whatever its code
    poll: SMS past       CODE_RECEIVED         -                        listed moves up; the code
          `listed`                                                      shown stays until another 3
    poll asked before    any active            -                        its SMS are ignored (stale:
      the last retry                                                    it may show a cleared SMS)
    poll/clock: expired  no code yet           -                        CANCELLED (STATUS_CANCEL)
    poll/clock: expired  a code was received   -                        FINISHED

An SMS is new by its position, never by its text (issue 12, point 4: VAK-SMS listed
`["1234","1234"]` after setStatus 3 and the second 1234 is the new SMS). `listed` counts the
upstream's SMS already taken into account; what a retry resets it to depends on the `Listing`.
For EVERY the handler applies a poll made right before the retry is sent, so that `listed` is
the list's length when the retry is asked (an SMS that came just before it is not its answer).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from proxy.providers.base import Poll, PollState, Refusal, Sms


class State(enum.StrEnum):
    """Where an activation is; the first three are "active"."""

    WAIT_CODE = "wait_code"
    CODE_RECEIVED = "code_received"
    WAIT_RETRY = "wait_retry"
    FINISHED = "finished"
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        return self not in (State.FINISHED, State.CANCELLED)


class Upstream(enum.StrEnum):
    """The upstream call a transition needs before it may take effect."""

    NONE = "none"
    REQUEST_ANOTHER = "request_another"
    CANCEL = "cancel"


class Listing(enum.StrEnum):
    """How an upstream's poll lists an order's SMS: what a retry's new SMS looks like there."""

    # VAK-SMS getSmsCode with `all`: every code ever received, oldest first (seeds/003:1199-1205);
    # setStatus=send (003:1176-1181) clears nothing. The retry is answered once the list grows
    # past the length it had when the retry was asked, e.g. ["1234"] -> ["1234","1234"].
    EVERY = "every"
    # SMSPVA `sms`: the current SMS only (seeds/000:74-100). clearsms "deletes the current SMS to
    # receive a new one on the same number" (000:120-126; the workflow 000:368-375 polls again
    # after it), and `sms` answers 202 until one arrives (proxy/emulators/smspva.py). So
    # after the clear the listing starts again from none: any SMS it shows came after the retry.
    CLEARED = "cleared"


class Answer(enum.StrEnum):
    """setStatus answers (seeds/004:210-221), kept here so the machine stays protocol-pure."""

    ACCESS_READY = "ACCESS_READY"
    ACCESS_RETRY_GET = "ACCESS_RETRY_GET"
    ACCESS_ACTIVATION = "ACCESS_ACTIVATION"
    ACCESS_CANCEL = "ACCESS_CANCEL"
    BAD_STATUS = "BAD_STATUS"
    ERROR_SQL = "ERROR_SQL"


@dataclass(frozen=True, slots=True)
class Message:
    """One code we accepted, with its text and when we saw it (unix seconds)."""

    code: str
    text: str | None
    at: float


@dataclass(frozen=True, slots=True)
class Activation:
    """One number sold to one tenant, pinned to the provider that sold it."""

    id: int
    tenant: str
    provider: str
    order_id: str
    phone: str
    service: str
    country: int
    operator: str | None
    cost: Decimal | None
    currency: str
    created: float
    expires: float
    state: State = State.WAIT_CODE
    ready: bool = False
    messages: tuple[Message, ...] = ()
    retry_code: str | None = None  # the code STATUS_WAIT_RETRY repeats; never compared
    updated: float = 0.0
    # How many of the SMS the upstream's poll lists are taken into account (shown or passed
    # over): the poll's SMS at positions from `listed` on are new. None on a record written
    # before smsproxy kept it (see `taken`).
    listed: int | None = 0
    retries: int = 0  # setStatus 3 calls the upstream accepted; a poll asked before one is stale

    @property
    def last_code(self) -> str | None:
        return self.messages[-1].code if self.messages else None

    def taken(self, listing: Listing) -> int:
        """`listed`; for an older record, what it must have been: none after a clear (CLEARED,
        awaiting a retry), else one upstream SMS per code accepted."""
        if self.listed is not None:
            return self.listed
        if listing is Listing.CLEARED and self.state is State.WAIT_RETRY:
            return 0
        return len(self.messages)

    def evolve(self, now: float, **changes: object) -> Activation:
        return dataclasses.replace(self, updated=now, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Plan:
    """What setStatus must do: call `upstream`, then store `after` and answer `answer`."""

    upstream: Upstream
    answer: Answer
    after: Activation


CANCEL_STATUSES = frozenset({8, -1})  # seeds/000:363: -1 is SMSPVA's own handler's cancel


def on_clock(act: Activation, now: float) -> Activation:
    """Close an activation whose upstream order lifetime has passed."""
    if not act.state.active or now < act.expires:
        return act
    return _expire(act, now)


def _expire(act: Activation, now: float) -> Activation:
    # A code was delivered, so the number was used and paid: it is done, not cancelled.
    if act.messages:
        return act.evolve(now, state=State.FINISHED)
    return act.evolve(now, state=State.CANCELLED)


def on_refund(act: Activation, now: float) -> Activation:
    """The number was given back upstream because no SMS came in time: cancelled."""
    if act.state is not State.WAIT_CODE or act.messages:
        return act
    return act.evolve(now, state=State.CANCELLED)


def on_poll(
    act: Activation,
    poll: Poll,
    now: float,
    *,
    basis: int | None = None,
    listing: Listing = Listing.EVERY,
) -> Activation:
    """Apply what the upstream reported about the order.

    `basis` is the `retries` of the record the poll was asked for, when known: a poll asked
    before a retry that has since reached the upstream may show the SMS that retry cleared
    (SMSPVA), so the SMS it lists are ignored; the next poll sees the upstream as it is now.
    `listing` (how the upstream lists SMS) matters only for records older than `listed`.
    """
    if not act.state.active:
        return act
    if poll.state in (PollState.EXPIRED, PollState.CANCELLED):
        return _expire(act, now)
    if poll.state is not PollState.RECEIVED or not poll.messages:
        return on_clock(act, now)
    if basis is not None and basis != act.retries:
        return on_clock(act, now)
    count, taken = len(poll.messages), act.taken(listing)
    if act.state is State.CODE_RECEIVED:
        # An SMS with no setStatus 3 before it: the code shown stands, but the SMS is counted,
        # so that a later retry waits for one that comes after it.
        return on_clock(act if count <= taken else act.evolve(now, listed=count), now)
    fresh = poll.messages[taken:]
    if not fresh:
        return on_clock(act, now)
    return _accept(act, fresh, count, now)


def _accept(act: Activation, fresh: Sequence[Sms], listed: int, now: float) -> Activation:
    received = tuple(Message(code=sms.code, text=sms.text, at=now) for sms in fresh)
    return act.evolve(
        now,
        state=State.CODE_RECEIVED,
        messages=(*act.messages, *received),
        retry_code=None,
        listed=listed,
    )


def plan_set_status(
    act: Activation, status: int, now: float, listing: Listing = Listing.EVERY
) -> Plan:
    """Decide the upstream call, answer and next state for setStatus `status`.

    `listing` is how the activation's upstream lists SMS; it decides where a retry's new SMS
    will appear. EVERY is the safe default: a wrong EVERY waits, a wrong CLEARED would show
    the old SMS as new.
    """
    state = act.state
    if status == 1 and state in (State.WAIT_CODE, State.WAIT_RETRY, State.CODE_RECEIVED):
        return Plan(Upstream.NONE, Answer.ACCESS_READY, act.evolve(now, ready=True))
    if status == 3:
        if state is State.CODE_RECEIVED:
            after = act.evolve(
                now,
                state=State.WAIT_RETRY,
                retry_code=act.last_code,
                listed=0 if listing is Listing.CLEARED else act.taken(listing),
                retries=act.retries + 1,
            )
            return Plan(Upstream.REQUEST_ANOTHER, Answer.ACCESS_RETRY_GET, after)
        if state is State.WAIT_RETRY:
            return Plan(Upstream.NONE, Answer.ACCESS_RETRY_GET, act)
    if status == 6:
        if state in (State.CODE_RECEIVED, State.FINISHED):
            return Plan(
                Upstream.NONE, Answer.ACCESS_ACTIVATION, act.evolve(now, state=State.FINISHED)
            )
        if state is State.WAIT_RETRY:
            # seeds/002:369-371, 004:207-208: "for status 3: 6 confirms the code and completes".
            # (The footnote at 004:196 says "back to waiting"; client libraries such as
            # aiosmsactivate send 3 after every code and then 6 to finish, so we complete.)
            return Plan(
                Upstream.NONE, Answer.ACCESS_ACTIVATION, act.evolve(now, state=State.FINISHED)
            )
        if state is State.WAIT_CODE and not act.messages:
            # seeds/004:196: "preparation" -> deleted and marked as an error; refund it upstream.
            return Plan(
                Upstream.CANCEL, Answer.ACCESS_ACTIVATION, act.evolve(now, state=State.CANCELLED)
            )
    if status in CANCEL_STATUSES:
        if state is State.WAIT_CODE and not act.messages:
            return Plan(
                Upstream.CANCEL, Answer.ACCESS_CANCEL, act.evolve(now, state=State.CANCELLED)
            )
        if state is State.CANCELLED:
            return Plan(Upstream.NONE, Answer.ACCESS_CANCEL, act)
    return Plan(Upstream.NONE, Answer.BAD_STATUS, act)


def on_upstream_refused(plan: Plan, before: Activation, refusal: Refusal, now: float) -> Plan:
    """Turn an upstream refusal of the planned call into the answer and state that fit."""
    if refusal in (Refusal.ORDER_NOT_FOUND, Refusal.ORDER_EXPIRED):
        # The order is gone upstream (expired or closed): nothing more is paid for it.
        gone = _expire(before, now)
        if plan.upstream is Upstream.CANCEL and gone.state is State.CANCELLED:
            return Plan(Upstream.NONE, plan.answer, gone)
        return Plan(Upstream.NONE, Answer.BAD_STATUS, gone)
    # VAK smsReceived / waitSMS and SMSPVA refusals: the upstream will not do it now
    # (seeds/002:363-367 -> BAD_STATUS). The activation stays as it was.
    return Plan(Upstream.NONE, Answer.BAD_STATUS, before)
