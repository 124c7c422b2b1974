"""What the ``nydus`` logger records about failing hosts, on real servers."""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
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
    create_cluster,
    hookimpl,
)
from nydus_redis import LocalRedisServer
from nydus_redis._server import free_port

from .conftest import direct, host_config

PASSWORD = "s3cret-pw-7f2a"


class Transitions:
    """A hook plugin that counts hosts marked down and up."""

    def __init__(self) -> None:
        self.down = 0
        self.up = 0

    @hookimpl
    def nydus_host_down(self) -> None:
        self.down += 1

    @hookimpl
    def nydus_host_up(self) -> None:
        self.up += 1


def key_on(cluster: Cluster, host: int) -> str:
    for index in range(10_000):
        key = f"log:{index}"
        if cluster.hosts_for("get", key) == [host]:
            return key
    raise AssertionError(f"no key found on host {host}")


def records(
    caplog: pytest.LogCaptureFixture, level: int, text: str
) -> list[logging.LogRecord]:
    """Return the ``nydus`` records of ``level`` whose message contains ``text``."""
    return [
        record
        for record in caplog.records
        if record.name.startswith("nydus")
        and record.levelno == level
        and text in record.getMessage()
    ]


def host_of(record: logging.LogRecord) -> object:
    """Return the host number of a cluster record: its first argument."""
    args = record.args
    return args[0] if isinstance(args, tuple) and args else None


def test_down_warning_up_info(
    servers: list[LocalRedisServer], caplog: pytest.LogCaptureFixture
) -> None:
    cluster = create_cluster(
        {
            "backend": "redis",
            "router": "consistent_hashing",
            "hosts": host_config(servers, 2),
            "max_connection_retries": 2,
            "retry_backoff": 0.001,
            "router_options": {"retry_timeout": 0},
        }
    )
    identifier = cluster[1].identifier
    key = key_on(cluster, 1)
    caplog.set_level(logging.DEBUG, logger="nydus")
    servers[1].kill()
    try:
        with pytest.raises(HostConnectionError):
            cluster.get(key)
    finally:
        servers[1].start()
    assert cluster.get(key) is None
    cluster.disconnect()

    down = records(caplog, logging.WARNING, "marked down")
    up = records(caplog, logging.INFO, "is back")
    retries = records(caplog, logging.DEBUG, "retrying get")
    assert len(down) == 1
    assert identifier in down[0].getMessage()
    assert "Connection refused" in down[0].getMessage()
    assert len(up) == 1
    assert identifier in up[0].getMessage()
    # Two retries, but only the first within a second is logged.
    assert len(retries) == 1
    assert identifier in retries[0].getMessage()
    assert "Connection refused" in retries[0].getMessage()


