"""Render answers: bare words, `WORD:arg` texts and the JSON shapes of seeds 002/004.

Text answers carry no trailing newline and no spaces (SPEC-NOTES: `ACCESS_BALANCE:<amount>`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from proxy.lifecycle import Activation, State
from proxy.protocol.words import Word

# ISO 4217 numeric codes, for the `currency` fields (seeds/004:96, 144).
ISO_4217_NUMERIC = {
    "USD": 840,
    "RUB": 643,
    "EUR": 978,
    "GBP": 826,
    "CNY": 156,
    "KZT": 398,
    "UAH": 980,
    "INR": 356,
    "TRY": 949,
    "BRL": 986,
}

# SMS activations only (seeds/004:112: activationType 0 = SMS).
VERIFICATION_SMS = 0


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer: a text or a JSON body, and the word that names it in logs and metrics."""

    word: str
    text: str | None = None
    json: Any = None


def word(w: Word, *args: object) -> Answer:
    """`WORD` or `WORD:arg1:arg2`; a bare word is made once (answers are immutable), and the
    common single argument (a code, a balance) is joined without a generator."""
    bare = BARE[w]
    if not args:
        return bare
    if len(args) == 1:
        return Answer(word=bare.word, text=bare.word + ":" + str(args[0]))
    return Answer(word=bare.word, text=":".join([bare.word, *map(str, args)]))


BARE = {w: Answer(word=w.value, text=w.value) for w in Word}
_STATUS_WAIT_CODE_ANSWER = BARE[Word.STATUS_WAIT_CODE]
_STATUS_CANCEL_ANSWER = BARE[Word.STATUS_CANCEL]


def json_answer(body: Any, name: str) -> Answer:
    return Answer(word=name, json=body)


