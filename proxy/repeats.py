"""Numbers beyond one activation: one number for several services (getMultiServiceNumber), the
same number again (getExtraActivation / checkExtraActivation), and additional services.

Only VAK-SMS sells one number for two services (seeds/003:858-865) and re-issues a number that
received a code (prolongNumber, 003:867-874); SMSPVA has neither (SPEC-NOTES, rental section).
Additional services need call forwarding, which no upstream here offers: the seed's own word.
"""

from __future__ import annotations

import structlog

from proxy.config import TenantSettings
from proxy.dispatch import Dispatcher, PurchaseFailed
from proxy.lifecycle import Activation
from proxy.protocol import answers
from proxy.protocol.answers import Answer
from proxy.protocol.requests import (
    CheckExtraActivation,
    GetAdditionalService,
    GetExtraActivation,
    GetMultiServiceNumber,
    GetNumber,
    RepeatRequest,
)
from proxy.protocol.words import Word
from proxy.providers.base import (
    MultiBuyRequest,
    OutcomeUnknown,
    Provider,
    ProviderAnswerInvalid,
    ProviderError,
    ProviderRefused,
    ProviderUnavailable,
    Purchase,
    Refusal,
)

log = structlog.get_logger("repeats")


def _for(parent: Activation) -> GetNumber:
    """A purchase like the parent's, for the price lookup and the new record."""
    return GetNumber(parent.service, parent.country, (), None, v2=False, order_id=None)


def _single(request: GetMultiServiceNumber, service: str) -> GetNumber:
    return GetNumber(service, request.country, request.operators, None, v2=False, order_id=None)


async def multi_service(
    dispatcher: Dispatcher, tenant: TenantSettings, request: GetMultiServiceNumber
) -> list[Activation]:
    """Buy one number for every service, from the first provider that sells such numbers."""
    codes = dispatcher.codes
    if any(codes.service(s) is None for s in request.services) or len(set(request.services)) != len(
        request.services
    ):
        raise PurchaseFailed(Word.BAD_SERVICE, "unknown or repeated service")
    refusals: list[Refusal] = []
    tried = 0
    for provider, operator in _in_order(dispatcher, tenant, request):
        country = codes.provider_country(provider.kind, request.country)
        services = [codes.provider_service(provider.kind, s) for s in request.services]
        # seeds/003:858: "the same number for two services" - exactly two
        two = len(request.services) == 2
        if not provider.sells_multi_service or not two or country is None or None in services:
            continue  # this provider cannot sell that: the next is tried (issue "Rental")
        tried += 1
        buy = MultiBuyRequest(tuple(s for s in services if s), country, operator)
        try:
            return await _buy_multi(dispatcher, tenant, request, provider, buy)
        except ProviderRefused as exc:
            refusals.append(exc.refusal)
        except (OutcomeUnknown, ProviderAnswerInvalid) as exc:
            raise PurchaseFailed(Word.ERROR_SQL, "purchase outcome unknown") from exc
        except ProviderUnavailable:
            continue
    if not tried or (all(r is Refusal.BAD_SERVICE for r in refusals) and refusals):
        raise PurchaseFailed(Word.BAD_SERVICE, "no provider sells these services on one number")
    if refusals and all(r is Refusal.NO_BALANCE for r in refusals):
        raise PurchaseFailed(Word.NO_BALANCE)
    raise PurchaseFailed(Word.NO_NUMBERS)


def _in_order(
    dispatcher: Dispatcher, tenant: TenantSettings, request: GetMultiServiceNumber
) -> list[tuple[Provider, str | None]]:
    """The tenant's providers, each with its name for the first asked operator it carries
    (`operator`, seeds/002:273, 004:171; VAK-SMS getNumber's `operator`, 003:863): those that
    can honour one first, then the others without one, as getNumber falls back to "the first
    suitable operator" (seeds/004:134)."""
    honouring: list[tuple[Provider, str | None]] = []
    fallback: list[tuple[Provider, str | None]] = []
    lookup = dispatcher.catalogs.operators.provider_operator
    for name in tenant.providers:
        provider = dispatcher.providers[name]
        names = (lookup(provider.kind, request.country, asked) for asked in request.operators)
        operator = next(filter(None, names), None)
        if request.operators and operator is None:
            fallback.append((provider, None))
        else:
            honouring.append((provider, operator))
    return honouring + fallback


async def _buy_multi(
    dispatcher: Dispatcher,
    tenant: TenantSettings,
    request: GetMultiServiceNumber,
    provider: Provider,
    buy: MultiBuyRequest,
) -> list[Activation]:
    store = dispatcher.store
    first_id = await store.begin_purchase(
        {"tenant": tenant.name, "provider": provider.name, "service": ",".join(request.services),
         "country": str(request.country), "status": "sending"}
    )  # fmt: skip
    try:
        bought = await _send_multi(provider, buy)
    except (OutcomeUnknown, ProviderAnswerInvalid) as exc:
        await store.update_intent(first_id, {"status": "unknown", "error": str(exc)})
        raise
    except ProviderError:
        await store.drop_intent(first_id)
        raise
    activations = []
    for index, (code, purchase) in enumerate(bought):
        service = (
            dispatcher.codes.service_from_provider(provider.kind, code)
            or request.services[min(index, len(request.services) - 1)]
        )
        single = _single(request, service)
        prices = await dispatcher.catalogs.prices(tenant, single)
        activation_id = first_id if index == 0 else await store.next_id()
        act = dispatcher.activation(
            activation_id, tenant, single, provider, purchase, prices.by_provider.get(provider.name)
        )
        await store.record_purchase(act)
        activations.append(act)
    log.info("multi_service_bought", provider=provider.name, activations=len(activations))
    return activations


