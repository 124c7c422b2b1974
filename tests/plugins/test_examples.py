"""The example plugin distributions, installed as a third party's would be:
the rendezvous router by its short name, and the command counter hook
plugin, autoloaded from its entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from importlib import metadata
from typing import Any

import pytest
import redis
from nydus_command_counter import counter
from nydus_rendezvous import RendezvousRouter

from nydus_core import Cluster, HostDownError, create_cluster
from nydus_redis import LocalRedisServer

MakeCluster = Callable[..., Cluster]


@pytest.fixture
def make_cluster(
    plugin_redis_servers: list[LocalRedisServer],
) -> Iterator[MakeCluster]:
    created: list[Cluster] = []
    for server in plugin_redis_servers:
        if not server.running:
            server.start()
        client = redis.Redis(host=server.host, port=server.port)
        client.flushall()
        client.close()

    def make(**settings: Any) -> Cluster:
        hosts = {
            number: {"host": server.host, "port": server.port}
            for number, server in enumerate(plugin_redis_servers)
        }
        cluster = create_cluster(
            {"backend": "redis", "router": "rendezvous", "hosts": hosts, **settings}
        )
        created.append(cluster)
        return cluster

    yield make
    for cluster in created:
        cluster.disconnect()


def test_examples_installed_as_distributions() -> None:
    rendezvous = metadata.distribution("nydus-rendezvous")
    counter_dist = metadata.distribution("nydus-command-counter")
    assert rendezvous.version == "0.1.0"
    assert counter_dist.version == "0.1.0"
    routers = {ep.name: ep.value for ep in rendezvous.entry_points}
    assert routers == {"rendezvous": "nydus_rendezvous:RendezvousRouter"}
    plugins = {ep.name: ep.value for ep in counter_dist.entry_points}
    assert plugins == {"command_counter": "nydus_command_counter:counter"}


def test_rendezvous_by_short_name_counted(make_cluster: MakeCluster) -> None:
    cluster = make_cluster()
    assert type(cluster.router) is RendezvousRouter
    keys = [f"user:{index}" for index in range(60)]
    for index, key in enumerate(keys):
        assert cluster.set(key, index) is True
    for index, key in enumerate(keys):
        assert cluster.get(key) == str(index).encode()

    expected: dict[int, int] = {}
    for key in keys:
        host = cluster.hosts_for("get", key)[0]
        expected[host] = expected.get(host, 0) + 2
    assert counter.sent(cluster) == expected
    assert set(expected) == {0, 1, 2}
    assert counter.failed(cluster) == {}


def test_rendezvous_keys_on_their_servers(
    make_cluster: MakeCluster, plugin_redis_servers: list[LocalRedisServer]
) -> None:
    cluster = make_cluster()
    keys = [f"item:{index}" for index in range(30)]
    for key in keys:
        cluster.set(key, "x")
    for number, server in enumerate(plugin_redis_servers):
        client = redis.Redis(host=server.host, port=server.port)
        stored = {key.decode() for key in client.keys("item:*")}
        client.close()
        owned = {key for key in keys if cluster.router.get_host(key) == number}
        assert stored == owned


def test_rendezvous_remap_down_host(
    make_cluster: MakeCluster, plugin_redis_servers: list[LocalRedisServer]
) -> None:
    cluster = make_cluster(
        router_options={"ejection": "remap", "retry_timeout": 60},
        max_connection_retries=2,
        retry_backoff=0,
    )
    key = next(
        f"key:{index}"
        for index in range(100)
        if cluster.hosts_for("set", f"key:{index}") == [2]
    )
    plugin_redis_servers[2].kill()
    assert cluster.set(key, "moved") is True
    assert cluster.router.down == frozenset({2})
    new_host = cluster.hosts_for("get", key)[0]
    assert new_host in (0, 1)
    assert cluster.get(key) == b"moved"
    assert counter.failed(cluster) == {2: 1}
    assert counter.sent(cluster) == {2: 1, new_host: 2}


def test_rendezvous_fail_policy_raises(
    make_cluster: MakeCluster, plugin_redis_servers: list[LocalRedisServer]
) -> None:
    cluster = make_cluster(
        router_options={"retry_timeout": 60},
        max_connection_retries=1,
        retry_backoff=0,
    )
    key = next(
        f"key:{index}"
        for index in range(100)
        if cluster.hosts_for("set", f"key:{index}") == [1]
    )
    plugin_redis_servers[1].kill()
    with pytest.raises(ConnectionError):
        cluster.set(key, "x")
    with pytest.raises(HostDownError):
        cluster.set(key, "x")
    assert counter.failed(cluster) == {1: 2}


def test_cli_lists_examples() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "nydus_core", "plugins", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = {(row["kind"], row["name"]): row for row in json.loads(result.stdout)}
    rendezvous = rows[("router", "rendezvous")]
    assert rendezvous["distribution"] == "nydus-rendezvous"
    assert rendezvous["error"] is None
    counter_row = rows[("hook plugin", "command_counter")]
    assert counter_row["distribution"] == "nydus-command-counter"
    assert counter_row["target"] == "nydus_command_counter:counter"
    assert counter_row["error"] is None
