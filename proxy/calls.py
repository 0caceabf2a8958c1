"""The call actions: no upstream here places or receives calls, so each answers its seed's word.

smsproxy sells SMS activations only (`activationType` 1 and 2 are refused at purchase), so no
activation id of ours is a call activation and no call request can ever exist.
"""

from __future__ import annotations

from proxy.protocol import answers
from proxy.protocol.answers import Answer
from proxy.protocol.requests import (
    CallRequest,
    CreateTaskForCall,
    GetIncomingCallStatus,
    GetOutgoingCalls,
)
from proxy.protocol.words import Word


def answer_call(request: CallRequest) -> Answer:
    """The seed's own answer for "there is no such call activation or call request"."""
    match request:
        case GetIncomingCallStatus():
            # seeds/002:522, 004:318: the section's only error besides BAD_KEY
            return answers.word(Word.INVALID_ACTIVATION_ID)
        case CreateTaskForCall():
            # seeds/002:689: "invalid activation ID"; CALL_TASK_ALREADY_EXIST and
            # NUMBER_NOT_EXIST (002:687, 691) speak of tasks and called numbers, not of ours
            return answers.word(Word.WRONG_ACTIVATION_ID)
        case GetOutgoingCalls():
            # seeds/002:709: an object keyed by call request id; the section names no error,
            # and there are no requests: the empty object
            return answers.json_answer({}, "OUTGOING_CALLS")
