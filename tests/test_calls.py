"""The call actions answer their seed sections' words (no upstream places or takes calls)."""

from __future__ import annotations

from proxy.calls import answer_call
from proxy.protocol.requests import CreateTaskForCall, GetIncomingCallStatus, GetOutgoingCalls


def test_incoming_call_status_is_an_invalid_id() -> None:
    """seeds/002:522: no activation here is a call activation."""
    assert answer_call(GetIncomingCallStatus()).text == "INVALID_ACTIVATION_ID"


def test_no_outgoing_call_can_be_created() -> None:
    """seeds/002:689: the activation's number cannot place a call."""
    assert answer_call(CreateTaskForCall()).text == "WRONG_ACTIVATION_ID"


def test_there_are_no_outgoing_calls() -> None:
    """seeds/002:709: the object of call requests, empty."""
    answer = answer_call(GetOutgoingCalls())
    assert (answer.text, answer.json) == (None, {})
