"""One cluster shared by many threads, on real redis-server processes.

Sixteen threads each send 10,000 ``INCR`` to eight shared counters through
one cluster, for every router, while another thread marks a host down and
up again, or while a server is killed and restarted. Afterwards the servers
are read directly and the counters must hold exactly the increments that
the cluster acknowledged.

``NYDUS_TEST_INCRS`` lowers the increments per thread for a quick local
run; the default test run uses 10,000.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis

from nydus_core import (
    Cluster,
    HostConnectionError,
    HostDownError,
    HostError,
    HostInfo,
    create_cluster,
    hookimpl,
)
from nydus_redis import LocalRedisServer

from .conftest import direct, host_config, running_servers

THREADS = 16
INCRS = int(os.environ.get("NYDUS_TEST_INCRS", "10000"))
#: Increments per thread while a server is killed and restarted.
KILL_INCRS = min(INCRS, 1500)
#: Counters per host: eight in all, so that 16 x 10,000 divides evenly.
COUNTERS_PER_HOST = (3, 3, 2)
#: The host that is marked down and up, or killed.
TOGGLED = 1


@dataclass
class Tally:
    """What the worker threads saw."""

    calls: int = 0
    acked: Counter[str] = field(default_factory=Counter)
    values: dict[str, list[int]] = field(default_factory=dict)
    failures: list[BaseException] = field(default_factory=list)
    unexpected: list[BaseException] = field(default_factory=list)

    def merge(self, other: Tally) -> None:
        self.acked.update(other.acked)
        for key, values in other.values.items():
            self.values.setdefault(key, []).extend(values)
        self.failures.extend(other.failures)
        self.unexpected.extend(other.unexpected)


def counters_for(cluster: Cluster) -> list[str]:
    """Return eight counter keys, three or two on each host of ``cluster``.

    Consistent hashing places keys by host identifiers, which name the
    servers' random ports, so the keys are chosen for each cluster.
    """
    if not cluster.router.routes_by_key:
        return [f"counter:{index}" for index in range(sum(COUNTERS_PER_HOST))]
    wanted = list(COUNTERS_PER_HOST)
    keys: list[str] = []
    for index in range(10_000):
        key = f"counter:{index}"
        host = cluster.hosts_for("incr", key)[0]
        if wanted[host] > 0:
            wanted[host] -= 1
            keys.append(key)
        if len(keys) == sum(COUNTERS_PER_HOST):
            return keys
    raise AssertionError(f"no counter keys found for {wanted} hosts")


def run_workers(
    cluster: Cluster,
    keys: list[str],
    incrs: int,
    tolerated: tuple[type[BaseException], ...] = (),
    fault: Callable[[Callable[[], int]], None] | None = None,
) -> Tally:
    """Run ``THREADS`` threads of ``incrs`` INCR each and merge their tallies.

    An exception of a ``tolerated`` type counts as a call that was not
    acknowledged; any other is kept in ``unexpected``. ``fault`` runs on
    its own thread during the work and receives a function that returns
    the calls made so far.
    """
    start = threading.Barrier(THREADS)
    tallies = [Tally() for _ in range(THREADS)]

    def work(number: int) -> None:
        tally = tallies[number]
        start.wait()
        for index in range(incrs):
            key = keys[(index + number) % len(keys)]
            tally.calls += 1
            try:
                value = cluster.incr(key)
            except tolerated as exc:
                tally.failures.append(exc)
                continue
            except Exception as exc:  # noqa: BLE001 - reported by the test
                tally.unexpected.append(exc)
                continue
            tally.acked[key] += 1
            tally.values.setdefault(key, []).append(value)

    threads = [
        threading.Thread(target=work, args=(number,), name=f"incr-{number}")
        for number in range(THREADS)
    ]
    if fault is not None:

        def progress() -> int:
            return sum(tally.calls for tally in tallies)

        threads.append(threading.Thread(target=fault, args=(progress,), name="fault"))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = Tally()
    for tally in tallies:
        total.merge(tally)
    return total


class Toggler:
    """A thread that marks one host down and up until stopped."""

    def __init__(self, cluster: Cluster, host: int) -> None:
        self.cluster = cluster
        self.host = host
        self.cycles = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="toggler")

    def __enter__(self) -> Toggler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self.cluster.mark_up(self.host)

    def _run(self) -> None:
        identifier = self.cluster[self.host].identifier
        error = HostConnectionError("marked down by the test", self.host, identifier)
        while not self._stop.is_set():
            self.cluster.mark_down(self.host, error)
            self._stop.wait(0.003)
            self.cluster.mark_up(self.host)
            self._stop.wait(0.003)
            self.cycles += 1


def wait_until_all_up(cluster: Cluster) -> None:
    """Send calls until the cluster has readmitted every host, for up to 15 s."""
    give_up = time.monotonic() + 15
    while cluster.router.down and time.monotonic() < give_up:
        try:
            cluster.exists("probe")
        except HostError:
            pass
        time.sleep(0.02)
    assert cluster.router.down == frozenset()


def counter_values(
    servers: list[LocalRedisServer], keys: list[str]
) -> list[dict[str, int]]:
    """Return each server's counters, read directly."""
    values: list[dict[str, int]] = []
    for server in servers:
        client = direct(server)
        try:
            stored = client.mget(keys)
        finally:
            client.close()
        values.append(
            {
                key: int(value)
                for key, value in zip(keys, stored, strict=True)
                if value is not None
            }
        )
    return values


