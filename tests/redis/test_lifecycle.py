"""Cluster lifecycle on real servers: disconnect() releases every resource.

Open file descriptors are counted in ``/proc/self/fd`` (Linux), threads
with :func:`threading.active_count`.
"""

from __future__ import annotations

import gc
import os
import threading
from typing import Any

import pytest

from nydus_core import Cluster, CommandError, HostError, create_cluster
from nydus_redis import LocalRedisServer

from .conftest import host_config

CLUSTERS = 1000


def open_fds() -> int:
    """Count the process's open file descriptors.

    Collects garbage first: sockets of clients that earlier code dropped
    close only when the collector frees them.
    """
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


def exercise(cluster: Cluster) -> None:
    """Send a few commands and one map() block through ``cluster``.

    The checks hold for every router: round robin sends each call to
    another host.
    """
    assert cluster.set("life", "1") is True
    assert cluster.incr("life:count") >= 1
    with cluster.map() as conn:
        results = [conn.incr(f"life:{index}") for index in range(6)]
    assert [result.value >= 1 for result in results] == [True] * 6


def config(servers: list[LocalRedisServer], **extra: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "backend": "redis",
        "router": "partition",
        "hosts": host_config(servers, 3),
    }
    settings.update(extra)
    return settings


def test_thousand_clusters_leak_nothing(servers: list[LocalRedisServer]) -> None:
    # One cluster first, so that imports and entry-point scans are done.
    with create_cluster(config(servers)) as warm_up:
        exercise(warm_up)
    fds = open_fds()
    threads = threading.active_count()

    for _ in range(CLUSTERS):
        cluster = create_cluster(config(servers))
        exercise(cluster)
        cluster.disconnect()

    assert open_fds() == fds
    assert threading.active_count() == threads


def test_disconnect_closes_sockets(servers: list[LocalRedisServer]) -> None:
    fds = open_fds()
    threads = threading.active_count()
    cluster = create_cluster(config(servers))
    exercise(cluster)
    assert open_fds() > fds
    assert threading.active_count() > threads
    cluster.disconnect()
    assert open_fds() == fds
    assert threading.active_count() == threads
    assert [cluster[number].is_connected for number in cluster] == [False] * 3


def test_context_manager_disconnects(servers: list[LocalRedisServer]) -> None:
    fds = open_fds()
    threads = threading.active_count()
    with create_cluster(config(servers)) as cluster:
        exercise(cluster)
    assert open_fds() == fds
    assert threading.active_count() == threads


def test_usable_after_disconnect(servers: list[LocalRedisServer]) -> None:
    fds = open_fds()
    threads = threading.active_count()
    cluster = create_cluster(config(servers))
    exercise(cluster)
    cluster.disconnect()
    cluster.disconnect()
    # The next call connects again and the next map() starts a new pool.
    exercise(cluster)
    cluster.disconnect()
    assert open_fds() == fds
    assert threading.active_count() == threads


def test_disconnect_during_map(servers: list[LocalRedisServer]) -> None:
    fds = open_fds()
    threads = threading.active_count()
    cluster = create_cluster(config(servers))
    errors: list[BaseException] = []
    stop = threading.Event()

    def run_maps() -> None:
        while not stop.is_set():
            try:
                with cluster.map() as conn:
                    for index in range(12):
                        conn.incr(f"race:{index}")
            except Exception as exc:  # noqa: BLE001 - reported by the test
                errors.append(exc)

    workers = [threading.Thread(target=run_maps) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        for _ in range(50):
            cluster.disconnect()
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    cluster.disconnect()

    # disconnect() also closes the sockets of calls in flight, so they fail
    # with connection errors. But a map() racing it always gets a running
    # thread pool, never one that is shut down.
    causes = [
        failure.error
        for error in errors
        if isinstance(error, CommandError)
        for failure in error.failures
    ]
    causes += [error for error in errors if not isinstance(error, CommandError)]
    runtime_errors = [
        repr(cause) for cause in causes if isinstance(cause, RuntimeError)
    ]
    other_errors = [type(cause) for cause in causes if not isinstance(cause, HostError)]
    # The errors' tracebacks reference the clients whose sockets they hold.
    # A call in flight during disconnect() may open a socket in a client that
    # disconnect() already closed; it closes when the client is freed.
    del causes
    errors.clear()
    gc.collect()

    assert runtime_errors == []
    assert other_errors == []
    assert open_fds() == fds
    assert threading.active_count() == threads


def test_no_thread_before_map(servers: list[LocalRedisServer]) -> None:
    threads = threading.active_count()
    cluster = create_cluster(config(servers))
    assert cluster.incr("no-thread") == 1
    assert threading.active_count() == threads
    cluster.disconnect()


@pytest.mark.parametrize("router", ["consistent_hashing", "round_robin"])
def test_other_routers_leak_nothing(
    servers: list[LocalRedisServer], router: str
) -> None:
    with create_cluster(config(servers, router=router)) as warm_up:
        exercise(warm_up)
    fds = open_fds()
    threads = threading.active_count()
    for _ in range(100):
        with create_cluster(config(servers, router=router)) as cluster:
            exercise(cluster)
    assert open_fds() == fds
    assert threading.active_count() == threads
