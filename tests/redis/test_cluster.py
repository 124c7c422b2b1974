"""The cluster over real redis-server processes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from nydus_core import Cluster, create_cluster
from nydus_redis import LocalRedisServer

from .conftest import direct, host_config


def owner_of(cluster: Cluster, key: str) -> int:
    hosts = cluster.hosts_for("get", key)
    assert len(hosts) == 1
    return hosts[0]


def test_readme_example(servers: list[LocalRedisServer]) -> None:
    # The README's example, pointed at a test server through 'defaults'.
    server = servers[0]
    cluster = create_cluster(
        {
            "backend": "redis",
            "router": "partition",
            "hosts": {0: {"db": 0}, 1: {"db": 1}, 2: {"db": 2}},
            "defaults": {"host": server.host, "port": server.port},
        }
    )
    with cluster:
        assert cluster.incr("foo") == 1
        assert cluster.incr("foo") == 2
    owner = owner_of(cluster, "foo")
    client = redis.Redis(host=server.host, port=server.port, db=owner)
    assert client.get("foo") == b"2"
    client.close()


def test_incr_lands_on_owner(
    make_cluster: Callable[..., Cluster], servers: list[LocalRedisServer]
) -> None:
    cluster = make_cluster("partition", count=3)
    keys = [f"counter:{index}" for index in range(30)]
    for key in keys:
        assert cluster.incr(key) == 1
    for key in keys:
        owner = owner_of(cluster, key)
        for number in range(3):
            stored = direct(servers[number]).get(key)
            assert stored == (b"1" if number == owner else None), (key, number)


def test_consistent_hashing_owner(
    make_cluster: Callable[..., Cluster], servers: list[LocalRedisServer]
) -> None:
    cluster = make_cluster("consistent_hashing", count=3)
    cluster.set("user:7", "x")
    owner = owner_of(cluster, "user:7")
    assert direct(servers[owner]).get("user:7") == b"x"


def test_keyless_goes_to_every_host(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster("partition", count=3)
    assert cluster.ping() == [True, True, True]
    assert cluster.hosts_for("dbsize") == [0, 1, 2]


def test_all_router_every_host(
    make_cluster: Callable[..., Cluster], servers: list[LocalRedisServer]
) -> None:
    cluster = make_cluster("all", count=2)
    assert cluster.set("shared", "v") == [True, True]
    assert direct(servers[0]).get("shared") == b"v"
    assert direct(servers[1]).get("shared") == b"v"


def test_round_robin_alternates(
    make_cluster: Callable[..., Cluster], servers: list[LocalRedisServer]
) -> None:
    cluster = make_cluster("round_robin", count=2)
    for index in range(4):
        cluster.set(f"rr:{index}", index)
    assert sorted(direct(servers[0]).keys("rr:*")) == [b"rr:0", b"rr:2"]
    assert sorted(direct(servers[1]).keys("rr:*")) == [b"rr:1", b"rr:3"]


def test_dotted_call(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster("partition", count=2)
    encoders = cluster.connection_pool.get_encoder()
    assert len(encoders) == 2
    assert encoders[0].encode("x") == b"x"


def test_get_conn_by_key(
    make_cluster: Callable[..., Cluster], servers: list[LocalRedisServer]
) -> None:
    cluster = make_cluster("partition", count=3)
    connection = cluster.get_conn("some-key")
    owner = owner_of(cluster, "some-key")
    assert isinstance(connection, redis.Redis)
    assert connection.connection_pool.connection_kwargs["port"] == servers[owner].port


def test_get_conn_all(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster("partition", count=3)
    connections = cluster.get_conn()
    assert len(connections) == 3


def test_len_iter_index(
    make_cluster: Callable[..., Cluster], servers: list[LocalRedisServer]
) -> None:
    cluster = make_cluster("partition", count=3)
    assert len(cluster) == 3
    assert list(cluster) == [0, 1, 2]
    assert cluster[1].identifier == f"redis://127.0.0.1:{servers[1].port}/0"
    assert cluster[1].set("direct", "1") is True
    assert direct(servers[1]).get("direct") == b"1"


def test_context_manager_closes(servers: list[LocalRedisServer]) -> None:
    config = {
        "backend": "redis",
        "router": "partition",
        "hosts": host_config(servers, 2),
    }
    with create_cluster(config) as cluster:
        cluster.ping()
        assert all(cluster[number].is_connected for number in cluster)
    assert not any(cluster[number].is_connected for number in cluster)


def test_error_reply_passes_through(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster("partition", count=2)
    cluster.set("text", "abc")
    with pytest.raises(redis.ResponseError, match="not an integer"):
        cluster.incr("text")
    assert cluster.router.down == frozenset()


def test_identifier_without_password(servers: list[LocalRedisServer]) -> None:
    config = {
        "backend": "redis",
        "hosts": {
            0: {"host": "127.0.0.1", "port": servers[0].port, "password": "s3cret-pw"}
        },
    }
    cluster = create_cluster(config)
    assert "s3cret-pw" not in cluster[0].identifier
    assert "s3cret-pw" not in repr(cluster[0])
    assert "s3cret-pw" not in repr(cluster)