def summed(values: list[dict[str, int]]) -> Counter[str]:
    total: Counter[str] = Counter()
    for per_host in values:
        total.update(per_host)
    return total


def cluster_over(
    servers: list[LocalRedisServer], router: str, **config: Any
) -> Cluster:
    settings: dict[str, Any] = {
        "backend": "redis",
        "router": router,
        "hosts": host_config(servers, len(servers)),
    }
    settings.update(config)
    return create_cluster(settings)


# Full counts


@pytest.fixture
def three(servers: list[LocalRedisServer]) -> list[LocalRedisServer]:
    """Three of the session's servers, emptied."""
    return servers[:3]


def test_partition_incr_exact(three: list[LocalRedisServer]) -> None:
    cluster = cluster_over(three, "partition")
    keys = counters_for(cluster)
    try:
        tally = run_workers(cluster, keys, INCRS)
    finally:
        cluster.disconnect()
    per_counter = THREADS * INCRS // len(keys)

    assert tally.unexpected == []
    assert tally.failures == []
    assert summed(counter_values(three, keys)) == {key: per_counter for key in keys}
    for key in keys:
        # Each INCR returned a different value, so none was lost or repeated.
        assert sorted(tally.values[key]) == list(range(1, per_counter + 1)), key


def test_fail_policy_incr_while_toggling(three: list[LocalRedisServer]) -> None:
    cluster = cluster_over(three, "consistent_hashing")
    keys = counters_for(cluster)
    with Toggler(cluster, TOGGLED) as toggler:
        try:
            tally = run_workers(cluster, keys, INCRS, tolerated=(HostDownError,))
        finally:
            cluster.disconnect()
    stored = counter_values(three, keys)
    owner = cluster.router.get_host
    toggled_keys = [key for key in keys if owner(key) == TOGGLED]

    assert toggler.cycles > 0
    assert toggled_keys != []
    assert tally.unexpected == []
    assert {error.host for error in tally.failures if isinstance(error, HostError)} == {
        TOGGLED
    }
    assert sum(tally.acked.values()) + len(tally.failures) == THREADS * INCRS
    for key in keys:
        # 'fail' never sends a key elsewhere, so only its owner stores it.
        holders = [number for number, values in enumerate(stored) if key in values]
        assert holders == [owner(key)], key
        assert stored[owner(key)][key] == tally.acked[key], key
        assert sorted(tally.values[key]) == list(range(1, tally.acked[key] + 1)), key


def test_remap_incr_while_toggling(three: list[LocalRedisServer]) -> None:
    cluster = cluster_over(
        three, "consistent_hashing", router_options={"ejection": "remap"}
    )
    keys = counters_for(cluster)
    with Toggler(cluster, TOGGLED) as toggler:
        try:
            tally = run_workers(cluster, keys, INCRS)
        finally:
            cluster.disconnect()
    stored = counter_values(three, keys)
    per_counter = THREADS * INCRS // len(keys)
    owner = cluster.router.get_host
    moved = {
        key
        for key in keys
        if owner(key) == TOGGLED
        and any(
            key in values for number, values in enumerate(stored) if number != TOGGLED
        )
    }

    assert toggler.cycles > 0
    assert tally.unexpected == []
    assert tally.failures == []
    assert summed(stored) == {key: per_counter for key in keys}
    # While the host was down its counters went on elsewhere.
    assert moved == {key for key in keys if owner(key) == TOGGLED}


def test_round_robin_incr_while_toggling(three: list[LocalRedisServer]) -> None:
    cluster = cluster_over(three, "round_robin")
    keys = counters_for(cluster)
    with Toggler(cluster, TOGGLED) as toggler:
        try:
            tally = run_workers(cluster, keys, INCRS)
        finally:
            cluster.disconnect()
    stored = counter_values(three, keys)
    per_counter = THREADS * INCRS // len(keys)

    assert toggler.cycles > 0
    assert tally.unexpected == []
    assert tally.failures == []
    # Round robin spreads each counter over the hosts: the sum is exact.
    assert summed(stored) == {key: per_counter for key in keys}
    assert [sorted(values) for values in stored] == [sorted(keys)] * 3


