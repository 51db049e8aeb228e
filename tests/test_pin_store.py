"""The pin stores and the SessionPins service, one behaviour suite run against memory, SQLite and a real Redis.

The Redis runs are skipped, with the reason, when no `redis-server` binary is installed; otherwise a throwaway
server is started on a free port of 127.0.0.1 for the session, without persistence.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, get_args

import pytest
import redis

from optmod.config import Config, SessionStoreSettings, parse_config
from optmod.features import Features, extract_features
from optmod.pin_stores import (
    PIN_STORES,
    MemoryPinStore,
    PinRecord,
    PinStore,
    PinStoreError,
    PinWrite,
    RedisPinStore,
    SqlitePinStore,
    build_pin_store,
)
from optmod.pin_stores.redis_store import redact_url
from optmod.registry import ModelRegistry, Usage
from optmod.session_pin import STORE_RETRY_S, PinPlan, SessionPins

HARD, SOFT = 300.0, 1800.0
T0 = 1_700_000_000.0


def make_features(**overrides: Any) -> Features:
    return replace(extract_features({"messages": [{"role": "user", "content": "and then?"}]}), **overrides)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_redis(workdir: Path) -> Iterator[str]:
    """A throwaway redis-server on a free port of 127.0.0.1, without persistence; skips the test without one."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server; .ci/run installs it)")
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_redis(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


def wait_for_redis(port: int) -> None:
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.2)
    deadline = time.monotonic() + 10
    try:
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    finally:
        client.close()


