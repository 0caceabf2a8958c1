"""The realistic load: bots that buy a number, poll getStatus until the code, finish, repeat.

Each bot is what a typical SMS-Activate client does: getNumber, then getStatus every `poll`
seconds (sleeping *after* each answer, as `while True: get(); sleep(1)` loops do), setStatus 6
once `STATUS_OK:` comes, next number. The first getStatus comes a random part of `poll` after
the number (someone has to type it in): the emulated SMS delay is fixed, and without that
offset every bot would poll at the same phase of its SMS, which real arrival times never do.
Every request's latency and answer word are recorded.
Alongside the bots, a few direct buyers purchase from the emulated upstreams themselves, with
the same client settings at the same moment, so that what getNumber adds over the upstream call
is measured against an upstream under the same machine load. Every other round they buy through
the bare app's relay instead (bare.py): the least any gateway on this stack adds.

Times in activation records are `time.monotonic()`, the clock the emulators stamp SMS with.
"""

from __future__ import annotations

import asyncio
import functools
import random
import ssl
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

SERVICE, COUNTRY = "tg", "0"
# What a direct purchase asks upstream: the same pair as SMS-Activate's (tg, 0), in each
# provider's codes (proxy/mapping/data: tg = SMSPVA opt29 = VAK-SMS tg; country 0 = RU = ru).
DIRECT_SMSPVA_PATH = "/activation/number/RU/opt29"
DIRECT_VAKSMS_PATH = "/api/getNumber/"
WAITING_WORDS = frozenset({"STATUS_WAIT_CODE", "STATUS_WAIT_RETRY", "STATUS_WAIT_RESEND"})


@functools.cache
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context()


def http_client() -> httpx.AsyncClient:
    """The client settings every bot and every direct buyer uses (one client each).

    The TLS context is built once and shared: httpx builds one per client otherwise, about
    50 ms of CPU each here, which would stall the bench's event loop while bots start.
    """
    return httpx.AsyncClient(
        timeout=httpx.Timeout(30.0, connect=10.0),
        headers={"user-agent": "smsproxy-bench"},
        verify=_tls(),
    )


@dataclass(slots=True)
class Recorder:
    """Latencies (seconds) and answer words per action; transport failures are words too."""

    latencies: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    words: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def record(self, action: str, latency: float | None, word: str) -> None:
        """A transport failure counts its word but no latency."""
        self.words[action][word] += 1
        if latency is not None:
            self.latencies[action].append(latency)

    def count(self, action: str) -> int:
        return sum(self.words[action].values())


@dataclass(slots=True)
class BotActivation:
    """One number a bot bought, as the bot saw it (monotonic times)."""

    activation_id: str
    phone: str
    tenant: int
    bought_at: float  # the getNumber request was sent
    number_latency: float
    ok_at: float | None = None  # the first STATUS_OK answer came back
    last_wait_sent: float | None = None  # the last getStatus answered "wait" was sent
    ended_at: float | None = None  # setStatus 6 (or the cleanup) answered
    last_word: str = ""
    left_open: bool = False  # the bots' deadline came first: finish_leftovers handled it


@dataclass(slots=True)
class Purchases:
    """Purchases along one route: latencies per provider of the ones that sold a number."""

    latencies: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    sent: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class Direct:
    """The direct buyers' purchases: straight from the upstream, and through the relay."""

    direct: Purchases = field(default_factory=Purchases)
    relayed: Purchases = field(default_factory=Purchases)

    def sent(self, provider: str) -> int:
        """Upstream purchase requests for `provider`, both routes."""
        return self.direct.sent[provider] + self.relayed.sent[provider]

    def failed(self) -> int:
        return sum(self.direct.failed.values()) + sum(self.relayed.failed.values())


def word_of(text: str) -> str:
    """The protocol word of an answer: `ACCESS_NUMBER:12:79…` -> `ACCESS_NUMBER`."""
    head = text.split(":", 1)[0].strip()
    return head if head and len(head) <= 40 else "UNEXPECTED_BODY"


