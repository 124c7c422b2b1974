"""Retries and errors against stopped redis-server processes."""

from __future__ import annotations

import logging

import pytest

from nydus_core import (
    Cluster,
    CommandError,
    HostConnectionError,
    HostDownError,
    create_cluster,
)
from nydus_redis import LocalRedisServer
from nydus_redis._server import free_port

from .conftest import direct, host_config


def key_on(cluster: Cluster, host: int, prefix: str = "key") -> str:
    for index in range(10_000):
        key = f"{prefix}:{index}"
        if cluster.hosts_for("get", key) == [host]:
            return key
    raise AssertionError(f"no key found on host {host}")


def test_refused_connection_names_host(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    config = {
        "backend": "redis",
        "router": "partition",
        "max_connection_retries": 1,
        "hosts": {0: {"host": "127.0.0.1", "port": port, "password": "hunter2-secret"}},
    }
    cluster = create_cluster(config)
    with caplog.at_level(logging.DEBUG, logger="nydus"):
        with pytest.raises(HostConnectionError) as info:
            cluster.get("k")
    message = str(info.value)
    assert f"redis://127.0.0.1:{port}/0" in message
    assert info.value.host == 0
    assert "hunter2-secret" not in message
    assert "hunter2-secret" not in caplog.text


def test_round_robin_moves_on(servers: list[LocalRedisServer]) -> None:
    config = {
        "backend": "redis",
        "router": "round_robin",
        "hosts": host_config(servers, 2),
    }
    for server in servers[:2]:
        direct(server).set("replicated", "yes")
    cluster = create_cluster(config)
    servers[0].kill()
    try:
        values = [cluster.get("replicated") for _ in range(6)]
    finally:
        servers[0].start()
    assert values == [b"yes"] * 6
    assert cluster.router.down == frozenset({0})


def test_remap_sends_key_to_next_host(servers: list[LocalRedisServer]) -> None:
    config = {
        "backend": "redis",
        "router": "consistent_hashing",
        "router_options": {"ejection": "remap"},
        "hosts": host_config(servers, 3),
    }
    cluster = create_cluster(config)
    key = key_on(cluster, 1)
    servers[1].kill()
    try:
        assert cluster.set(key, "v") is True
        new_owner = cluster.hosts_for("get", key)[0]
        assert new_owner != 1
        assert direct(servers[new_owner]).get(key) == b"v"
    finally:
        servers[1].start()


def test_fail_policy_never_writes_elsewhere(servers: list[LocalRedisServer]) -> None:
    config = {
        "backend": "redis",
        "router": "consistent_hashing",
        "max_connection_retries": 2,
        "retry_backoff": 0.01,
        "hosts": host_config(servers, 3),
    }
    cluster = create_cluster(config)
    key = key_on(cluster, 2)
    servers[2].kill()
    try:
        with pytest.raises(HostConnectionError, match="host 2"):
            cluster.set(key, "v")
        with pytest.raises(HostDownError, match="host 2"):
            cluster.set(key, "v")
        assert direct(servers[0]).get(key) is None
        assert direct(servers[1]).get(key) is None
    finally:
        servers[2].start()


def test_down_host_readmitted_after_ping(servers: list[LocalRedisServer]) -> None:
    config = {
        "backend": "redis",
        "router": "consistent_hashing",
        "max_connection_retries": 0,
        "router_options": {"retry_timeout": 0},
        "hosts": host_config(servers, 2),
    }
    cluster = create_cluster(config)
    key = key_on(cluster, 1)
    servers[1].kill()
    with pytest.raises(HostConnectionError):
        cluster.get(key)
    assert cluster.router.down == frozenset({1})
    # The retry timeout has passed, but the health check fails: still down.
    with pytest.raises(HostDownError):
        cluster.get(key)
    servers[1].start()
    assert cluster.set(key, "back") is True
    assert cluster.router.down == frozenset()
    assert direct(servers[1]).get(key) == b"back"


def test_retries_reconnect_after_restart(servers: list[LocalRedisServer]) -> None:
    config = {
        "backend": "redis",
        "router": "partition",
        "hosts": host_config(servers, 2),
    }
    cluster = create_cluster(config)
    cluster.set("stay", "1")
    owner = cluster.hosts_for("get", "stay")[0]
    servers[owner].kill()
    servers[owner].start()
    # The pooled connection is dead; the retry opens a new one.
    assert cluster.get("stay") is None
    assert cluster.set("stay", "2") is True


def test_not_retryable_router_raises_at_once(servers: list[LocalRedisServer]) -> None:
    config = {"backend": "redis", "router": "all", "hosts": host_config(servers, 2)}
    cluster = create_cluster(config)
    servers[1].kill()
    try:
        with pytest.raises(HostConnectionError, match="host 1"):
            cluster.set("everywhere", 1)
        assert cluster.router.down == frozenset()
    finally:
        servers[1].start()


def test_map_with_host_down(servers: list[LocalRedisServer]) -> None:
    config = {
        "backend": "redis",
        "router": "partition",
        "max_connection_retries": 1,
        "retry_backoff": 0.01,
        "hosts": host_config(servers, 3),
    }
    cluster = create_cluster(config)
    keys = [f"m:{index}" for index in range(60)]
    expected = {
        index for index, key in enumerate(keys) if cluster.hosts_for("get", key) == [0]
    }
    servers[0].kill()
    try:
        with pytest.raises(CommandError) as info:
            with cluster.map() as conn:
                results = [conn.set(key, 1) for key in keys]
    finally:
        servers[0].start()
    failed = {failure.index for failure in info.value.failures}
    assert failed == expected
    assert all(failure.host == 0 for failure in info.value.failures)
    assert all(
        isinstance(failure.error, HostConnectionError)
        for failure in info.value.failures
    )
    for index, result in enumerate(results):
        if index not in expected:
            assert result.value is True


def test_failed_retries_log_no_password(
    servers: list[LocalRedisServer], caplog: pytest.LogCaptureFixture
) -> None:
    config = {
        "backend": "redis",
        "router": "round_robin",
        "defaults": {"password": "pw-should-not-leak"},
        "hosts": {0: {"host": "127.0.0.1", "port": free_port()}},
    }
    cluster = create_cluster(config)
    with caplog.at_level(logging.DEBUG, logger="nydus"):
        with pytest.raises((HostConnectionError, HostDownError)):
            cluster.get("k")
    assert "marked down" in caplog.text
    assert "pw-should-not-leak" not in caplog.text
