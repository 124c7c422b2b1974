"""Commands split across hosts: MGET, MSET, DEL, UNLINK, EXISTS, TOUCH.

Each result through a three-host cluster is compared with the result of
a fourth, separate redis-server that stores every key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis

from nydus_core import Cluster
from nydus_redis import LocalRedisServer

from .conftest import direct

KEYS = [f"split:{index}" for index in range(24)]


@pytest.fixture
def cluster(make_cluster: Callable[..., Cluster]) -> Cluster:
    """A partition cluster over the first three servers."""
    return make_cluster("partition", count=3)


@pytest.fixture
def reference(servers: list[LocalRedisServer]) -> redis.Redis:
    """A client of the fourth server, which no cluster uses."""
    return direct(servers[3])


def fill(conn: Any, keys: list[str]) -> None:
    """Store ``value:<key>`` under each key, one command at a time."""
    for key in keys:
        conn.set(key, f"value:{key}")


def owners(cluster: Cluster, keys: list[str]) -> set[int]:
    return {cluster.hosts_for("get", key)[0] for key in keys}


def command_calls(server: LocalRedisServer, name: str) -> int:
    stats = direct(server).info("commandstats")
    return int(stats.get(f"cmdstat_{name}", {}).get("calls", 0))


def reset_stats(servers: list[LocalRedisServer]) -> None:
    for server in servers:
        direct(server).config_resetstat()


def test_split_keys_span_every_host(cluster: Cluster) -> None:
    assert owners(cluster, KEYS) == {0, 1, 2}


def test_mget_matches_one_server(cluster: Cluster, reference: redis.Redis) -> None:
    stored = KEYS[::2]
    fill(cluster, stored)
    fill(reference, stored)
    # Missing keys, a duplicate and the caller's order, across all hosts.
    asked = [KEYS[5], KEYS[0], KEYS[3], KEYS[0], KEYS[14], "split:missing", KEYS[1]]
    assert len(owners(cluster, asked)) == 3

    result = cluster.mget(asked)

    assert result == reference.mget(asked)
    assert result[1] == f"value:{KEYS[0]}".encode()
    assert result[2] is None


def test_mget_positional_form(cluster: Cluster, reference: redis.Redis) -> None:
    fill(cluster, KEYS[:6])
    fill(reference, KEYS[:6])
    result = cluster.mget(KEYS[0], KEYS[1], KEYS[2], KEYS[5])
    assert result == reference.mget(KEYS[0], KEYS[1], KEYS[2], KEYS[5])
    assert result == [f"value:{key}".encode() for key in [*KEYS[:3], KEYS[5]]]


def test_mget_one_command_per_host(
    cluster: Cluster, servers: list[LocalRedisServer]
) -> None:
    fill(cluster, KEYS)
    reset_stats(servers[:3])
    result = cluster.mget(KEYS)
    assert result == [f"value:{key}".encode() for key in KEYS]
    assert [command_calls(server, "mget") for server in servers[:3]] == [1, 1, 1]
    assert [command_calls(server, "get") for server in servers[:3]] == [0, 0, 0]


def test_mset_matches_one_server(
    cluster: Cluster, reference: redis.Redis, servers: list[LocalRedisServer]
) -> None:
    mapping = {key: f"m:{index}" for index, key in enumerate(KEYS)}
    reset_stats(servers[:3])

    result = cluster.mset(mapping)

    assert result == reference.mset(mapping)
    assert result is True
    assert cluster.mget(KEYS) == reference.mget(KEYS)
    assert [command_calls(server, "mset") for server in servers[:3]] == [1, 1, 1]
    for key in KEYS:
        owner = cluster.hosts_for("get", key)[0]
        assert direct(servers[owner]).get(key) == mapping[key].encode()


@pytest.mark.parametrize("command", ["delete", "unlink"])
def test_delete_counts_match_one_server(
    command: str, cluster: Cluster, reference: redis.Redis
) -> None:
    stored = KEYS[:12]
    fill(cluster, stored)
    fill(reference, stored)
    # Stored and missing keys, and one key twice, which counts once.
    asked = [KEYS[0], KEYS[1], KEYS[0], KEYS[13], KEYS[2], KEYS[20], KEYS[7]]
    assert len(owners(cluster, asked)) == 3

    result = getattr(cluster, command)(*asked)

    assert result == getattr(reference, command)(*asked)
    assert result == 4
    assert cluster.mget(KEYS) == reference.mget(KEYS)


def test_exists_counts_match_one_server(
    cluster: Cluster, reference: redis.Redis
) -> None:
    fill(cluster, KEYS[:12])
    fill(reference, KEYS[:12])
    # EXISTS counts a key given twice twice.
    asked = [KEYS[0], KEYS[0], KEYS[3], KEYS[15], KEYS[8], KEYS[2]]
    assert len(owners(cluster, asked)) == 3

    result = cluster.exists(*asked)

    assert result == reference.exists(*asked)
    assert result == 5


def test_touch_counts_match_one_server(
    cluster: Cluster, reference: redis.Redis
) -> None:
    fill(cluster, KEYS[:10])
    fill(reference, KEYS[:10])
    asked = [KEYS[1], KEYS[4], KEYS[11], KEYS[6], KEYS[2], KEYS[22]]
    assert len(owners(cluster, asked)) == 3

    result = cluster.touch(*asked)

    assert result == reference.touch(*asked)
    assert result == 4


def test_split_in_map_matches_one_server(
    cluster: Cluster, reference: redis.Redis, servers: list[LocalRedisServer]
) -> None:
    fill(reference, KEYS[:8])
    reset_stats(servers[:3])
    with cluster.map() as conn:
        stored = conn.mset({key: f"value:{key}" for key in KEYS[:8]})
        values = conn.mget(KEYS[:10])
        counted = conn.exists(*KEYS[:10])
        deleted = conn.delete(KEYS[0], KEYS[9], KEYS[3])
    calls = [command_calls(server, "mget") for server in servers[:3]]
    assert stored.value is True
    assert values.value == reference.mget(KEYS[:10])
    assert counted.value == reference.exists(*KEYS[:10])
    assert deleted.value == reference.delete(KEYS[0], KEYS[9], KEYS[3])
    assert cluster.mget(KEYS) == reference.mget(KEYS)
    # Each host got its part of the MGET once, in its pipeline.
    assert calls == [1, 1, 1]


def test_split_hosts_for_lists_every_part(cluster: Cluster) -> None:
    assert cluster.hosts_for("mget", KEYS) == [0, 1, 2]
    assert cluster.hosts_for("delete", *KEYS[:1]) == [
        cluster.hosts_for("get", KEYS[0])[0]
    ]


def test_hash_tag_keeps_keys_on_one_host(
    make_cluster: Callable[..., Cluster], servers: list[LocalRedisServer]
) -> None:
    cluster = make_cluster(
        "consistent_hashing", count=3, router_options={"hash_tag": "{}"}
    )
    keys = [f"{{cart:9}}:item:{index}" for index in range(20)]
    assert owners(cluster, keys) == {cluster.hosts_for("get", "cart:9")[0]}
    reset_stats(servers[:3])

    cluster.mset({key: "1" for key in keys})

    owner = cluster.hosts_for("get", keys[0])[0]
    calls = [command_calls(server, "mset") for server in servers[:3]]
    assert calls[owner] == 1
    assert sum(calls) == 1
    assert direct(servers[owner]).dbsize() == 20