@dataclass(frozen=True, slots=True)
class Reply:
    """One answer as a client saw it; `latency` is None when no answer came."""

    word: str
    text: str
    latency: float | None


async def call(
    client: httpx.AsyncClient,
    endpoint: str,
    params: dict[str, str],
    recorder: Recorder,
) -> Reply:
    """One SMS-Activate request; transport failures become words (`HTTP_ERROR_…`), not raises."""
    action = params["action"]
    started = time.perf_counter()
    try:
        response = await client.get(endpoint, params=params)
    except httpx.HTTPError as exc:
        reply = Reply(f"HTTP_ERROR_{type(exc).__name__}", "", None)
    else:
        latency = time.perf_counter() - started
        if response.status_code != 200:
            reply = Reply(f"HTTP_{response.status_code}", response.text, latency)
        else:
            reply = Reply(word_of(response.text), response.text, latency)
    recorder.record(action, reply.latency, reply.word)
    return reply


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """Who the bots are and how they behave."""

    endpoint: str  # the handler_api.php URL
    api_keys: Sequence[str]  # bot i uses api_keys[i % len]
    bots: int
    poll: float
    deadline: float  # monotonic: no new request starts after it


async def bot(
    index: int,
    plan: LoadPlan,
    recorder: Recorder,
    activations: list[BotActivation],
) -> None:
    """Buy, poll until the code, finish, repeat until the deadline."""
    tenant = index % len(plan.api_keys)
    key = plan.api_keys[tenant]
    # Start spread over one poll period, as independent clients would.
    await asyncio.sleep(random.uniform(0, plan.poll))
    async with http_client() as client:
        while time.monotonic() < plan.deadline:
            bought_at = time.monotonic()
            params = {"api_key": key, "action": "getNumber", "service": SERVICE,
                      "country": COUNTRY}  # fmt: skip
            reply = await call(client, plan.endpoint, params, recorder)
            if reply.word != "ACCESS_NUMBER" or reply.latency is None:
                await asyncio.sleep(plan.poll)
                continue
            _, activation_id, phone = reply.text.split(":", 2)
            act = BotActivation(activation_id, phone, tenant, bought_at, reply.latency)
            activations.append(act)
            await _follow(client, plan, key, act, recorder)


async def _follow(
    client: httpx.AsyncClient,
    plan: LoadPlan,
    key: str,
    act: BotActivation,
    recorder: Recorder,
) -> None:
    """Poll one activation until its code (then setStatus 6), an end word or the deadline."""
    status = {"api_key": key, "action": "getStatus", "id": act.activation_id}
    pause = random.uniform(0, plan.poll)
    while True:
        await asyncio.sleep(pause)
        pause = plan.poll
        if time.monotonic() >= plan.deadline:
            return
        sent = time.monotonic()
        word = (await call(client, plan.endpoint, status, recorder)).word
        act.last_word = word
        if word in WAITING_WORDS:
            act.last_wait_sent = sent
        if word == "STATUS_OK":
            act.ok_at = time.monotonic()
            finish = {**status, "action": "setStatus", "status": "6"}
            act.last_word = (await call(client, plan.endpoint, finish, recorder)).word
            act.ended_at = time.monotonic()
            return
        if word not in WAITING_WORDS and not word.startswith("HTTP_"):
            act.ended_at = time.monotonic()  # cancelled, expired, unknown: give up on it
            return


async def run_bots(plan: LoadPlan, recorder: Recorder) -> list[BotActivation]:
    """All bots until the deadline; the activations they bought, in purchase order."""
    activations: list[BotActivation] = []
    await asyncio.gather(*(bot(i, plan, recorder, activations) for i in range(plan.bots)))
    return activations


