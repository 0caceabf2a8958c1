"""Client api keys -> tenants, compared in constant time; keys are held only as SHA-256."""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from proxy.config import TenantSettings, hash_key


class Tenants:
    """Looks up the tenant a presented api key belongs to."""

    def __init__(self, tenants: Iterable[TenantSettings]) -> None:
        self._tenants = tuple(tenants)

    def authenticate(self, api_key: str | None) -> TenantSettings | None:
        """The key's tenant, or None; every configured key is compared, match or not."""
        if not api_key:
            return None
        digest = hash_key(api_key)
        found: TenantSettings | None = None
        for tenant in self._tenants:
            if hmac.compare_digest(digest, tenant.key_sha256):
                found = tenant
        return found