# A server killed and restarted under load


class ErrorCounter:
    """A hook plugin that counts failed attempts and host transitions."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.retryable = 0
        self.down: list[int] = []
        self.up: list[int] = []

    @hookimpl
    def nydus_command_error(self, error: BaseException) -> None:
        if isinstance(error, (redis.ConnectionError, redis.TimeoutError)):
            with self.lock:
                self.retryable += 1

    @hookimpl
    def nydus_host_down(self, host: HostInfo) -> None:
        with self.lock:
            self.down.append(host.number)

    @hookimpl
    def nydus_host_up(self, host: HostInfo) -> None:
        with self.lock:
            self.up.append(host.number)


@pytest.fixture(scope="module")
def aof_servers() -> Iterator[list[LocalRedisServer]]:
    """Three servers that keep an append-only file, so a kill loses no write."""
    aof_args = ["--appendonly", "yes", "--appendfsync", "no"]
    with running_servers(3, extra_args=aof_args) as started:
        yield started


@pytest.fixture
def durable(aof_servers: list[LocalRedisServer]) -> list[LocalRedisServer]:
    for server in aof_servers:
        if not server.running:
            server.start()
        client = direct(server)
        try:
            client.flushall()
        finally:
            client.close()
    return aof_servers


def kill_and_restart(
    server: LocalRedisServer, total: int
) -> Callable[[Callable[[], int]], None]:
    """Return a fault that kills ``server`` a quarter of the way through the
    calls and restarts it halfway."""

    def fault(progress: Callable[[], int]) -> None:
        wait_for(progress, total // 4)
        server.kill()
        wait_for(progress, total // 2)
        server.start()

    return fault


def wait_for(progress: Callable[[], int], calls: int) -> None:
    while progress() < calls:
        time.sleep(0.002)


@pytest.mark.parametrize(
    ("router", "options", "tolerated"),
    [
        # An INCR whose connection breaks in flight may have run, so it is
        # not retried and raises under every policy.
        ("consistent_hashing", {"ejection": "remap"}, (HostError,)),
        ("round_robin", {}, (HostError,)),
        ("consistent_hashing", {"ejection": "fail"}, (HostError,)),
    ],
)
def test_incr_while_server_killed(
    durable: list[LocalRedisServer],
    router: str,
    options: dict[str, Any],
    tolerated: tuple[type[BaseException], ...],
) -> None:
    errors = ErrorCounter()
    cluster = cluster_over(
        durable,
        router,
        router_options={"retry_timeout": 0.1, **options},
        retry_backoff=0.01,
        retry_deadline=0.5,
        plugins=[errors],
    )
    keys = counters_for(cluster)
    try:
        fault = kill_and_restart(durable[TOGGLED], THREADS * KILL_INCRS)
        tally = run_workers(cluster, keys, KILL_INCRS, tolerated=tolerated, fault=fault)
        wait_until_all_up(cluster)
    finally:
        cluster.disconnect()
    stored = summed(counter_values(durable, keys))
    acked = sum(tally.acked.values())

    assert tally.unexpected == []
    assert errors.retryable > 0
    assert errors.down.count(TOGGLED) >= 1
    assert errors.up.count(TOGGLED) == errors.down.count(TOGGLED)
    if not tolerated:
        assert tally.failures == []
    # Every acknowledged increment is stored. An attempt that failed with a
    # connection error may have run before the connection broke, so it may
    # be stored as well: at most once per such attempt.
    for key in keys:
        assert stored[key] >= tally.acked[key], key
    assert acked <= sum(stored.values()) <= acked + errors.retryable


def test_readmission_race_one_health_check(durable: list[LocalRedisServer]) -> None:
    errors = ErrorCounter()
    cluster = cluster_over(
        durable,
        "round_robin",
        router_options={"retry_timeout": 0},
        plugins=[errors],
    )
    keys = counters_for(cluster)
    victim = durable[TOGGLED]
    try:
        victim.kill()
        for _ in range(3):
            cluster.incr("warm-up")
        assert cluster.router.down == frozenset({TOGGLED})
        victim.start()
        direct(victim).config_resetstat()
        # Every thread finds the host due for its health check at once.
        run_workers(cluster, keys, 20)
    finally:
        cluster.disconnect()
    client = direct(victim)
    try:
        pings = client.info("commandstats").get("cmdstat_ping", {}).get("calls", 0)
    finally:
        client.close()

    assert pings == 1
    assert errors.up == [TOGGLED]
    assert cluster.router.down == frozenset()
