"""Every Lua script's keys share one hash slot, so each runs on Redis Cluster as on one server."""

from __future__ import annotations

from redis.crc import key_slot

from proxy.store.keys import Keys


def slots(*keys: str) -> set[int]:
    return {key_slot(key.encode()) for key in keys}


def test_the_purchase_records_scripts_stay_in_one_slot() -> None:
    keys = Keys("smsproxy")
    # INDEX_FOR_TENANT: the tenant's active set and its hour of history
    assert len(slots(keys.tenant_active("alice"), keys.tenant_history("alice", 498745))) == 1
    # PROVIDER_EVENT: the provider's hourly stats and an order's mapping
    stats = keys.provider_stats("smspva", 498745)
    assert len(slots(stats, keys.upstream_order("smspva", "42018228"))) == 1
    # BEGIN_PURCHASE and DROP_INTENT: the intents' index and one intent
    assert len(slots(keys.intents(), keys.intent(17))) == 1
    # ... and different tenants or providers may live on different nodes
    assert len(slots(keys.tenant_active("alice"), keys.tenant_active("bob"))) == 2
