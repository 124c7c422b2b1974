"""``Cluster.map()`` over real redis-server processes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from nydus_core import Cluster, CommandError, EventualResult
from nydus_redis import LocalRedisServer

from .conftest import direct


def test_map_results(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster("partition", count=3)
    keys = [f"k{index}" for index in range(100)]
    with cluster.map() as conn:
        results = [conn.incr(key) for key in keys]
    assert [result.value for result in results] == [1] * 100
    with cluster.map() as conn:
        again = [conn.incrby(key, index) for index, key in enumerate(keys)]
    assert [result.value for result in again] == [1 + index for index in range(100)]


def test_map_placeholder_behaves_as_value(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster("partition", count=2)
    with cluster.map() as conn:
        result = conn.incr("placeholder")
        assert isinstance(result, EventualResult)
        assert not result.is_ready
    assert result == 1
    assert int(result) == 1
    assert result.error is None


def test_map_value_before_exit(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster("partition", count=2)
    with cluster.map() as conn:
        result = conn.get("x")
        with pytest.raises(RuntimeError, match="not ready"):
            _ = result.value


def test_map_writes_each_key_to_owner(
    make_cluster: Callable[..., Cluster], servers: list[LocalRedisServer]
) -> None:
    cluster = make_cluster("consistent_hashing", count=4)
    keys = [f"user:{index}" for index in range(400)]
    with cluster.map() as conn:
        for key in keys:
            conn.set(key, key)
    for key in keys:
        owner = cluster.hosts_for("get", key)[0]
        assert direct(servers[owner]).get(key) == key.encode()
    stored = sum(direct(server).dbsize() for server in servers)
    assert stored == 400


def test_map_one_pipeline_per_host(
    make_cluster: Callable[..., Cluster], servers: list[LocalRedisServer]
) -> None:
    cluster = make_cluster("partition", count=3)
    cluster.ping()
    before = [
        direct(server).info("stats")["total_connections_received"]
        for server in servers[:3]
    ]
    with cluster.map() as conn:
        for index in range(300):
            conn.set(f"p{index}", index)
    after = [
        direct(server).info("stats")["total_connections_received"]
        for server in servers[:3]
    ]
    # The pool's open connection serves the pipeline: at most one new
    # connection per host (the direct client's own).
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 1, 1]


def test_map_errors_collected(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster("partition", count=3)
    cluster.set("text", "abc")
    with pytest.raises(CommandError) as info:
        with cluster.map() as conn:
            good = conn.incr("number")
            bad = conn.incr("text")
    error = info.value
    assert len(error.failures) == 1
    failure = error.failures[0]
    assert failure.index == 1
    assert failure.command == "incr"
    assert failure.host == cluster.hosts_for("get", "text")[0]
    assert isinstance(failure.error, redis.ResponseError)
    assert "incr on host" in str(error)
    assert good.value == 1
    assert isinstance(bad.value, redis.ResponseError)


def test_map_fail_silently(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster("partition", count=3)
    cluster.set("text", "abc")
    with cluster.map(fail_silently=True) as conn:
        good = conn.incr("n")
        bad = conn.incr("text")
    assert good.value == 1
    assert isinstance(bad.value, redis.ResponseError)
    assert isinstance(bad.error, redis.ResponseError)


def test_map_unknown_command(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster("partition", count=2)
    with pytest.raises(CommandError) as info:
        with cluster.map() as conn:
            conn.no_such_command("k")
            ok = conn.set("k2", "v")
    assert isinstance(info.value.failures[0].error, AttributeError)
    assert ok.value is True


def test_map_fan_out_list(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster("partition", count=3)
    with cluster.map() as conn:
        pings = conn.ping()
    assert pings.value == [True, True, True]


def test_map_pool_reused(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster("partition", count=3)
    with cluster.map() as conn:
        for index in range(30):
            conn.set(f"a{index}", 1)
    executor = cluster.executor
    with cluster.map() as conn:
        for index in range(30):
            conn.set(f"b{index}", 1)
    assert cluster.executor is executor
    assert executor._max_workers == 3


def test_map_workers_limit(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster("partition", count=4)
    with cluster.map(workers=1) as conn:
        results = [conn.incr(f"w{index}") for index in range(40)]
    assert [result.value for result in results] == [1] * 40


def test_map_invalid_workers(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster("partition", count=2)
    with pytest.raises(ValueError, match="invalid workers 0"):
        cluster.map(workers=0)


def test_map_block_raises_sends_nothing(
    make_cluster: Callable[..., Cluster], servers: list[LocalRedisServer]
) -> None:
    cluster = make_cluster("partition", count=2)
    with pytest.raises(KeyError):
        with cluster.map() as conn:
            conn.set("never", 1)
            raise KeyError("boom")
    assert direct(servers[0]).get("never") is None
    assert direct(servers[1]).get("never") is None


def test_disconnect_stops_pool(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster("partition", count=2)
    with cluster.map() as conn:
        conn.set("a", 1)
        conn.set("b", 1)
    executor = cluster.executor
    cluster.disconnect()
    assert executor._shutdown
    assert cluster.get("a") == b"1"
