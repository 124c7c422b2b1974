"""Faults of real redis-server processes in the middle of a workload.

Each workload test writes or reads keys through one cluster. A third of
the way in, it kills a server (SIGKILL, then a restart on the same port),
freezes one (SIGSTOP, then SIGCONT) or closes its client connections from
the server side (``CLIENT KILL``). Two thirds of the way in, the fault is
healed and the test waits until the cluster has readmitted the host. Then
every server is read directly, bypassing Nydus.

The servers of this module keep an append-only file, so that a killed
server restarts with every write it acknowledged: a write lost to the kill
would otherwise hide a write that Nydus sent to the wrong host.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from nydus_core import (
    Cluster,
    CommandError,
    HostConnectionError,
    HostDownError,
    HostError,
    HostInfo,
    HostTimeoutError,
    KeyRouter,
    create_cluster,
    hookimpl,
)
from nydus_redis import LocalRedisServer
from nydus_redis._server import free_port
from nydus_routers import ConsistentHashingRouter

from .conftest import direct, running_servers

#: ``--appendfsync no`` is enough: a killed process loses nothing that it
#: wrote to its file, and Redis writes the file before it replies.
AOF_ARGS = ("--appendonly", "yes", "--appendfsync", "no")
SERVER_COUNT = 3
#: The host that each workload test breaks.
VICTIM = 1
WORKLOAD = 300
FAULTS = ("kill", "pause", "client_kill")
#: Socket timeout of the hosts, so that a frozen server times out quickly.
TIMEOUT = 0.2


@pytest.fixture(scope="module")
def aof_servers() -> Iterator[list[LocalRedisServer]]:
    """Three redis-server processes that keep an append-only file."""
    with running_servers(SERVER_COUNT, extra_args=AOF_ARGS) as started:
        yield started


@pytest.fixture
def fresh(aof_servers: list[LocalRedisServer]) -> list[LocalRedisServer]:
    """The module's servers, running, resumed and emptied."""
    for server in aof_servers:
        if server.running:
            server.resume()
        else:
            server.start()
        client = direct(server)
        try:
            client.flushall()
        finally:
            client.close()
    return aof_servers