StoreFactory = Callable[..., PinStore]
KINDS = ["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)]


@pytest.fixture(params=KINDS)
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    """Builds stores of one kind; stores built with the same `name` share their file, server keys or memory."""
    kind: str = request.param
    url = request.getfixturevalue("redis_url") if kind == "redis" else ""
    run = uuid.uuid4().hex[:8]
    made: dict[str, PinStore] = {}
    stores: list[PinStore] = []

    def make(max_sessions: int = 1000, name: str = "a") -> PinStore:
        builders: dict[str, Callable[[], PinStore]] = {
            "memory": lambda: made.get(name) or MemoryPinStore(max_sessions),
            "sqlite": lambda: SqlitePinStore(tmp_path / f"{name}.sqlite3", max_sessions),
            # A generous timeout: the test machine may be busy, and a timeout here is not what is tested.
            "redis": lambda: RedisPinStore(url, max_sessions, timeout_s=10, prefix=f"test:{run}:{name}:"),
        }
        store = builders[kind]()
        made.setdefault(name, store)
        stores.append(store)
        return store

    yield make
    for store in stores:
        await store.close()


def write(session: str, model: str = "m1", ts: float = T0, savings: float = 0.0, **fields: Any) -> PinWrite:
    return PinWrite(session, model, ts, savings, fields.get("warm", savings > 0), fields.get("ttl_s", SOFT))


# --- store operations -----------------------------------------------------------------------------------------


async def test_a_session_never_written_has_no_pin(make_store: StoreFactory) -> None:
    assert await make_store().get("nobody") is None


async def test_a_written_pin_reads_back(make_store: StoreFactory) -> None:
    store = make_store()
    await store.record(write("s", "m1", ts=T0 + 0.125))
    assert await store.get("s") == PinRecord("m1", T0 + 0.125, 0.0, 0)


async def test_savings_add_up_per_session_and_model(make_store: StoreFactory) -> None:
    store = make_store()
    await store.record(write("s", "m1", savings=0.25))
    await store.record(write("s", "m1", savings=0.5))
    await store.record(write("s", "m1", savings=0.0))  # a cold call moves the pin but adds nothing
    assert await store.get("s") == PinRecord("m1", T0, 0.75, 2)
    await store.record(write("s", "m2", ts=T0 + 1, savings=0.125))
    assert await store.get("s") == PinRecord("m2", T0 + 1, 0.125, 1)
    await store.record(write("s", "m1", ts=T0 + 2))
    assert await store.get("s") == PinRecord("m1", T0 + 2, 0.75, 2)
    assert await store.get("other") is None


async def test_a_drop_applies_only_while_pinned_to_that_model(make_store: StoreFactory) -> None:
    store = make_store()
    await store.record(write("s", "m1"))
    assert not await store.drop("s", "m2")
    assert await store.get("s") is not None
    assert await store.drop("s", "m1")
    assert await store.get("s") is None
    assert not await store.drop("s", "m1")


async def test_a_dropped_session_starts_again_from_nothing(make_store: StoreFactory) -> None:
    store = make_store(max_sessions=3)
    await store.record(write("s", "m1", savings=0.25))
    await store.drop("s", "m1")
    await store.record(write("s", "m1", ts=T0 + 1))
    assert await store.get("s") == PinRecord("m1", T0 + 1, 0.0, 0)
    for index in range(5):  # push "s" out by size, then bring it back
        await store.record(write(f"other{index}", ts=T0 + 2 + index))
    await store.record(write("s", "m1", ts=T0 + 10))
    assert await store.get("s") == PinRecord("m1", T0 + 10, 0.0, 0)


async def test_count_since_counts_recent_sessions(make_store: StoreFactory) -> None:
    store = make_store()
    for index in range(5):
        await store.record(write(f"s{index}", ts=T0 + index))
    assert await store.count_since(T0 + 1.5) == 3
    assert await store.count_since(T0 - 1) == 5


async def test_size_is_bounded_by_evicting_the_oldest(make_store: StoreFactory) -> None:
    store = make_store(max_sessions=20)
    for index in range(35):
        await store.record(write(f"s{index}", ts=T0 + index))
    held = [index for index in range(35) if await store.get(f"s{index}") is not None]
    assert 18 <= len(held) <= 20  # SQLite cuts a tenth below the bound at once
    assert held == list(range(35 - len(held), 35))
    assert await store.count_since(0) == len(held)


async def test_a_pin_is_removed_once_its_ttl_is_over(make_store: StoreFactory) -> None:
    # Real time: Redis expires keys by its own clock.
    store = make_store()
    await store.record(write("old", ts=time.time(), ttl_s=0.1))
    await asyncio.sleep(0.3)
    await store.record(write("new", ts=time.time(), ttl_s=0.1))
    assert await store.get("old") is None
    assert await store.count_since(0) == 1


async def test_concurrent_turns_of_one_session_lose_no_update(make_store: StoreFactory) -> None:
    first, second = make_store(), make_store()
    turns = [store.record(write("s", "m1", savings=0.001)) for _ in range(50) for store in (first, second)]
    await asyncio.gather(*turns)
    pin = await second.get("s")
    assert pin is not None
    assert pin.warm_calls == 100
    assert pin.savings_usd == pytest.approx(0.1)


async def test_concurrent_pins_and_drops_leave_a_consistent_pin(make_store: StoreFactory) -> None:
    store = make_store()
    ops = [store.record(write("s", f"m{i % 3}", ts=T0 + i, savings=0.001)) for i in range(30)]
    ops += [store.drop("s", "m1") for _ in range(10)]
    await asyncio.gather(*ops)
    pin = await store.get("s")
    assert pin is None or pin.model in {"m0", "m1", "m2"}
    await store.record(write("s", "m2", ts=T0 + 99, savings=0.001))
    pin = await store.get("s")
    assert pin is not None
    # A drop forgets the whole session, so how many m2 turns survive depends on the interleaving; torn
    # updates would show as savings that disagree with the count of warm calls.
    assert 1 <= pin.warm_calls <= 11
    assert pin.savings_usd == pytest.approx(pin.warm_calls * 0.001)


# --- SessionPins over each store ------------------------------------------------------------------------------


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_config(**overrides: Any) -> Config:
    model = {"base_url": "http://127.0.0.1:9/v1", "output_usd_per_mtok": 2.0}
    data: dict[str, Any] = {
        "primary_model": "cheap",
        "session_pin_hard_window_s": HARD,
        "session_pin_soft_window_s": SOFT,
        "session_pin_soft_bonus_weight": 0.5,
        "models": [
            {**model, "name": "cheap", "tier": 0, "input_usd_per_mtok": 0.2, "cached_input_usd_per_mtok": 0.02,
             "context_window": 8_000},
            {**model, "name": "wide", "tier": 0, "input_usd_per_mtok": 0.4, "cached_input_usd_per_mtok": 0.04,
             "context_window": 64_000, "supports_vision": True},
            {**model, "name": "smart", "tier": 2, "input_usd_per_mtok": 3.0, "cached_input_usd_per_mtok": 0.3,
             "context_window": 200_000},
        ],
    }  # fmt: skip
    data.update(overrides)
    return parse_config(data)


CONFIG = make_config()
REGISTRY = ModelRegistry(CONFIG.models, CONFIG.primary_model)
CHEAP = REGISTRY["cheap"]


@pytest.fixture
async def pins(make_store: StoreFactory) -> AsyncIterator[tuple[SessionPins, Clock]]:
    clock = Clock()
    service = SessionPins(make_store(), CONFIG, clock=clock)
    yield service, clock


async def plan_after(pins: tuple[SessionPins, Clock], seconds: float, **features: Any) -> PinPlan:
    service, clock = pins
    clock.now = T0 + seconds
    return await service.plan("s", make_features(**features), REGISTRY)


@pytest.mark.parametrize(
    ("seconds", "state"),
    [(HARD - 0.01, "hard"), (HARD + 0.01, "soft"), (SOFT - 0.01, "soft"), (SOFT + 0.01, "fresh")],
)
async def test_phase_boundaries_through_the_store(pins: tuple[SessionPins, Clock], seconds: float, state: str) -> None:
    await pins[0].record_success("s", CHEAP, Usage(prompt_tokens=1_000, completion_tokens=10))
    plan = await plan_after(pins, seconds)
    assert plan.state == state
    assert plan.model == ("cheap" if state == "hard" else None)


async def test_soft_credit_is_the_mean_saving_of_warm_turns(pins: tuple[SessionPins, Clock]) -> None:
    service, _ = pins
    await service.record_success("s", CHEAP, Usage(prompt_tokens=2_000))  # cold: writes the cache
    await service.record_success("s", CHEAP, Usage(prompt_tokens=3_000, cached_tokens=2_000))
    await service.record_success("s", CHEAP, Usage(prompt_tokens=4_000, cached_tokens=3_000))
    plan = await plan_after(pins, HARD + 1)
    saved_per_warm_turn = (2_000 + 3_000) / 2 * (0.2 - 0.02) / 1e6
    assert plan.credits == {"cheap": pytest.approx(0.5 * saved_per_warm_turn)}


async def test_a_failure_of_the_pinned_model_drops_the_pin(pins: tuple[SessionPins, Clock]) -> None:
    service, _ = pins
    await service.record_success("s", CHEAP, Usage())
    await service.record_failure("s", "smart")  # not the pinned model: the pin stays
    assert (await plan_after(pins, 1)).state == "hard"
    await service.record_failure("s", "cheap")
    assert (await plan_after(pins, 2)).state == "fresh"


async def test_an_escape_drops_the_pin_from_the_store(pins: tuple[SessionPins, Clock]) -> None:
    service, _ = pins
    await service.record_success("s", CHEAP, Usage())
    assert (await plan_after(pins, 1, has_images=True, image_count=1)) == PinPlan(
        "evicted_vision", pinned_model="cheap"
    )
    assert await service.store.get("s") is None


async def test_a_model_gone_from_the_pool_evicts_the_pin(pins: tuple[SessionPins, Clock]) -> None:
    service, clock = pins
    await service.record_success("s", CHEAP, Usage())
    clock.now += 1
    smaller = ModelRegistry(CONFIG.models[1:], "wide")
    assert (await service.plan("s", make_features(), smaller)).state == "evicted_missing_model"


async def test_a_hard_pin_outgrown_moves_to_the_closest_wider_model(pins: tuple[SessionPins, Clock]) -> None:
    await pins[0].record_success("s", CHEAP, Usage())
    plan = await plan_after(pins, 1, estimated_tokens=20_000)
    assert plan == PinPlan("rehomed_context", model="wide", pinned_model="cheap")
    assert await pins[0].store.get("s") is None  # if "wide" fails, nothing points back at "cheap"


async def test_active_count_counts_pins_inside_the_soft_window(pins: tuple[SessionPins, Clock]) -> None:
    service, clock = pins
    for index in range(3):
        clock.now = T0 + index * 500
        await service.record_success(f"s{index}", CHEAP, Usage())
    assert await service.active_count() == 3
    clock.now = T0 + SOFT + 1
    assert await service.active_count() == 2


async def test_requests_without_a_session_are_never_pinned(pins: tuple[SessionPins, Clock]) -> None:
    service, _ = pins
    await service.record_success(None, CHEAP, Usage())
    await service.record_failure(None, "cheap")
    assert await service.plan(None, make_features(), REGISTRY) == PinPlan("fresh")
    assert await service.active_count() == 0


async def test_with_both_windows_at_zero_nothing_is_stored() -> None:
    store = MemoryPinStore(10)
    service = SessionPins(store, make_config(session_pin_hard_window_s=0, session_pin_soft_window_s=0))
    await service.record_success("s", CHEAP, Usage(prompt_tokens=100, cached_tokens=50))
    assert await store.get("s") is None
    assert (await service.plan("s", make_features(), REGISTRY)).state == "fresh"


async def test_two_services_on_one_store_agree(make_store: StoreFactory) -> None:
    clock = Clock()
    first = SessionPins(make_store(name="shared"), CONFIG, clock=clock)
    second = SessionPins(make_store(name="shared"), CONFIG, clock=clock)
    await first.record_success("s", REGISTRY["smart"], Usage())
    clock.now += 10
    assert (await second.plan("s", make_features(), REGISTRY)).model == "smart"


# --- building, describing, failing ----------------------------------------------------------------------------


def test_every_configurable_store_kind_builds() -> None:
    kinds = get_args(SessionStoreSettings.model_fields["kind"].annotation)
    assert set(kinds) == set(PIN_STORES)


async def test_build_pin_store_puts_a_relative_sqlite_path_under_the_config_folder(tmp_path: Path) -> None:
    store = build_pin_store(SessionStoreSettings(sqlite_path="logs/pins.db"), tmp_path)
    try:
        assert isinstance(store, SqlitePinStore)
        assert (tmp_path / "logs" / "pins.db").exists()
    finally:
        await store.close()


async def test_describe_shows_windows_and_store(tmp_path: Path) -> None:
    service = SessionPins(MemoryPinStore(50), CONFIG)
    assert service.describe() == {
        "hard_window_s": HARD,
        "soft_window_s": SOFT,
        "soft_bonus_weight": 0.5,
        "store": {"kind": "memory", "max_sessions": 50},
        "store_ok": True,
    }


async def test_the_redis_timeout_comes_from_the_config(tmp_path: Path) -> None:
    settings = SessionStoreSettings(kind="redis", redis_url="redis://127.0.0.1:6379/0", redis_timeout_s=0.25)
    store = build_pin_store(settings, tmp_path)
    assert isinstance(store, RedisPinStore)
    options = store._client.connection_pool.connection_kwargs
    assert options["socket_timeout"] == options["socket_connect_timeout"] == 0.25
    assert SessionStoreSettings().redis_timeout_s == 1.0
    await store.close()


def test_redis_passwords_never_reach_the_status_page() -> None:
    assert redact_url("redis://app:s3cret@cache:6379/0") == "redis://app:***@cache:6379/0"
    assert redact_url("redis://:s3cret@cache:6379") == "redis://:***@cache:6379"
    assert redact_url("redis://cache:6379/0") == "redis://cache:6379/0"


async def test_sqlite_checkpoints_keep_the_wal_from_growing(tmp_path: Path) -> None:
    async def wal_sizes(checkpoint: bool) -> list[int]:
        path = tmp_path / f"{checkpoint}.sqlite3"
        store = SqlitePinStore(path, 1000, checkpoint_every=10**9)
        sizes = []
        for batch in range(3):
            for index in range(40):
                await store.record(write(f"s{batch}-{index}", ts=T0 + index))
            if checkpoint:
                await store.checkpoint()
            sizes.append(path.with_name(path.name + "-wal").stat().st_size)
        await store.close()
        return sizes

    grown, folded = await wal_sizes(checkpoint=False), await wal_sizes(checkpoint=True)
    assert grown[2] > grown[0]
    assert folded[2] == folded[1]  # after a checkpoint the next writes reuse the WAL from its start


async def test_sqlite_runs_its_checkpoints_by_itself(tmp_path: Path) -> None:
    store = SqlitePinStore(tmp_path / "pins.sqlite3", 1000, checkpoint_every=10)
    deadline = time.monotonic() + 10
    index = 0
    while store.checkpoints == 0 and time.monotonic() < deadline:
        await store.record(write(f"s{index}", ts=T0 + index))
        await asyncio.sleep(0.005)  # requests yield to the loop between turns; so does this
        index += 1
    await store.close()
    assert store.checkpoints >= 1
    # Whether SQLite deletes the WAL file on the last close depends on locks it may not get on a busy machine;
    # what matters is that the pins are all there for the next process.
    reopened = SqlitePinStore(tmp_path / "pins.sqlite3", 1000)
    assert await reopened.count_since(0) == index
    await reopened.close()


def test_an_unusable_sqlite_path_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(PinStoreError):
        SqlitePinStore(tmp_path, 10)  # a directory, not a file


async def test_a_down_store_routes_unpinned_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    store = RedisPinStore(f"redis://127.0.0.1:{free_port()}/0", 10, timeout_s=1.0)
    service = SessionPins(store, CONFIG)
    with caplog.at_level(logging.WARNING, logger="optmod.session_pin"):
        await service.record_success("s", CHEAP, Usage())
        assert await service.plan("s", make_features(), REGISTRY) == PinPlan("fresh")
        await service.record_failure("s", "cheap")
        assert await service.active_count() == 0
    assert len(caplog.records) == 1
    assert service.describe()["store_ok"] is False
    await service.close()


class FlakyStore(MemoryPinStore):
    """A memory store that fails while `down` is set, counting every call that reached it."""

    def __init__(self) -> None:
        super().__init__(100)
        self.down = True
        self.calls = 0

    def _reach(self) -> None:
        self.calls += 1
        if self.down:
            raise PinStoreError("unreachable")

    async def get(self, session_id: str) -> PinRecord | None:
        self._reach()
        return await super().get(session_id)

    async def record(self, write: PinWrite) -> None:
        self._reach()
        await super().record(write)


async def test_a_failing_store_is_left_alone_for_a_while_then_tried_again() -> None:
    now = [T0]
    store = FlakyStore()
    service = SessionPins(store, CONFIG, clock=lambda: now[0])
    assert await service.plan("s", make_features(), REGISTRY) == PinPlan("fresh")
    assert store.calls == 1
    # Inside the back-off nothing reaches the store: a hanging store would otherwise cost every request.
    now[0] += STORE_RETRY_S / 2
    await service.plan("s", make_features(), REGISTRY)
    await service.record_success("s", CHEAP, Usage())
    assert store.calls == 1 and service.describe()["store_ok"] is False
    # Past it, the store is tried again; once it answers, pins work as before.
    store.down = False
    now[0] += STORE_RETRY_S
    await service.record_success("s", CHEAP, Usage())
    assert store.calls == 2 and service.describe()["store_ok"] is True
    assert (await service.plan("s", make_features(), REGISTRY)).model == "cheap"
