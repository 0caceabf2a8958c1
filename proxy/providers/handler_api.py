"""Any SMS-Activate-compatible service (`/stubs/handler_api.php`), its quirks read from a profile.

The adapter speaks the protocol of seeds 002/004 and lets the service's quirk profile
(proxy/providers/profiles) say what differs: action spellings, setStatus numbers and separate
actions, the country and service numbering, the phone form, the JSON envelopes, alias words.

It is handed SMS-Activate codes (the `handler_api` kind maps every code to itself,
proxy/mapping/codes.py IDENTITY_KINDS) and translates them with the profile's `numbering`, so
one kind serves every profile. Order listings are translated back, so that a purchase whose
answer was lost is recognised by SMS-Activate service and country.

Errors are read in both shapes for every profile, because the witnesses of one service disagree
(HeroSMS: the `herosms` PyPI client reads an HTTP status and a JSON `{"title","details"}`,
rlgrpe/sms-solvers reads bare words on HTTP 200; herosms.toml's note): a bare word on any
status, the profile's JSON object, and SMS-Activate's own `{"status":"error","error":W}`
(seeds/004:102). Every alias word is read as the canonical word it means.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from proxy.config import ProviderSettings
from proxy.protocol.words import Word
from proxy.providers.base import (
    Balance,
    BuyRequest,
    MultiBuyRequest,
    Offer,
    OutcomeUnknown,
    Poll,
    PollState,
    ProviderAnswerInvalid,
    ProviderError,
    ProviderRefused,
    Purchase,
    Refusal,
    RentMessage,
    RentOrder,
    RentPurchase,
    RentState,
    Sms,
    UpstreamOrder,
)
from proxy.providers.http import retry_after_of, send
from proxy.providers.profiles import Profile, load_profile

# The canonical error words (seeds/002, 004) as our refusals. Words for a lost answer or a server
# fault are not here: they raise OutcomeUnknown (SERVER_WORDS).
REFUSALS: dict[str, Refusal] = {
    Word.BAD_KEY: Refusal.BAD_KEY,  # seeds/004:52
    Word.NO_BALANCE: Refusal.NO_BALANCE,  # 004:126
    Word.NO_NUMBERS: Refusal.NO_NUMBERS,  # 004:125
    Word.BAD_SERVICE: Refusal.BAD_SERVICE,  # 004:127
    Word.WRONG_SERVICE: Refusal.BAD_SERVICE,  # 004:303
    Word.NO_ACTIVATION: Refusal.ORDER_NOT_FOUND,  # 004:217
    Word.BAD_STATUS: Refusal.BAD_STATUS,  # 004:218
    # "cannot cancel in the first 2 minutes" (004:215): not now, later yes, as VAK's waitSMS
    Word.EARLY_CANCEL_DENIED: Refusal.WAIT_SMS,
    # An id that is no number (004:222): we send only ids the service gave us, so the request
    # itself is wrong; not ORDER_NOT_FOUND, which would close the activation as refunded.
    Word.WRONG_ACTIVATION_ID: Refusal.BAD_REQUEST,
    Word.BAD_ACTION: Refusal.BAD_REQUEST,  # 004:53
    Word.WRONG_MAX_PRICE: Refusal.NO_NUMBERS,  # none at our price (we send no maxPrice)
    Word.ORDER_ALREADY_EXISTS: Refusal.BAD_REQUEST,
    Word.WRONG_EXCEPTION_PHONE: Refusal.BAD_REQUEST,
    Word.OPERATORS_NOT_FOUND: Refusal.BAD_OPERATOR,
}
# seeds/002:96 "sql-server error": the service failed after the request reached it; a purchase
# may have happened.
SERVER_WORDS = frozenset({Word.ERROR_SQL})
# Not an error: getActiveActivations with none open (seeds/004:102), in any error shape.
EMPTY_WORDS = frozenset({Word.NO_ACTIVATIONS})
TOO_MANY = 429  # the emulator's and common gateways' slow-down; no profiled service documents one
# getStatus (seeds/004:227-232)
WAITING_WORDS = frozenset({Word.STATUS_WAIT_CODE, Word.STATUS_WAIT_RESEND})


def _snippet(text: str) -> str:
    return repr(text[:80])


class Answer:
    """One upstream answer: HTTP status, text, and its JSON where it is JSON."""

    __slots__ = ("body", "empty", "status", "text")

    def __init__(self, status: int, text: str) -> None:
        self.status = status
        self.text = text.strip()
        self.empty = False  # an EMPTY_WORDS answer: nothing to list
        self.body: Any = None
        if self.text[:1] in ("{", "["):
            try:
                self.body = json.loads(self.text)
            except ValueError:
                self.body = None


def error_word(profile: Profile, answer: Answer) -> tuple[str, str] | None:
    """(canonical word, word as sent) when the answer is an error of the protocol or of the
    profile's service, in either shape; None when it is no error word."""
    candidates: list[str] = []
    body = answer.body
    if isinstance(body, dict):
        field = profile.errors.word_field
        if field and isinstance(body.get(field), str):
            candidates.append(body[field])
        if body.get("status") == "error" and isinstance(body.get("error"), str):
            candidates.append(body["error"])  # seeds/004:102
    elif body is None and answer.text:
        candidates.append(answer.text)
    for raw in candidates:
        word = profile.canonical_word(raw)
        if word is not None and (word in REFUSALS or word in SERVER_WORDS or word in EMPTY_WORDS):
            return word, raw
    return None