async def _send_multi(provider: Provider, buy: MultiBuyRequest) -> list[tuple[str, Purchase]]:
    """buy_multi; an operator the upstream refuses (VAK `noOperator`) -> without one, as
    getNumber falls back to "the first suitable operator" (seeds/004:134)."""
    try:
        return await provider.buy_multi(buy)
    except ProviderRefused as exc:
        if exc.refusal is not Refusal.BAD_OPERATOR or buy.operator is None:
            raise
    return await provider.buy_multi(MultiBuyRequest(buy.services, buy.country))


async def _parent(dispatcher: Dispatcher, tenant: TenantSettings, activation_id: int) -> Activation:
    act = await dispatcher.store.load(activation_id)
    if act is None or act.tenant != tenant.name:
        raise PurchaseFailed(Word.WRONG_ACTIVATION_ID)
    return act


def _reissuer(dispatcher: Dispatcher, parent: Activation) -> tuple[Provider, str]:
    """The provider that can give this number again, and its service code; or the seed's no."""
    provider = dispatcher.providers.get(parent.provider)
    code = dispatcher.codes.provider_service(provider.kind, parent.service) if provider else None
    # seeds/003:1154: only a number that received a code can be had again
    if provider is None or code is None or not provider.reissues_numbers or not parent.messages:
        raise PurchaseFailed(Word.RENEW_ACTIVATION_NOT_AVAILABLE)
    return provider, code


async def extra_activation(
    dispatcher: Dispatcher, tenant: TenantSettings, request: GetExtraActivation
) -> Activation:
    parent = await _parent(dispatcher, tenant, request.activation_id)
    provider, code = _reissuer(dispatcher, parent)
    store = dispatcher.store
    activation_id = await store.begin_purchase(
        {"tenant": tenant.name, "provider": provider.name, "service": parent.service,
         "country": str(parent.country), "status": "sending", "parent": str(parent.id)}
    )  # fmt: skip
    try:
        purchase: Purchase = await provider.reissue(code, parent.phone)
    except ProviderRefused as exc:
        await store.drop_intent(activation_id)
        word = Word.NO_BALANCE if exc.refusal is Refusal.NO_BALANCE else None
        raise PurchaseFailed(word or Word.NEW_ACTIVATION_IMPOSSIBLE, str(exc)) from exc
    except (OutcomeUnknown, ProviderAnswerInvalid) as exc:
        await store.update_intent(activation_id, {"status": "unknown", "error": str(exc)})
        raise PurchaseFailed(Word.ERROR_SQL, "purchase outcome unknown") from exc
    except ProviderError as exc:
        await store.drop_intent(activation_id)
        raise PurchaseFailed(Word.NEW_ACTIVATION_IMPOSSIBLE, str(exc)) from exc
    single = _for(parent)
    prices = await dispatcher.catalogs.prices(tenant, single)
    act = dispatcher.activation(
        activation_id, tenant, single, provider, purchase, prices.by_provider.get(provider.name)
    )
    await store.record_purchase(act)
    return act


async def perform_repeat(
    dispatcher: Dispatcher, tenant: TenantSettings, request: RepeatRequest
) -> Answer:
    """Run one of the repeat actions; PurchaseFailed carries the word to answer."""
    try:
        match request:
            case GetMultiServiceNumber():
                bought = await multi_service(dispatcher, tenant, request)
                # seeds/002:1247, 004:682: [{"phone", "activation", "service"}, ...]
                listing = [
                    {"phone": a.phone, "activation": a.id, "service": a.service} for a in bought
                ]
                return answers.json_answer(listing, "MULTI_SERVICE")
            case GetExtraActivation():
                return answers.access_number(await extra_activation(dispatcher, tenant, request))
            case CheckExtraActivation():
                parent = await _parent(dispatcher, tenant, request.activation_id)
                provider, _ = _reissuer(dispatcher, parent)
                cost = (await dispatcher.catalogs.prices(tenant, _for(parent))).by_provider.get(
                    provider.name
                )
                body = {  # seeds/004:384
                    "status": "success",
                    "cost": float(cost) if cost is not None else 0.0,
                    "service": parent.service,
                    "phone": int(parent.phone),
                    "country": parent.country,
                }
                return answers.json_answer(body, "EXTRA_ACTIVATION")
            case GetAdditionalService():
                await _parent(dispatcher, tenant, request.activation_id)
                # seeds/004:363: only activations bought with forwarding can have one
                return answers.word(Word.WRONG_SECURITY)
    except PurchaseFailed as exc:
        return answers.word(exc.word, *exc.args_)
