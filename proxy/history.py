"""getHistory: the tenant's own activations, served from the records smsproxy keeps in Redis.

Neither upstream is asked: the records are ours, kept `redis.retention_days` after each order
ends, and they hold everything the seed's entry shows (seeds/004:273-283).
"""

from __future__ import annotations

from proxy import lifecycle
from proxy.config import TenantSettings
from proxy.protocol import answers
from proxy.protocol.answers import Answer
from proxy.protocol.requests import HISTORY_OFFSET_MAX, GetHistory
from proxy.store.activations import ActivationStore


async def get_history(
    store: ActivationStore, tenant: TenantSettings, request: GetHistory, now: float
) -> Answer:
    """One page, newest first; an order past its lifetime shows as it has ended."""
    if request.offset >= HISTORY_OFFSET_MAX:
        return answers.history([])
    found = await store.history(
        tenant.name, request.start, request.end, request.offset, request.limit, now
    )
    entries = [answers.history_entry(lifecycle.on_clock(act, now)) for act in found]
    return answers.history(entries)