class HandlerApiProvider:
    """Adapter for one account of an SMS-Activate-compatible service, under its profile."""

    def __init__(self, settings: ProviderSettings, client: httpx.AsyncClient) -> None:
        self.profile: Profile = load_profile(settings.profile or "canonical")
        self.name = settings.name
        self.kind = "handler_api"
        self.currency = settings.currency
        self.poll_interval = settings.poll_interval
        self.order_lifetime = settings.order_lifetime
        self.national_phones = self.profile.numbering.phone == "national"
        # getPrices&country= lists every service of a country; a service without getPrices
        # "lists" none (answered here, nothing sent), so one listing is kept per country either
        # way. (A per-pair {} would reach proxy/catalog/cache.py _store as an empty HSET.)
        self.lists_whole_country = True
        self.sells_multi_service = False  # getMultiServiceNumber is not translated (yet)
        self.reissues_numbers = False  # nor getExtraActivation
        self.max_rent_hours = 0  # no profile's rent is SMS-Activate's (herosms.toml note)
        self.extends_rents = False
        self._url = settings.base_url.rstrip("/") + self.profile.handler_path
        self._key = settings.api_key
        self._client = client
        self._timeout = httpx.Timeout(
            settings.read_timeout, connect=settings.connect_timeout, pool=settings.connect_timeout
        )

    # -- the wire -------------------------------------------------------------------------------

    async def _call(self, action: str, wire: str | None = None, **params: str) -> Answer:
        """One GET; raises for every error answer, returns the rest for the caller to parse.

        `action` is SMS-Activate's name (logs, metrics); `wire` the service's own action
        where it is not the profile's spelling of `action` (a separate cancel)."""
        if wire is None and not self.profile.supports(action):  # nothing sent
            raise ProviderRefused(
                self.name, Refusal.BAD_REQUEST, f"{action}: not served ({self.profile.name})"
            )
        name = wire or self.profile.actions.wire_name(action)
        response = await send(
            self._client,
            provider=self.name,
            endpoint=action,
            method="GET",
            url=self._url,
            timeouts=self._timeout,
            params={"api_key": self._key, "action": name, **params},
        )
        try:
            answer = Answer(response.status_code, response.text)
        except UnicodeDecodeError as exc:
            raise self._unusable(action, response.status_code, "not text") from exc
        self._raise_for_error(action, answer, retry_after_of(response))
        return answer

    def _unusable(self, action: str, status: int, what: str) -> ProviderError:
        """A sent request without a usable answer: a 5xx may come after the service has sold
        (OutcomeUnknown); anything else is an answer we cannot read."""
        if status >= 500:
            return OutcomeUnknown(self.name, f"{action}: HTTP {status}: {what}")
        return ProviderAnswerInvalid(self.name, f"{action}: HTTP {status}: {what}")

    def _raise_for_error(self, action: str, answer: Answer, retry_after: float | None) -> None:
        found = error_word(self.profile, answer)
        if found is not None:
            word, raw = found
            if word in EMPTY_WORDS:
                answer.empty = True
                return
            detail = f"{action}: {raw}" if raw == word else f"{action}: {raw} ({word})"
            if word in SERVER_WORDS:
                raise OutcomeUnknown(self.name, detail, retry_after)
            raise ProviderRefused(self.name, REFUSALS[word], detail, retry_after)
        if answer.status == TOO_MANY:
            raise ProviderRefused(
                self.name, Refusal.RATE_LIMITED, f"{action}: HTTP 429", retry_after
            )
        if answer.status >= 500:
            raise OutcomeUnknown(
                self.name, f"{action}: HTTP {answer.status}: {_snippet(answer.text)}", retry_after
            )
        if answer.status not in (200, 204):
            raise ProviderAnswerInvalid(
                self.name, f"{action}: HTTP {answer.status}: {_snippet(answer.text)}"
            )

    def _invalid(self, action: str, answer: Answer) -> ProviderAnswerInvalid:
        return ProviderAnswerInvalid(self.name, f"{action}: {_snippet(answer.text)}")

    # -- account and purchase -------------------------------------------------------------------

    async def balance(self) -> Balance:
        """getBalance: ACCESS_BALANCE:<amount> (seeds/004:51), in the account's currency;
        refused unsent where the profile lacks it (SMSPVA's Alternative API)."""
        answer = await self._call("getBalance")
        word, _, amount = answer.text.partition(":")
        if word != Word.ACCESS_BALANCE:
            raise self._invalid("getBalance", answer)
        try:
            return Balance(Decimal(amount.strip()), self.currency)
        except InvalidOperation as exc:
            raise self._invalid("getBalance", answer) from exc

    def _their_country(self, country: str) -> str | None:
        if not (country.isascii() and country.isdigit()):
            return None
        return self.profile.numbering.service_country(int(country))

    async def buy(self, request: BuyRequest) -> Purchase:
        """getNumber: ACCESS_NUMBER:<id>:<phone> (seeds/004:140-142). A service or country the
        profile's numbering lacks is refused before anything is sent."""
        service = self.profile.numbering.service_code(request.service)
        if service is None:
            raise ProviderRefused(self.name, Refusal.BAD_SERVICE, f"{request.service}: not sold")
        country = self._their_country(request.country)
        if country is None:
            raise ProviderRefused(self.name, Refusal.BAD_COUNTRY, f"{request.country}: not sold")
        params = {"service": service, "country": country}
        if request.operator:
            params["operator"] = request.operator
        answer = await self._call("getNumber", **params)
        parts = answer.text.split(":")
        # A sale we cannot read may still be a sale: ProviderAnswerInvalid, which the
        # dispatcher treats as an unknown outcome (never as a refusal).
        if len(parts) != 3 or parts[0] != Word.ACCESS_NUMBER or not parts[1]:
            raise self._invalid("getNumber", answer)
        phone = "".join(ch for ch in parts[2] if ch.isdigit())
        if not phone:
            raise self._invalid("getNumber", answer)
        return Purchase(order_id=parts[1].strip(), phone=phone)

    async def offers(
        self, country: str, service: str | None, operator: str | None = None
    ) -> dict[str, Offer]:
        """getPrices&country= (seeds/002:524-538): {country: {service: {cost, count}}}, the whole
        country, keyed back by SMS-Activate code. Without getPrices nothing is listed: no price
        is known (the pair is still bought: candidates come from the code map, not the catalog)."""
        if not self.profile.supports("getPrices"):
            return {}
        theirs = self._their_country(country)
        if theirs is None:
            return {}
        answer = await self._call("getPrices", country=theirs)
        body = answer.body
        if not isinstance(body, dict):
            raise self._invalid("getPrices", answer)
        listing = body.get(theirs, {} if not body else None)
        if not isinstance(listing, dict):
            raise self._invalid("getPrices", answer)
        offers: dict[str, Offer] = {}
        for code, item in listing.items():
            ours = self.profile.numbering.canonical_service(str(code))
            if ours is None or not isinstance(item, dict):
                continue
            try:
                count = item.get("count")
                offers[ours] = Offer(
                    None if count is None else int(count), Decimal(str(item["cost"]))
                )
            except (KeyError, TypeError, ValueError, InvalidOperation):
                continue  # one malformed entry does not spoil the country's list
        return offers

    async def buy_multi(self, request: MultiBuyRequest) -> list[tuple[str, Purchase]]:
        """getMultiServiceNumber is not translated: refused as SMSPVA refuses it."""
        raise ProviderRefused(self.name, Refusal.BAD_SERVICE, "no multi-service numbers")

    async def reissue(self, service: str, phone: str) -> Purchase:
        """getExtraActivation is not translated: refused as SMSPVA refuses a re-activation."""
        raise ProviderRefused(self.name, Refusal.BAD_REQUEST, "no re-activation")

    # -- activations ----------------------------------------------------------------------------

    async def poll(self, order_id: str) -> Poll:
        """getStatus (seeds/004:227-232). The latest SMS only, as SMSPVA's `sms`: after a
        retry STATUS_WAIT_RETRY:<old> is no new SMS (WAITING), the next STATUS_OK is."""
        answer = await self._call("getStatus", id=order_id)
        word, _, code = answer.text.partition(":")
        if word in WAITING_WORDS or word == Word.STATUS_WAIT_RETRY:
            return Poll(PollState.WAITING)
        if word == Word.STATUS_CANCEL:
            return Poll(PollState.CANCELLED)
        if word == Word.STATUS_OK and code.strip():
            return Poll(PollState.RECEIVED, (Sms(code=code.strip()),))
        raise self._invalid("getStatus", answer)

    async def _set_status(self, meaning: str, order_id: str, expected: Word) -> None:
        """setStatus with the profile's number for `meaning`, else its separate action."""
        rules = self.profile.set_status
        number = rules.number(meaning)
        if number is not None:
            answer = await self._call("setStatus", id=order_id, status=str(number))
        elif meaning in rules.separate:
            answer = await self._call(
                f"setStatus:{meaning}", wire=rules.separate[meaning], id=order_id
            )
        else:  # nothing sent: the service has no such step (its profile's set_status.lacks)
            raise ProviderRefused(self.name, Refusal.BAD_STATUS, f"no {meaning} on this service")
        if answer.status == 204 or (not answer.text and rules.answer == "empty"):
            return  # the profile's empty answer (set_status.answer = "empty")
        if answer.text.split(":", 1)[0] != expected:
            raise self._invalid("setStatus", answer)

    async def request_another(self, order_id: str) -> None:
        """setStatus 3 (seeds/004:193): ACCESS_RETRY_GET."""
        await self._set_status("retry", order_id, Word.ACCESS_RETRY_GET)

    async def cancel(self, order_id: str) -> None:
        """setStatus 8 (seeds/004:195), or the profile's cancel: ACCESS_CANCEL, refunded."""
        await self._set_status("cancel", order_id, Word.ACCESS_CANCEL)

    async def block(self, order_id: str) -> None:
        """SMS-Activate has no "bad number" status; a cancel gives the number back, refunded."""
        await self.cancel(order_id)

    async def open_orders(self) -> list[UpstreamOrder] | None:
        """getActiveActivations (seeds/004:77-102) where the service has it, in the profile's
        envelope (any of the three is read); None where it has not: nothing is bought elsewhere
        after an unknown outcome (the VAK-SMS rule)."""
        if not self.profile.supports("getActiveActivations"):
            return None
        answer = await self._call("getActiveActivations")
        if answer.empty or answer.text in ("", "null"):
            return []  # grizzly-sms-client parse.py:224-229: null reads as none
        body = answer.body
        items = body
        if isinstance(body, dict):
            items = body.get("activeActivations", body.get("data"))
        if not isinstance(items, list):
            raise self._invalid("getActiveActivations", answer)
        return [order for item in items if (order := self._listed(item)) is not None]

    def _listed(self, item: Any) -> UpstreamOrder | None:
        """One listed activation in SMS-Activate codes; None for one that cannot be ours."""
        if not isinstance(item, dict) or item.get("activationId") in (None, ""):
            return None
        numbering = self.profile.numbering
        service = numbering.canonical_service(str(item.get("serviceCode", "")))
        country = numbering.canonical_country(str(item.get("countryCode", "")))
        phone = "".join(ch for ch in str(item.get("phoneNumber", "")) if ch.isdigit())
        if service is None or country is None or not phone:
            return None
        cost: Decimal | None
        try:
            cost = Decimal(str(item["activationCost"]))
        except (KeyError, InvalidOperation):
            cost = None
        purchase = Purchase(order_id=str(item["activationId"]), phone=phone, cost=cost)
        return UpstreamOrder(purchase, service, str(country))

    # -- rent: no profile's rent is SMS-Activate's (max_rent_hours 0) ----------------------------

    async def rent_offers(self, country: str, hours: int) -> dict[str, Offer]:
        return {}

    async def rent(
        self, service: str, country: str, hours: int, operator: str | None = None
    ) -> RentPurchase:
        raise ProviderRefused(self.name, Refusal.BAD_REQUEST, "rent is not translated")

    async def rent_orders(self) -> list[RentOrder] | None:
        return None

    async def rent_state(self, order_id: str) -> RentState:
        return RentState.UNLISTED

    async def rent_activate(self, order_id: str) -> None:
        return None

    async def rent_messages(self, order_id: str) -> tuple[RentMessage, ...]:
        raise ProviderRefused(self.name, Refusal.ORDER_NOT_FOUND, "rent is not translated")

    async def rent_prolong(self, order_id: str, hours: int) -> float:
        raise ProviderRefused(self.name, Refusal.BAD_REQUEST, "rent is not translated")

    async def rent_end(self, order_id: str) -> None:
        raise ProviderRefused(self.name, Refusal.ORDER_NOT_FOUND, "rent is not translated")

    async def aclose(self) -> None:
        return None


__all__ = ["REFUSALS", "HandlerApiProvider", "error_word"]