def test_health_check_failure_debug(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    cluster = create_cluster(
        {
            "backend": "redis",
            "router": "partition",
            "hosts": {0: {"host": "127.0.0.1", "port": port}},
            "max_connection_retries": 0,
            "router_options": {"retry_timeout": 0},
        }
    )
    caplog.set_level(logging.DEBUG, logger="nydus")
    with pytest.raises(HostConnectionError):
        cluster.get("k")
    with pytest.raises(HostDownError):
        cluster.get("k")
    failed = records(caplog, logging.DEBUG, "failed its health check")
    assert len(failed) == 1
    assert f"redis://127.0.0.1:{port}/0" in failed[0].getMessage()
    assert "Connection refused" in failed[0].getMessage()


def test_repeats_once_a_second_per_host(caplog: pytest.LogCaptureFixture) -> None:
    cluster = create_cluster(
        {
            "backend": "redis",
            "router": "partition",
            "hosts": [
                {"host": "127.0.0.1", "port": free_port()},
                {"host": "127.0.0.1", "port": free_port()},
            ],
            "max_connection_retries": 0,
            "router_options": {"retry_timeout": 0},
        }
    )
    keys = [key_on(cluster, 0), key_on(cluster, 1)]
    caplog.set_level(logging.DEBUG, logger="nydus")
    started = time.monotonic()
    failures = 0
    for index in range(400):
        # Each call runs a failing health check of the host; every 50 calls
        # the host is marked up and the call marks it down again.
        if index % 50 == 0:
            cluster.mark_up(index % 2)
        with pytest.raises(HostError):
            cluster.get(keys[index % 2])
        failures += 1
    elapsed = time.monotonic() - started
    cluster.disconnect()

    counts = Counter(
        (record.levelno, record.msg, host_of(record))
        for record in caplog.records
        if record.name.startswith("nydus")
    )
    assert failures == 400
    assert len(counts) >= 4
    # Each message about one host repeats at most once a second.
    limit = math.floor(elapsed) + 1
    assert {key: count for key, count in counts.items() if count > limit} == {}


def test_flapping_host_limited(
    servers: list[LocalRedisServer], caplog: pytest.LogCaptureFixture
) -> None:
    transitions = Transitions()
    cluster = create_cluster(
        {
            "backend": "redis",
            "router": "partition",
            "hosts": host_config(servers, 2),
            "plugins": [transitions],
        }
    )
    error = HostConnectionError("marked down by the test", 1, cluster[1].identifier)
    caplog.set_level(logging.DEBUG, logger="nydus")
    started = time.monotonic()
    for _ in range(500):
        cluster.mark_down(1, error)
        cluster.mark_up(1)
    elapsed = time.monotonic() - started
    cluster.disconnect()

    limit = math.floor(elapsed) + 1
    assert transitions.down == 500
    assert transitions.up == 500
    assert 1 <= len(records(caplog, logging.WARNING, "marked down")) <= limit
    assert 1 <= len(records(caplog, logging.INFO, "is back")) <= limit


def test_dropped_repeats_counted(caplog: pytest.LogCaptureFixture) -> None:
    cluster = create_cluster(
        {
            "backend": "redis",
            "router": "partition",
            "hosts": {0: {"host": "127.0.0.1", "port": free_port()}},
            "max_connection_retries": 0,
            "router_options": {"retry_timeout": 0},
        }
    )
    caplog.set_level(logging.DEBUG, logger="nydus")
    calls = 0
    give_up = time.monotonic() + 10
    # Fail until a second health-check record is logged, past the interval.
    while len(records(caplog, logging.DEBUG, "failed its health check")) < 2:
        assert time.monotonic() < give_up
        with pytest.raises(HostError):
            cluster.get("k")
        calls += 1
        time.sleep(0.005)
    second = records(caplog, logging.DEBUG, "failed its health check")[1]
    assert calls > 2
    assert "more like this in the last" in second.getMessage()


# Passwords


@pytest.fixture
def protected() -> Iterator[list[LocalRedisServer]]:
    """Two servers that require ``PASSWORD``."""
    started: list[LocalRedisServer] = []
    try:
        for _ in range(2):
            server = LocalRedisServer()
            server.start()
            started.append(server)
            require_password(server)
        yield started
    finally:
        for server in started:
            server.stop()


def require_password(server: LocalRedisServer) -> None:
    # LocalRedisServer checks readiness with a PING before AUTH, so the
    # password is set once the server runs.
    client = direct(server)
    try:
        client.config_set("requirepass", PASSWORD)
    finally:
        client.close()


def rendered(record: logging.LogRecord) -> str:
    """Return everything a handler could write for ``record``."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return f"{formatter.format(record)} {record.args!r} {record.__dict__!r}"


def test_password_never_logged(
    protected: list[LocalRedisServer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    settings: dict[str, Any] = {
        "backend": "redis",
        "router": "consistent_hashing",
        "defaults": {"password": PASSWORD, "timeout": 0.5},
        "hosts": host_config(protected, 2),
        "max_connection_retries": 2,
        "retry_backoff": 0.001,
        "router_options": {"retry_timeout": 0},
    }
    cluster = create_cluster(settings)
    texts += [repr(cluster), *(repr(cluster[number]) for number in cluster)]
    key = key_on(cluster, 1)
    other_key = key_on(cluster, 0)
    assert cluster.set(key, "v") is True

    protected[1].kill()
    try:
        with pytest.raises(HostConnectionError) as down:
            cluster.get(key)
        with pytest.raises(CommandError) as failed:
            with cluster.map() as conn:
                conn.get(key)
                conn.get(other_key)
    finally:
        protected[1].start()
        require_password(protected[1])
    assert cluster.get(key) is None
    texts += [str(down.value), repr(down.value), str(failed.value)]
    cluster.disconnect()

    wrong = create_cluster({**settings, "defaults": {"password": "not-" + PASSWORD}})
    with pytest.raises(HostError) as refused:
        wrong.get(key)
    texts += [str(refused.value), repr(refused.value.__cause__)]
    wrong.disconnect()

    texts += [rendered(record) for record in caplog.records]
    assert len(records(caplog, logging.WARNING, "marked down")) >= 1
    assert len(records(caplog, logging.INFO, "is back")) >= 1
    assert [text for text in texts if PASSWORD in text] == []


def test_password_not_in_auth_error(protected: list[LocalRedisServer]) -> None:
    cluster = create_cluster(
        {
            "backend": "redis",
            "router": "partition",
            "defaults": {"password": "wrong-" + PASSWORD},
            "hosts": host_config(protected, 1),
        }
    )
    with pytest.raises(HostConnectionError, match="authentication failed") as info:
        cluster.get("k")
    cluster.disconnect()
    assert PASSWORD not in str(info.value)
    assert isinstance(info.value.__cause__, redis.AuthenticationError)
    assert cluster.router.down == frozenset()
