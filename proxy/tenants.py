"""Client api keys -> tenants, compared in constant time; keys are held only as SHA-256."""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from proxy.config import TenantSettings, hash_key


class Tenants:
    """Looks up the tenant a presented api key belongs to."""

    def __init__(self, tenants: Iterable[TenantSettings]) -> None:
        self._tenants = tuple(tenants)
        # Keys already proven, by the key as presented: a client sends the same key with every
        # request, and a SHA-256 with a comparison per tenant is then paid once, not per poll.
        # Only keys that matched are kept, so it holds at most one entry per tenant; a wrong
        # key is hashed and compared every time.
        self._known: dict[str, TenantSettings] = {}

    def authenticate(self, api_key: str | None) -> TenantSettings | None:
        """The key's tenant, or None; every configured key is compared, match or not."""
        if not api_key:
            return None
        known = self._known.get(api_key)
        if known is not None:
            return known
        digest = hash_key(api_key)
        found: TenantSettings | None = None
        for tenant in self._tenants:
            if hmac.compare_digest(digest, tenant.key_sha256):
                found = tenant
        if found is not None and len(self._known) < len(self._tenants):
            self._known[api_key] = found
        return found
