"""Tests of the command counter against local Redis servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from nydus_command_counter import counter

from nydus_core import Cluster, CommandError, clear_cache, create_cluster
from nydus_redis import LocalRedisServer

MakeCluster = Callable[..., Cluster]


@pytest.fixture(scope="module")
def redis_servers() -> Iterator[list[LocalRedisServer]]:
    servers: list[LocalRedisServer] = []
    try:
        for _ in range(2):
            server = LocalRedisServer()
            server.start()
            servers.append(server)
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def make_cluster(redis_servers: list[LocalRedisServer]) -> Iterator[MakeCluster]:
    created: list[Cluster] = []

    def make(**config: Any) -> Cluster:
        hosts = {
            number: {"host": server.host, "port": server.port}
            for number, server in enumerate(redis_servers)
        }
        cluster = create_cluster(
            {"backend": "redis", "router": "partition", "hosts": hosts, **config}
        )
        cluster.flushdb()
        counter.reset(cluster)
        created.append(cluster)
        return cluster

    yield make
    for cluster in created:
        cluster.disconnect()


def test_counter_autoloaded_counts_per_host(make_cluster: MakeCluster) -> None:
    cluster = make_cluster()
    keys = [f"key:{index}" for index in range(20)]
    for key in keys:
        cluster.incr(key)
    expected: dict[int, int] = {}
    for key in keys:
        host = cluster.hosts_for("incr", key)[0]
        expected[host] = expected.get(host, 0) + 1
    assert counter.sent(cluster) == expected
    assert sum(expected.values()) == 20
    assert counter.failed(cluster) == {}


def test_counter_counts_failures(make_cluster: MakeCluster) -> None:
    cluster = make_cluster()
    cluster.set("name", "text")
    host = cluster.hosts_for("incr", "name")[0]
    with pytest.raises(Exception, match="not an integer"):
        cluster.incr("name")
    assert counter.sent(cluster) == {host: 2}
    assert counter.failed(cluster) == {host: 1}


def test_counter_counts_map_commands(make_cluster: MakeCluster) -> None:
    cluster = make_cluster()
    with cluster.map() as conn:
        for index in range(10):
            conn.set(f"key:{index}", index)
    assert sum(counter.sent(cluster).values()) == 10
    assert set(counter.sent(cluster)) == {0, 1}


def test_counter_counts_map_failures(make_cluster: MakeCluster) -> None:
    cluster = make_cluster()
    cluster.set("name", "text")
    counter.reset(cluster)
    host = cluster.hosts_for("incr", "name")[0]
    with pytest.raises(CommandError), cluster.map() as conn:
        conn.incr("name")
        conn.get("name")
    assert counter.sent(cluster) == {host: 2}
    assert counter.failed(cluster) == {host: 1}


def test_counter_by_name_without_autoload(
    make_cluster: MakeCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NYDUS_DISABLE_PLUGIN_AUTOLOAD", "1")
    clear_cache()
    try:
        plain = make_cluster()
        plain.get("key")
        listed = make_cluster(plugins=["command_counter"])
        listed.get("key")
    finally:
        clear_cache()
    assert counter.sent(plain) == {}
    assert sum(counter.sent(listed).values()) == 1
