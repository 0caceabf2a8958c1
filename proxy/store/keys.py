"""Every Redis key name, one function each. Keys are Redis-Cluster-safe: the part in braces
(the hash tag) keeps together the keys that one operation touches."""

from __future__ import annotations


class Keys:
    """Key builders under one configurable prefix (several deployments may share a Redis)."""

    def __init__(self, prefix: str = "smsproxy") -> None:
        self.prefix = prefix

    def id_counter(self) -> str:
        """INCR counter for activation ids, shared by every provider and replica (in the
        intents' slot, so an id and its purchase intent are made in one script)."""
        return f"{self.prefix}:{{intents}}:ids"

    def activation(self, activation_id: int) -> str:
        """Hash: the activation record."""
        return f"{self.prefix}:act:{{{activation_id}}}"

    def activation_lock(self, activation_id: int) -> str:
        """Lock serialising changes to one activation across replicas."""
        return f"{self.prefix}:act:{{{activation_id}}}:lock"

    def poll_claim(self, activation_id: int) -> str:
        """SET NX PX key: whoever sets it may poll the upstream for this activation now."""
        return f"{self.prefix}:act:{{{activation_id}}}:poll"

    def tenant_active(self, tenant: str) -> str:
        """Sorted set of the tenant's active activation ids, scored by creation time."""
        return f"{self.prefix}:tenant:{{{tenant}}}:active"

    def tenant_history(self, tenant: str, hour: int) -> str:
        """String: "id,id,..." of the tenant's activations created in one hour (Unix hours),
        for getHistory. An APPEND costs ~18 B per activation where a sorted set entry costs
        ~120; each hour's key expires with the retention."""
        return f"{self.prefix}:tenant:{{{tenant}}}:history:{hour}"

    def tenant_order(self, tenant: str, order_id: str) -> str:
        """getNumberV2 orderId -> activation id (idempotency is per tenant, seeds/004:137)."""
        return f"{self.prefix}:tenant:{{{tenant}}}:order:{order_id}"

    def upstream_order(self, provider: str, order_id: str) -> str:
        """Provider order id -> our activation id."""
        return f"{self.prefix}:upstream:{{{provider}}}:{order_id}"

    def intents(self) -> str:
        """Sorted set of purchases started but not yet recorded (id scored by start time)."""
        return f"{self.prefix}:{{intents}}"

    def intent(self, activation_id: int) -> str:
        """Hash: what a started purchase asked for, kept until it is recorded or reconciled."""
        return f"{self.prefix}:{{intents}}:{activation_id}"

    def offers(self, provider: str, country: str, operator: str) -> str:
        """Hash: one upstream's counts and prices in one country (service -> count|price|at)."""
        return f"{self.prefix}:offers:{{{provider}}}:{country}:{operator}"

    def offers_lock(self, provider: str, country: str, operator: str, service: str) -> str:
        """Single-flight lock: one replica fetches an entry while the others wait or serve stale."""
        return f"{self.prefix}:offers:{{{provider}}}:{country}:{operator}:lock:{service}"

    def service_stats(self, service: str) -> str:
        """Hash: numbers issued and codes received per country for one service."""
        return f"{self.prefix}:stats:{{{service}}}"

    def health(self, provider: str) -> str:
        """Hash: one provider account's circuit breaker and last observations."""
        return f"{self.prefix}:health:{{{provider}}}"

    def health_probe(self, provider: str) -> str:
        """SET NX key: the one request let through while a breaker is half-open."""
        return f"{self.prefix}:health:{{{provider}}}:probe"

    def rate_window(self, provider: str, second: int) -> str:
        """Counter of one account's upstream requests in one second, across replicas."""
        return f"{self.prefix}:rate:{{{provider}}}:{second}"

    def pair_cooldown(self, provider: str, service: str, country: str) -> str:
        """Set while a provider keeps having no numbers for one service and country."""
        return f"{self.prefix}:cool:{{{provider}}}:{service}:{country}"

    def pair_misses(self, provider: str, service: str, country: str) -> str:
        """Counter of recent "no numbers" for one provider, service and country."""
        return f"{self.prefix}:miss:{{{provider}}}:{service}:{country}"

    def provider_stats(self, provider: str, hour: int) -> str:
        """Hash: numbers issued, codes received, cancels per service:country in one hour."""
        return f"{self.prefix}:pstats:{{{provider}}}:{hour}"

    def active_all(self) -> str:
        """Sorted set of every active activation id, scored by when it is next due a poll."""
        return f"{self.prefix}:{{active}}"

    def poller_lease(self) -> str:
        """Which replica runs the background poller now (renewed while it lives)."""
        return f"{self.prefix}:{{active}}:lease"

    def ready_probe(self) -> str:
        """A short-lived key readiness writes: the primary takes writes (in the lease's slot,
        which the poller also needs)."""
        return f"{self.prefix}:{{active}}:ready"

    def changes(self) -> str:
        """Pub/sub channel: ids of activations just written (replicas drop cached copies)."""
        return f"{self.prefix}:changes"

    def rent(self, rent_id: int) -> str:
        """Hash: one rental (its id comes from the activation id counter)."""
        return f"{self.prefix}:rent:{{{rent_id}}}"

    def rent_poll_claim(self, rent_id: int, what: str = "poll") -> str:
        """SET NX PX key: whoever sets it may ask the upstream about this rental now (`poll`
        its SMS, `wake` check whether the number must be woken)."""
        return f"{self.prefix}:rent:{{{rent_id}}}:{what}"

    def tenant_rents(self, tenant: str) -> str:
        """Sorted set of the tenant's rental ids, scored by creation time (getRentList)."""
        return f"{self.prefix}:tenant:{{{tenant}}}:rents"

    def webhook_queue(self) -> str:
        """Sorted set of webhook deliveries still owed, scored by when each is due."""
        return f"{self.prefix}:{{hooks}}"

    def webhook(self, delivery_id: str) -> str:
        """Hash: one webhook delivery (URL, body, tenant, attempts so far)."""
        return f"{self.prefix}:{{hooks}}:{delivery_id}"

    def rents_watched(self) -> str:
        """Sorted set of active rentals with a webhook, scored by when each is next due a poll
        (the poller sees their SMS even when the client never asks)."""
        return f"{self.prefix}:{{active}}:rents"

    def rent_intents(self) -> str:
        """Sorted set of rentals asked upstream but not yet recorded (id by start time)."""
        return f"{self.prefix}:{{rentintents}}"

    def tally_minute(self, minute: int) -> str:
        """Hash: the operator page's counts in one minute (Unix minutes), every replica's."""
        return f"{self.prefix}:{{tally}}:m:{minute}"

    def tally_hour(self, hour: int) -> str:
        """Hash: the same counts in one hour (Unix hours)."""
        return f"{self.prefix}:{{tally}}:h:{hour}"

    def tally_errors(self) -> str:
        """Hash: per upstream error group, the last one's time and message (JSON)."""
        return f"{self.prefix}:{{tally}}:errors"

    def tally_sequence(self, process: str) -> str:
        """String: the last flush of one process's counts that landed (it expires with the
        hour buckets, after the process is gone)."""
        return f"{self.prefix}:{{tally}}:seq:{process}"