class Recorder:
    """A hook plugin that records where commands ran and what failed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ran: list[tuple[int, str, tuple[Any, ...]]] = []
        self.errors: list[tuple[int, str, BaseException]] = []
        self.down: list[int] = []
        self.up: list[int] = []

    @hookimpl
    def nydus_after_command(
        self, host: HostInfo, command: str, args: tuple[Any, ...]
    ) -> None:
        with self.lock:
            self.ran.append((host.number, command, args))

    @hookimpl
    def nydus_command_error(
        self, host: HostInfo, command: str, error: BaseException
    ) -> None:
        with self.lock:
            self.errors.append((host.number, command, error))

    @hookimpl
    def nydus_host_down(self, host: HostInfo) -> None:
        with self.lock:
            self.down.append(host.number)

    @hookimpl
    def nydus_host_up(self, host: HostInfo) -> None:
        with self.lock:
            self.up.append(host.number)

    def hosts_that_ran(self, command: str) -> dict[Any, int]:
        """Return the host that acknowledged each key of ``command``."""
        with self.lock:
            return {args[0]: host for host, name, args in self.ran if name == command}


class Fault:
    """A fault of one server. Calling :meth:`heal` again does nothing."""

    def __init__(self, server: LocalRedisServer) -> None:
        self.server = server
        self.active = False

    def inject(self) -> None:
        self.active = True
        self._inject()

    def heal(self) -> None:
        if self.active:
            self.active = False
            self._heal()

    def _inject(self) -> None:
        raise NotImplementedError

    def _heal(self) -> None:
        raise NotImplementedError


class Kill(Fault):
    """SIGKILL, then a restart on the same port and folder."""

    def _inject(self) -> None:
        self.server.kill()

    def _heal(self) -> None:
        self.server.start()


class Pause(Fault):
    """SIGSTOP, then SIGCONT: requests time out meanwhile."""

    def _inject(self) -> None:
        self.server.pause()

    def _heal(self) -> None:
        self.server.resume()


class ClientKill(Fault):
    """``CLIENT KILL TYPE normal`` every millisecond, from the server side."""

    def __init__(self, server: LocalRedisServer) -> None:
        super().__init__(server)
        self.killed = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _inject(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="client-kill")
        self._thread.start()

    def _run(self) -> None:
        client = direct(self.server)
        try:
            while not self._stop.is_set():
                # The killing connection itself is skipped (SKIPME yes).
                self.killed += int(client.client_kill_filter(_type="normal"))
                self._stop.wait(0.001)
        finally:
            client.close()

    def _heal(self) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()


def make_fault(name: str, server: LocalRedisServer) -> Fault:
    faults: dict[str, type[Fault]] = {
        "kill": Kill,
        "pause": Pause,
        "client_kill": ClientKill,
    }
    return faults[name](server)


def fault_cluster(
    servers: list[LocalRedisServer],
    router: str,
    recorder: Recorder,
    router_options: dict[str, Any] | None = None,
    **config: Any,
) -> Cluster:
    """Return a cluster over ``servers`` with short timeouts and deadlines."""
    settings: dict[str, Any] = {
        "backend": "redis",
        "router": router,
        "hosts": {
            number: {"host": server.host, "port": server.port, "timeout": TIMEOUT}
            for number, server in enumerate(servers)
        },
        "retry_backoff": 0.01,
        "retry_deadline": 0.5,
        "router_options": {"retry_timeout": 0.3, **(router_options or {})},
        "plugins": [recorder],
    }
    settings.update(config)
    return create_cluster(settings)


def wait_until_all_up(cluster: Cluster, probe: str = "probe") -> None:
    """Send calls until the cluster has readmitted every host, for up to 15 s."""
    give_up = time.monotonic() + 15
    while cluster.router.down and time.monotonic() < give_up:
        try:
            cluster.exists(probe)
        except HostError:
            pass
        time.sleep(0.02)
    assert cluster.router.down == frozenset()


def write_workload(
    cluster: Cluster, fault: Fault
) -> tuple[dict[str, int], dict[str, HostError]]:
    """Set ``w:<i>`` to ``i`` and return the acknowledged and the failed writes."""
    acked: dict[str, int] = {}
    failed: dict[str, HostError] = {}
    try:
        for index in range(WORKLOAD):
            if index == WORKLOAD // 3:
                fault.inject()
            if index == 2 * WORKLOAD // 3:
                fault.heal()
                wait_until_all_up(cluster)
            key = f"w:{index}"
            try:
                assert cluster.set(key, index) is True
            except HostError as exc:
                failed[key] = exc
            else:
                acked[key] = index
    finally:
        fault.heal()
    return acked, failed


def stored_keys(servers: list[LocalRedisServer]) -> list[dict[str, Any]]:
    """Return every key and value of each server, read directly."""
    contents: list[dict[str, Any]] = []
    for server in servers:
        client = direct(server)
        try:
            keys = [key.decode() for key in client.scan_iter(count=1000)]
            values = client.mget(keys) if keys else []
            contents.append(dict(zip(keys, values, strict=True)))
        finally:
            client.close()
    return contents


def key_on(cluster: Cluster, host: int, prefix: str = "key") -> str:
    for index in range(10_000):
        key = f"{prefix}:{index}"
        if cluster.hosts_for("get", key) == [host]:
            return key
    raise AssertionError(f"no key with prefix {prefix!r} found on host {host}")


# Workloads under faults


@pytest.mark.parametrize("fault_name", FAULTS)
@pytest.mark.parametrize("router", ["partition", "consistent_hashing"])
def test_fail_policy_keeps_keys_on_owner(
    fresh: list[LocalRedisServer], router: str, fault_name: str
) -> None:
    recorder = Recorder()
    cluster = fault_cluster(fresh, router, recorder)
    assert isinstance(cluster.router, KeyRouter)
    assert cluster.router.ejection == "fail"
    fault = make_fault(fault_name, fresh[VICTIM])
    try:
        acked, failed = write_workload(cluster, fault)
    finally:
        cluster.disconnect()
    stored = stored_keys(fresh)
    owner = cluster.router.get_host

    for key, value in acked.items():
        assert stored[owner(key)].get(key) == str(value).encode(), key
    misplaced = [
        (key, number)
        for number, contents in enumerate(stored)
        for key in contents
        if owner(key) != number
    ]
    assert misplaced == []
    assert {owner(key) for key in failed} <= {VICTIM}
    assert {error.host for error in failed.values()} <= {VICTIM}
    assert len(acked) + len(failed) == WORKLOAD
    if fault_name == "client_kill":
        # A write whose connection dropped in flight may have run, so it is
        # not retried. The health check after it can be killed too, so the
        # victim may go down for a moment, and no other host does.
        assert isinstance(fault, ClientKill)
        assert fault.killed > 0
        assert set(recorder.down) <= {VICTIM}
    else:
        assert len(failed) > 0
        assert recorder.down == [VICTIM]
        assert recorder.up == [VICTIM]


@pytest.mark.parametrize("fault_name", FAULTS)
def test_remap_policy_moves_keys_to_next_host(
    fresh: list[LocalRedisServer], fault_name: str
) -> None:
    recorder = Recorder()
    cluster = fault_cluster(
        fresh, "consistent_hashing", recorder, router_options={"ejection": "remap"}
    )
    fault = make_fault(fault_name, fresh[VICTIM])
    try:
        acked, failed = write_workload(cluster, fault)
    finally:
        cluster.disconnect()
    stored = stored_keys(fresh)
    owner = cluster.router.get_host
    without_victim = ConsistentHashingRouter(
        cluster.router.hosts, {"ejection": "remap"}
    )
    without_victim.mark_down(VICTIM)
    acked_on = recorder.hosts_that_ran("set")

    # A SET in flight when the fault struck may have run, so it is not
    # retried: only the victim's writes can fail.
    assert {error.host for error in failed.values()} <= {VICTIM}
    assert len(acked) + len(failed) == WORKLOAD
    for key, value in acked.items():
        host = acked_on[key]
        assert stored[host].get(key) == str(value).encode(), key
        if owner(key) == VICTIM:
            assert host in {VICTIM, without_victim.get_host(key)}, key
        else:
            assert host == owner(key), key
    moved = [key for key, host in acked_on.items() if host != owner(key)]
    if fault_name != "client_kill":
        assert len(moved) > 0
        assert recorder.up.count(VICTIM) >= 1
    # Readmitted, the victim owns its keys again.
    assert all(owner(key) == VICTIM for key in moved)


@pytest.mark.parametrize("fault_name", FAULTS)
def test_round_robin_reads_never_fail(
    fresh: list[LocalRedisServer], fault_name: str
) -> None:
    data = {f"r:{index}": str(index) for index in range(100)}
    for server in fresh:
        client = direct(server)
        client.mset(data)
        client.close()
    recorder = Recorder()
    cluster = fault_cluster(fresh, "round_robin", recorder)
    fault = make_fault(fault_name, fresh[VICTIM])
    values: list[bytes | None] = []
    try:
        for index in range(WORKLOAD):
            if index == WORKLOAD // 3:
                fault.inject()
            if index == 2 * WORKLOAD // 3:
                fault.heal()
                wait_until_all_up(cluster, "r:0")
            values.append(cluster.get(f"r:{index % 100}"))
    finally:
        fault.heal()
        cluster.disconnect()
    expected = [str(index % 100).encode() for index in range(WORKLOAD)]
    assert values == expected
    answered_by = {host for host, command, _ in recorder.ran if command == "get"}
    assert answered_by == {0, 1, 2}
    if fault_name != "client_kill":
        assert recorder.down == [VICTIM]


@pytest.mark.parametrize("fault_name", FAULTS)
def test_round_robin_writes_stay_on_acknowledging_host(
    fresh: list[LocalRedisServer], fault_name: str
) -> None:
    recorder = Recorder()
    cluster = fault_cluster(fresh, "round_robin", recorder)
    fault = make_fault(fault_name, fresh[VICTIM])
    try:
        acked, failed = write_workload(cluster, fault)
    finally:
        cluster.disconnect()
    stored = stored_keys(fresh)
    acked_on = recorder.hosts_that_ran("set")

    assert {error.host for error in failed.values()} <= {VICTIM}
    assert len(acked) + len(failed) == WORKLOAD
    for key, value in acked.items():
        assert stored[acked_on[key]].get(key) == str(value).encode(), key


# Retries


def dead_host_cluster(recorder: Recorder, **config: Any) -> Cluster:
    """Return a one-host cluster whose port has no server: connections fail."""
    settings: dict[str, Any] = {
        "backend": "redis",
        "router": "partition",
        "hosts": {0: {"host": "127.0.0.1", "port": free_port()}},
        "retry_backoff": 0.001,
        "plugins": [recorder],
    }
    settings.update(config)
    return create_cluster(settings)


def test_retries_bounded_by_max_retries() -> None:
    recorder = Recorder()
    cluster = dead_host_cluster(recorder, max_connection_retries=3, retry_deadline=None)
    with pytest.raises(HostConnectionError) as info:
        cluster.get("k")
    assert info.value.host == 0
    assert len(recorder.errors) == 4
    assert recorder.down == [0]
    with pytest.raises(HostDownError):
        cluster.get("k")
    assert len(recorder.errors) == 4


def test_retries_zero_deadline_one_attempt() -> None:
    recorder = Recorder()
    cluster = dead_host_cluster(recorder, max_connection_retries=1000, retry_deadline=0)
    with pytest.raises(HostConnectionError):
        cluster.get("k")
    assert len(recorder.errors) == 1


def test_retries_stop_at_deadline() -> None:
    recorder = Recorder()
    cluster = dead_host_cluster(
        recorder,
        max_connection_retries=1000,
        retry_backoff=0.05,
        retry_backoff_max=0.05,
        retry_deadline=0.3,
    )
    with pytest.raises(HostConnectionError):
        cluster.get("k")
    # 1,000 retries sleep about 25 s on average, far past the deadline.
    assert 2 <= len(recorder.errors) < 1001
    assert recorder.down == [0]


def test_backoff_full_jitter() -> None:
    cluster = dead_host_cluster(
        Recorder(),
        retry_backoff=0.05,
        retry_backoff_max=1.0,
        retry_deadline=None,
    )
    for attempt in range(8):
        ceiling = min(1.0, 0.05 * 2**attempt)
        delays = [cluster._backoff_delay(attempt, 0.0) for _ in range(2000)]
        assert max(delays) <= ceiling
        assert min(delays) >= 0.0
        # Full jitter: the delays spread over the whole range.
        assert max(delays) > 0.9 * ceiling
        assert min(delays) < 0.1 * ceiling
    huge = [cluster._backoff_delay(100_000, 0.0) for _ in range(100)]
    assert max(huge) <= 1.0


def test_backoff_capped_by_deadline() -> None:
    cluster = dead_host_cluster(
        Recorder(), retry_backoff=1.0, retry_backoff_max=1.0, retry_deadline=2.0
    )
    almost_spent = time.monotonic() - 1.99
    delays = [cluster._backoff_delay(5, almost_spent) for _ in range(200)]
    assert max(delays) <= 0.01
    spent = time.monotonic() - 3.0
    assert cluster._backoff_delay(5, spent) == 0.0


@pytest.mark.parametrize(
    ("router", "options"),
    [
        ("partition", {}),
        ("consistent_hashing", {}),
        ("consistent_hashing", {"ejection": "remap"}),
        ("round_robin", {}),
    ],
)
def test_error_reply_not_retried(
    fresh: list[LocalRedisServer], router: str, options: dict[str, Any]
) -> None:
    recorder = Recorder()
    cluster = fault_cluster(fresh, router, recorder, router_options=options)
    try:
        with pytest.raises(redis.ResponseError, match="invalid expire time"):
            cluster.set("k", "v", ex=-1)
    finally:
        cluster.disconnect()
    assert len(recorder.errors) == 1
    assert cluster.router.down == frozenset()
    assert recorder.down == []


def test_timeout_write_not_retried(fresh: list[LocalRedisServer]) -> None:
    recorder = Recorder()
    cluster = fault_cluster(
        fresh[:1],
        "partition",
        recorder,
        max_connection_retries=100,
        retry_deadline=None,
    )
    server = fresh[0]
    try:
        assert cluster.incr("counter") == 1
        server.pause()
        # The INCR reaches the frozen server's socket and runs once the
        # server resumes, so a retry would count it twice.
        resumer = threading.Timer(0.6, server.resume)
        resumer.start()
        try:
            with pytest.raises(HostTimeoutError):
                cluster.incr("counter")
        finally:
            resumer.join()
    finally:
        cluster.disconnect()
    client = direct(server)
    assert wait_for_value(client, "counter", b"2") == b"2"
    assert len(recorder.errors) == 1
    assert isinstance(recorder.errors[0][2], redis.TimeoutError)


def test_timeout_read_retried(fresh: list[LocalRedisServer]) -> None:
    recorder = Recorder()
    cluster = fault_cluster(
        fresh[:1],
        "partition",
        recorder,
        max_connection_retries=100,
        retry_deadline=None,
    )
    server = fresh[0]
    try:
        assert cluster.set("page", "cached") is True
        server.pause()
        resumer = threading.Timer(0.6, server.resume)
        resumer.start()
        try:
            assert cluster.get("page") == b"cached"
        finally:
            resumer.join()
    finally:
        cluster.disconnect()
    assert len(recorder.errors) >= 1
    assert all(isinstance(error, redis.TimeoutError) for _, _, error in recorder.errors)


def wait_for_value(client: redis.Redis, key: str, expected: bytes) -> bytes | None:
    """Poll ``key`` until it equals ``expected`` or 5 s pass; return its value."""
    deadline = time.monotonic() + 5
    value = client.get(key)
    while value != expected and time.monotonic() < deadline:
        time.sleep(0.02)
        value = client.get(key)
    return value


# Readmission


def test_readmission_needs_ping(fresh: list[LocalRedisServer]) -> None:
    recorder = Recorder()
    cluster = fault_cluster(
        fresh[:2],
        "consistent_hashing",
        recorder,
        max_connection_retries=0,
        router_options={"retry_timeout": 0},
    )
    key = key_on(cluster, 1)
    fresh[1].kill()
    try:
        with pytest.raises(HostConnectionError):
            cluster.get(key)
        # Every call is past retry_timeout=0, so each runs a health check,
        # which fails while the server is down.
        for _ in range(50):
            with pytest.raises(HostDownError):
                cluster.get(key)
        assert cluster.router.down == frozenset({1})
        assert recorder.up == []
    finally:
        fresh[1].start()
    assert cluster.set(key, "back") is True
    cluster.disconnect()
    assert cluster.router.down == frozenset()
    assert recorder.up == [1]
    assert direct(fresh[1]).get(key) == b"back"


def test_health_check_of_frozen_server_returns(
    fresh: list[LocalRedisServer],
) -> None:
    recorder = Recorder()
    cluster = fault_cluster(
        fresh[:2],
        "consistent_hashing",
        recorder,
        max_connection_retries=0,
        router_options={"retry_timeout": 0},
    )
    key = key_on(cluster, 1)
    fresh[1].pause()
    try:
        with pytest.raises(HostTimeoutError):
            cluster.get(key)
        # The health check times out after 1 s instead of hanging.
        with pytest.raises(HostDownError):
            cluster.get(key)
        assert recorder.up == []
    finally:
        fresh[1].resume()
    assert cluster.get(key) is None
    cluster.disconnect()
    assert recorder.up == [1]


def test_round_robin_all_hosts_down(fresh: list[LocalRedisServer]) -> None:
    recorder = Recorder()
    cluster = fault_cluster(
        fresh[:2], "round_robin", recorder, router_options={"retry_timeout": 0}
    )
    for server in fresh[:2]:
        server.kill()
    try:
        with pytest.raises(HostError):
            cluster.get("k")
        with pytest.raises(HostDownError, match="every host is marked down"):
            cluster.get("k")
        assert cluster.router.down == frozenset({0, 1})
    finally:
        for server in fresh[:2]:
            server.start()
    assert cluster.get("k") is None
    cluster.disconnect()
    assert cluster.router.down == frozenset()


def test_remap_all_hosts_down(fresh: list[LocalRedisServer]) -> None:
    recorder = Recorder()
    cluster = fault_cluster(
        fresh[:2],
        "consistent_hashing",
        recorder,
        router_options={"ejection": "remap", "retry_timeout": 0},
    )
    for server in fresh[:2]:
        server.kill()
    try:
        # The first call marks both hosts down, one after the other.
        with pytest.raises(HostDownError, match="every host of the consistent"):
            cluster.get("k")
        with pytest.raises(HostDownError, match="every host of the consistent"):
            cluster.get("k")
        assert cluster.router.down == frozenset({0, 1})
    finally:
        for server in fresh[:2]:
            server.start()
    assert cluster.get("k") is None
    cluster.disconnect()
    assert cluster.router.down == frozenset()


# Calls that cannot move to another host


@pytest.mark.parametrize("ejection", ["fail", "remap"])
def test_fan_out_with_host_down(fresh: list[LocalRedisServer], ejection: str) -> None:
    recorder = Recorder()
    cluster = fault_cluster(
        fresh,
        "consistent_hashing",
        recorder,
        max_connection_retries=0,
        router_options={"ejection": ejection},
    )
    assert cluster.dbsize() == [0, 0, 0]
    fresh[VICTIM].kill()
    try:
        with pytest.raises(HostConnectionError) as first:
            cluster.dbsize()
        with pytest.raises(HostDownError) as again:
            cluster.dbsize()
    finally:
        fresh[VICTIM].start()
        cluster.disconnect()
    assert first.value.host == VICTIM
    assert again.value.host == VICTIM
    assert "a command without keys goes to every host" in str(again.value)


def test_remap_multi_key_call_not_moved(fresh: list[LocalRedisServer]) -> None:
    recorder = Recorder()
    cluster = fault_cluster(
        fresh, "consistent_hashing", recorder, router_options={"ejection": "remap"}
    )
    without_victim = ConsistentHashingRouter(
        cluster.router.hosts, {"ejection": "remap"}
    )
    without_victim.mark_down(VICTIM)
    on_victim = [f"m:{index}" for index in range(2000)]
    on_victim = [key for key in on_victim if cluster.hosts_for("get", key) == [VICTIM]]
    first = on_victim[0]
    second = next(
        key
        for key in on_victim
        if without_victim.get_host(key) != without_victim.get_host(first)
    )
    fresh[VICTIM].kill()
    try:
        # Both keys live on the victim. Once it is down they belong to two
        # different hosts, so the call cannot go to either one alone.
        with pytest.raises(HostConnectionError):
            cluster.mset({first: "1", second: "2"})
    finally:
        fresh[VICTIM].start()
        cluster.disconnect()
    stored = stored_keys(fresh)
    assert [first in contents for contents in stored] == [False, False, False]
    assert [second in contents for contents in stored] == [False, False, False]


def keys_per_host(cluster: Cluster, prefix: str) -> dict[str, int]:
    """Return one key on each host, with its host."""
    return {key_on(cluster, host, prefix): host for host in range(len(cluster))}


def test_split_command_with_host_down(fresh: list[LocalRedisServer]) -> None:
    recorder = Recorder()
    cluster = fault_cluster(fresh, "partition", recorder, max_connection_retries=1)
    first = keys_per_host(cluster, "split")
    second = keys_per_host(cluster, "again")
    fresh[VICTIM].kill()
    try:
        # The parts run on their hosts independently: the victim's part
        # fails, and the other parts stay written.
        with pytest.raises(HostConnectionError) as failing:
            cluster.mset({key: "1" for key in first})
        # Now the victim is marked down, and nothing is sent at all.
        with pytest.raises(HostDownError) as marked:
            cluster.mset({key: "2" for key in second})
    finally:
        fresh[VICTIM].start()
        cluster.disconnect()
    stored = stored_keys(fresh)
    assert failing.value.host == VICTIM
    assert marked.value.host == VICTIM
    for key, host in first.items():
        expected = None if host == VICTIM else b"1"
        assert stored[host].get(key) == expected, key
    for key, host in second.items():
        assert stored[host].get(key) is None, key


def test_split_command_remap_after_host_down(fresh: list[LocalRedisServer]) -> None:
    recorder = Recorder()
    cluster = fault_cluster(
        fresh, "consistent_hashing", recorder, router_options={"ejection": "remap"}
    )
    keys = list(keys_per_host(cluster, "split"))
    fresh[VICTIM].kill()
    try:
        # A part cannot move: its keys now belong to other hosts.
        with pytest.raises(HostConnectionError):
            cluster.mset({key: "1" for key in keys})
        # Routed again without the victim, the whole call succeeds.
        assert cluster.mset({key: "2" for key in keys}) is True
        assert cluster.mget(keys) == [b"2"] * len(keys)
    finally:
        fresh[VICTIM].start()
        cluster.disconnect()


# map() with a host down


def test_map_host_down_names_host_and_commands(
    fresh: list[LocalRedisServer],
) -> None:
    recorder = Recorder()
    cluster = fault_cluster(fresh, "partition", recorder, max_connection_retries=1)
    keys = [f"map:{index}" for index in range(30)]
    on_victim = [
        index for index, key in enumerate(keys) if cluster.hosts_for("get", key) == [1]
    ]
    identifier = cluster[VICTIM].identifier
    fresh[VICTIM].kill()
    try:
        with pytest.raises(CommandError) as failing:
            with cluster.map() as conn:
                results = [conn.set(key, index) for index, key in enumerate(keys)]
        # The host is now marked down: the second block fails before sending.
        with pytest.raises(CommandError) as marked:
            with cluster.map() as conn:
                again = [conn.get(key) for key in keys]
    finally:
        fresh[VICTIM].start()
        cluster.disconnect()

    for error, kind in (
        (failing.value, HostConnectionError),
        (marked.value, HostDownError),
    ):
        assert [failure.index for failure in error.failures] == on_victim
        assert {failure.host for failure in error.failures} == {VICTIM}
        assert {failure.identifier for failure in error.failures} == {identifier}
        assert all(isinstance(failure.error, kind) for failure in error.failures)
    for index in on_victim:
        assert f"#{index} set on host 1 ({identifier})" in str(failing.value)
        assert f"#{index} get on host 1 ({identifier})" in str(marked.value)
    for index, result in enumerate(results):
        if index not in on_victim:
            assert result.value is True
    for index, result in enumerate(again):
        if index not in on_victim:
            assert result.value == str(index).encode()


def test_map_remap_moves_keys(fresh: list[LocalRedisServer]) -> None:
    recorder = Recorder()
    cluster = fault_cluster(
        fresh, "consistent_hashing", recorder, router_options={"ejection": "remap"}
    )
    without_victim = ConsistentHashingRouter(
        cluster.router.hosts, {"ejection": "remap"}
    )
    without_victim.mark_down(VICTIM)
    keys = [f"remap:{index}" for index in range(60)]
    fresh[VICTIM].kill()
    try:
        with cluster.map() as conn:
            results = [conn.set(key, key) for key in keys]
    finally:
        fresh[VICTIM].start()
        cluster.disconnect()
    assert [result.value for result in results] == [True] * len(keys)
    stored = stored_keys(fresh)
    for key in keys:
        assert stored[without_victim.get_host(key)].get(key) == key.encode(), key


def test_map_round_robin_host_down(fresh: list[LocalRedisServer]) -> None:
    for server in fresh:
        direct(server).set("shared", "yes")
    recorder = Recorder()
    cluster = fault_cluster(fresh, "round_robin", recorder)
    fresh[VICTIM].kill()
    try:
        with cluster.map() as conn:
            results = [conn.get("shared") for _ in range(12)]
    finally:
        fresh[VICTIM].start()
        cluster.disconnect()
    assert [result.value for result in results] == [b"yes"] * 12
