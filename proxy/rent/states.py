"""Whether rented numbers must be woken, from one listing of the account shared by all of them.

SMSPVA tells a rental's activation state only in `orders`, a list of the whole account
(seeds/001:125-156). Asked once a minute for each watched rental, that is one full listing per
rental per minute; here the rentals of one provider share a listing for `SHARE_SECONDS`, and
callers that ask while it is being fetched wait for the same request. A rental missing from a
shared listing (bought after it was taken) is looked up in a fresh one before it is called
unlisted. A provider that lists no orders (VAK-SMS) answers for each rental itself.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable

from proxy.providers.base import Provider, RentState

SHARE_SECONDS = 10.0  # a woken number stays awake 10-30 min (001:39-40): 10 s old is fresh


Listing = tuple[float, dict[str, RentState] | None]  # when it was asked for, order id -> state


class RentStates:
    """Per provider, the last listing and the one being fetched."""

    def __init__(
        self, share: float = SHARE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.share = share
        self.clock = clock
        self._listings: dict[str, Listing] = {}
        self._fetching: dict[str, asyncio.Future[Listing]] = {}
        self._unlisted: set[str] = set()  # providers that list no orders

    async def of(self, provider: Provider, order_id: str) -> RentState:
        """The rental's state; ProviderError as the listing (or the provider) raises it."""
        if provider.name not in self._unlisted:
            taken, listing = await self._listing(provider)
            if listing is not None and order_id not in listing:
                taken, listing = await self._listing(provider, newer_than=taken)
            if listing is not None:
                return listing.get(order_id, RentState.UNLISTED)
            self._unlisted.add(provider.name)
        return await provider.rent_state(order_id)

    async def _listing(self, provider: Provider, newer_than: float | None = None) -> Listing:
        """A listing shared for `share` seconds; with `newer_than`, one asked for after then."""
        kept = self._listings.get(provider.name)
        if kept is not None:
            if newer_than is None and self.clock() - kept[0] < self.share:
                return kept
            if newer_than is not None and kept[0] > newer_than:
                return kept
        pending = self._fetching.get(provider.name)
        if pending is None or newer_than is not None:
            pending = asyncio.ensure_future(self._fetch(provider))
            self._fetching[provider.name] = pending
            pending.add_done_callback(functools.partial(self._done, provider.name))
        return await asyncio.shield(pending)

    async def _fetch(self, provider: Provider) -> Listing:
        asked = self.clock()
        orders = await provider.rent_orders()
        listing = None if orders is None else {order.order_id: order.state for order in orders}
        self._listings[provider.name] = (asked, listing)
        return asked, listing

    def _done(self, name: str, fetch: asyncio.Future[Listing]) -> None:
        if self._fetching.get(name) is fetch:
            del self._fetching[name]
        if not fetch.cancelled():
            fetch.exception()  # retrieved: every waiter has it raised already