async def finish_leftovers(
    endpoint: str,
    api_keys: Sequence[str],
    activations: Sequence[BotActivation],
    retry_pause: float,
    attempts: int = 3,
) -> Counter[str]:
    """End what the bots left open at the deadline, as a client would: getStatus, then
    setStatus 6 after a code or 8 before one. An 8 refused with BAD_STATUS (the code reached
    the upstream, not yet the proxy) is tried again, getStatus first, after `retry_pause`.

    Nothing keeps polling upstream for them afterwards, and against a real deployment
    (`--url`) the numbers that got no SMS are refunded. Returns "<request> <answer>" counts;
    an activation that none of this ended keeps `ended_at` unset.
    """
    steps: Counter[str] = Counter()
    scratch = Recorder()
    open_ = [act for act in activations if act.ended_at is None]
    async with http_client() as client:

        async def ask(act: BotActivation, action: str, status: str = "") -> str:
            params = {"api_key": api_keys[act.tenant], "action": action, "id": act.activation_id}
            if status:
                params["status"] = status
            word = (await call(client, endpoint, params, scratch)).word
            steps[f"{action}{status} {word}"] += 1
            return word

        async def end(act: BotActivation) -> None:
            act.left_open = True
            for attempt in range(attempts):
                if attempt:
                    await asyncio.sleep(retry_pause)
                if await ask(act, "getStatus") == "STATUS_OK":
                    word = await ask(act, "setStatus", "6")
                else:
                    word = await ask(act, "setStatus", "8")
                if word in ("ACCESS_ACTIVATION", "ACCESS_CANCEL"):
                    act.ended_at = time.monotonic()
                    return

        for start in range(0, len(open_), 16):
            await asyncio.gather(*(end(act) for act in open_[start : start + 16]))
    return steps


@dataclass(frozen=True, slots=True)
class DirectPlan:
    """Direct purchases from the emulated upstreams, under their own account."""

    upstreams: dict[str, str]  # provider -> base URL
    api_key: str
    buyers: int
    pause: float
    deadline: float
    relay_url: str | None = None  # the bare app: its relay buys the same, one hop further


async def direct_buyer(index: int, plan: DirectPlan, direct: Direct) -> None:
    """One SMSPVA and one VAK-SMS purchase per round, pausing between rounds; with a relay,
    rounds alternate between buying directly and through it (odd buyers start relayed)."""
    await asyncio.sleep(random.uniform(0, plan.pause))
    relayed = plan.relay_url is not None and index % 2 == 1
    async with http_client() as client:
        while time.monotonic() < plan.deadline:
            for provider in ("smspva", "vaksms"):
                if relayed and plan.relay_url is not None:
                    base, into = f"{plan.relay_url}/relay/{provider}", direct.relayed
                else:
                    base, into = plan.upstreams[provider], direct.direct
                await direct_once(client, provider, base, plan.api_key, into)
            relayed = plan.relay_url is not None and not relayed
            await asyncio.sleep(plan.pause)


async def direct_once(
    client: httpx.AsyncClient, provider: str, base: str, api_key: str, into: Purchases
) -> None:
    """One purchase from `base` (the upstream, or the relay in front of it) in that provider's
    own API; its latency goes to `into` if a number was sold."""
    into.sent[provider] += 1
    started = time.perf_counter()
    try:
        if provider == "smspva":
            response = await client.get(base + DIRECT_SMSPVA_PATH, headers={"apikey": api_key})
        else:
            params = {"apiKey": api_key, "service": "tg", "country": "ru"}
            response = await client.get(base + DIRECT_VAKSMS_PATH, params=params)
        latency = time.perf_counter() - started
        body = response.json()
    except (httpx.HTTPError, ValueError):
        into.failed[provider] += 1
        return
    sold = isinstance(body, dict) and (
        "idNum" in body or (isinstance(body.get("data"), dict) and "orderId" in body["data"])
    )
    if response.status_code == 200 and sold:
        into.latencies[provider].append(latency)
    else:
        into.failed[provider] += 1


async def run_direct(plan: DirectPlan, direct: Direct) -> None:
    await asyncio.gather(*(direct_buyer(i, plan, direct) for i in range(plan.buyers)))