def money(amount: Decimal) -> str:
    """Two decimals, as SMS-Activate shows balances and costs."""
    return str(amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def timestamp(unix: float) -> str:
    """`YYYY-MM-DD HH:MM:SS` in UTC (seeds/004:147)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(unix))


def currency_number(code: str) -> int:
    return ISO_4217_NUMERIC.get(code.upper(), 0)


def balance(amount: Decimal) -> Answer:
    return word(Word.ACCESS_BALANCE, money(amount))


def access_number(act: Activation) -> Answer:
    return word(Word.ACCESS_NUMBER, act.id, act.phone)


# Enum members as module globals for the poll path: on Python 3.11 each `State.X` or `Word.X`
# is a descriptor call, and getStatus compares a few per request.
_WAIT_CODE, _WAIT_RETRY, _CANCELLED = State.WAIT_CODE, State.WAIT_RETRY, State.CANCELLED
_STATUS_WAIT_RETRY, _STATUS_OK = Word.STATUS_WAIT_RETRY, Word.STATUS_OK


def status(act: Activation) -> Answer:
    """The getStatus text for the activation's state (seeds/004:227-232)."""
    state = act.state
    if state is _WAIT_CODE:
        return _STATUS_WAIT_CODE_ANSWER
    if state is _WAIT_RETRY:
        return word(_STATUS_WAIT_RETRY, act.retry_code or "")
    if state is _CANCELLED:
        return _STATUS_CANCEL_ANSWER
    return word(_STATUS_OK, act.last_code or "")


def full_sms(act: Activation) -> Answer:
    """getFullSms (seeds/002:1144-1162): `FULL_SMS:<the latest SMS's whole text>` (the code
    where the upstream gives no text: VAK-SMS); STATUS_WAIT_CODE while none, or no further one
    after setStatus 3, has come; STATUS_CANCEL. The three answers SMS-Activate's Java library,
    which the seed documents, reads (SMSActivateStatusNumber); its errors NO_ACTIVATION,
    BAD_KEY."""
    if act.state is State.CANCELLED:
        return word(Word.STATUS_CANCEL)
    if act.state in (State.WAIT_CODE, State.WAIT_RETRY) or not act.messages:
        return word(Word.STATUS_WAIT_CODE)
    latest = act.messages[-1]
    return word(Word.FULL_SMS, latest.text or latest.code)


def number_v2(act: Activation, operator: str | None) -> Answer:
    """getNumberV2's object, with the seed's types (seeds/004:140-149, SPEC-NOTES)."""
    body = {
        "activationId": act.id,
        "phoneNumber": act.phone,
        "activationCost": float(money(act.cost or Decimal(0))),
        "currency": currency_number(act.currency),
        "countryCode": str(act.country),
        "canGetAnotherSms": "1",
        "activationTime": timestamp(act.created),
        "activationOperator": operator or "any",
    }
    return json_answer(body, "ACCESS_NUMBER_V2")


def status_v2(act: Activation) -> Answer:
    """getStatusV2: bare STATUS_CANCEL when cancelled, else the seed's object (004:243-259).

    While no (new) code is there, `sms` is null; `call` is always null, as no upstream serves
    call verification. The seed leaves the waiting shape open (SPEC-NOTES); null is what client
    libraries parse (herosms types both as optional objects with real datetimes).
    """
    if act.state is State.CANCELLED:
        return word(Word.STATUS_CANCEL)
    shows_code = act.state in (State.CODE_RECEIVED, State.FINISHED) and act.messages
    latest = act.messages[-1] if shows_code else None
    sms = None
    if latest is not None:
        sms = {
            "dateTime": timestamp(latest.at),
            "code": latest.code,
            "text": latest.text or latest.code,
        }
    body = {"verificationType": VERIFICATION_SMS, "sms": sms, "call": None}
    return json_answer(body, "STATUS_V2_" + ("OK" if latest else "WAIT"))


# getActiveActivations' activationStatus is undefined in the seeds (SPEC-NOTES); ours:
# "1" ready confirmed, "3" waiting for another SMS, "4" waiting for the first SMS or code in.
ACTIVE_STATUS = {State.WAIT_CODE: "4", State.CODE_RECEIVED: "4", State.WAIT_RETRY: "3"}


# getHistory's `status` is not defined either (seeds/002:453 and 004:280 show "4"); ours adds
# to those codes the setStatus numbers that end an activation (seeds/004:194-195):
# "6" completed, "8" cancelled (given back, nothing paid).
ENDED_STATUS = {State.FINISHED: "6", State.CANCELLED: "8"}


def activation_status(act: Activation) -> str:
    """The activation's status code, as getActiveActivations and getHistory show it."""
    if act.state in ENDED_STATUS:
        return ENDED_STATUS[act.state]
    return "1" if act.ready and act.state is State.WAIT_CODE else ACTIVE_STATUS[act.state]


def active_activation(act: Activation, country_name: str) -> dict[str, Any]:
    """One entry of getActiveActivations (seeds/004:81-98; activationId is a string there)."""
    codes = [m.code for m in act.messages]
    texts = [m.text or m.code for m in act.messages]
    state = activation_status(act)
    return {
        "activationId": str(act.id),
        "serviceCode": act.service,
        "phoneNumber": act.phone,
        "activationCost": float(money(act.cost or Decimal(0))),
        "activationStatus": state,
        "smsCode": codes or None,
        "smsText": f"[{', '.join(texts)}]" if texts else None,
        "activationTime": timestamp(act.created),
        "discount": "0.00",
        "repeated": "0",
        "countryCode": str(act.country),
        "countryName": country_name,
        "canGetAnotherSms": "1",
        "currency": currency_number(act.currency),
    }


def active_activations(entries: list[dict[str, Any]]) -> Answer:
    """The list, or NO_ACTIVATIONS as the JSON error object the official library expects.

    seeds/004:102 names the word; seeds/002:1247's Python example reads it as
    `activations['error']`, and the `smsactivate` library json-decodes every answer here.
    """
    if not entries:
        body = {"status": "error", "error": Word.NO_ACTIVATIONS.value}
        return json_answer(body, Word.NO_ACTIVATIONS.value)
    return json_answer({"status": "success", "activeActivations": entries}, "ACTIVE_ACTIVATIONS")


def history_entry(act: Activation) -> dict[str, Any]:
    """One getHistory entry (seeds/004:273-283), `id` a number and `status` a string.

    `cost` is what the activation cost only once it is completed: "0 for active ones"
    (004:279), "0 if not completed" (002:452); a cancelled one was refunded. `sms` is a string
    holding the JSON list of the texts received, as the seed's (garbled) example quotes it.
    """
    texts = [m.text or m.code for m in act.messages]
    paid = act.cost if act.state is State.FINISHED and act.cost is not None else Decimal(0)
    return {
        "id": act.id,
        "date": timestamp(act.created),
        "phone": act.phone,
        "sms": json.dumps(texts, ensure_ascii=False),
        "cost": float(money(paid)),
        "status": activation_status(act),
        "currency": currency_number(act.currency),
    }


def history(entries: list[dict[str, Any]]) -> Answer:
    """The JSON array of getHistory (seeds/002:447, 004:273); `[]` when there is none."""
    return json_answer(entries, "HISTORY")
