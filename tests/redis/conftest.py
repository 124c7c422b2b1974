"""Real redis-server processes for the Redis backend's tests.

The servers start once per test session on free loopback ports and stop at
its end. A server that cannot start fails the tests that need it: nothing
is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
import redis

from nydus_core import Cluster, create_cluster
from nydus_redis import LocalRedisServer

SERVER_COUNT = 4


@contextmanager
def running_servers(
    count: int, extra_args: Sequence[str] = (), binary: str | None = None
) -> Iterator[list[LocalRedisServer]]:
    """Start ``count`` redis-server processes and stop them on exit."""
    started: list[LocalRedisServer] = []
    try:
        for _ in range(count):
            server = LocalRedisServer(extra_args=extra_args, binary=binary)
            server.start()
            started.append(server)
        yield started
    finally:
        for server in started:
            server.stop()


@pytest.fixture(scope="session")
def redis_servers() -> Iterator[list[LocalRedisServer]]:
    """Four running redis-server processes."""
    with running_servers(SERVER_COUNT) as started:
        yield started


@pytest.fixture
def servers(redis_servers: list[LocalRedisServer]) -> list[LocalRedisServer]:
    """The session's servers, running and emptied before the test."""
    for server in redis_servers:
        if not server.running:
            server.start()
        client = redis.Redis(host=server.host, port=server.port)
        try:
            client.flushall()
        finally:
            client.close()
    return redis_servers


def host_config(
    servers: list[LocalRedisServer], count: int
) -> dict[int, dict[str, Any]]:
    """Return a ``hosts`` config for the first ``count`` servers."""
    return {
        number: {"host": server.host, "port": server.port}
        for number, server in enumerate(servers[:count])
    }


@pytest.fixture
def make_cluster(servers: list[LocalRedisServer]) -> Iterator[Callable[..., Cluster]]:
    """Build clusters over the servers and close them after the test."""
    created: list[Cluster] = []

    def make(router: str = "partition", count: int = 3, **config: Any) -> Cluster:
        settings = {
            "backend": "redis",
            "router": router,
            "hosts": host_config(servers, count),
        }
        settings.update(config)
        cluster = create_cluster(settings)
        created.append(cluster)
        return cluster

    yield make
    for cluster in created:
        cluster.disconnect()


def direct(server: LocalRedisServer) -> redis.Redis:
    """Return a plain redis-py client of ``server``, bypassing Nydus."""
    return redis.Redis(host=server.host, port=server.port)
