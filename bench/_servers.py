"""The servers the benchmarks run against, all local and on loopback.

Four plain ``redis-server`` processes serve Nydus and the hand-written
redis-py clients; four more, cluster-enabled, form a real Redis Cluster of
four masters for redis-py's ``RedisCluster``. A Cassandra node starts only
for the Cassandra benchmark. Every server stops when its context exits.
"""

from __future__ import annotations

import importlib.util
import logging
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import redis

from nydus_core import Cluster
from nydus_redis import LocalRedisServer

logger = logging.getLogger("nydus.bench")

ROOT = Path(__file__).resolve().parent.parent
CLUSTER_SLOTS = 16384
#: Seconds to wait for a new Redis Cluster to agree on its slots.
CLUSTER_READY_TIMEOUT = 30.0


@contextmanager
def redis_servers(count: int) -> Iterator[list[LocalRedisServer]]:
    """Start ``count`` plain redis-server processes; stop them on exit."""
    with ExitStack() as stack:
        servers = [stack.enter_context(LocalRedisServer()) for _ in range(count)]
        yield servers


def flush(servers: list[LocalRedisServer]) -> None:
    """Empty every database of every server."""
    for server in servers:
        client = redis.Redis(host=server.host, port=server.port)
        try:
            client.flushall()
        finally:
            client.close()


def _free_ports(count: int) -> list[int]:
    """Return distinct loopback ports that were free a moment ago."""
    probes: list[socket.socket] = []
    try:
        for _ in range(count):
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            probe.bind(("127.0.0.1", 0))
            probes.append(probe)
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


@contextmanager
def redis_cluster(masters: int) -> Iterator[list[LocalRedisServer]]:
    """Start a Redis Cluster of ``masters`` masters without replicas.

    Each node gets its own cluster bus port (``--cluster-port``), so no port
    has to be free 10000 above another. The slots are split into equal
    ranges with ``CLUSTER ADDSLOTSRANGE``, the nodes meet with
    ``CLUSTER MEET``, and the context waits for ``cluster_state:ok``.
    """
    with ExitStack() as stack:
        nodes: list[LocalRedisServer] = []
        buses: list[int] = []
        for _ in range(masters):
            port, bus = _free_ports(2)
            node = LocalRedisServer(
                extra_args=[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-port",
                    str(bus),
                ]
            )
            node.port = port
            stack.enter_context(node)
            nodes.append(node)
            buses.append(bus)
        _form_cluster(nodes, buses)
        yield nodes


def _form_cluster(nodes: list[LocalRedisServer], buses: list[int]) -> None:
    clients: list[Any] = [redis.Redis(host=node.host, port=node.port) for node in nodes]
    try:
        edges = [CLUSTER_SLOTS * index // len(nodes) for index in range(len(nodes) + 1)]
        for index, client in enumerate(clients):
            client.execute_command(
                "CLUSTER", "ADDSLOTSRANGE", edges[index], edges[index + 1] - 1
            )
        for node, bus in zip(nodes[1:], buses[1:], strict=True):
            clients[0].execute_command("CLUSTER", "MEET", node.host, node.port, bus)
        _wait_cluster_ok(clients)
    finally:
        for client in clients:
            client.close()


def _wait_cluster_ok(clients: list[redis.Redis]) -> None:
    deadline = time.monotonic() + CLUSTER_READY_TIMEOUT
    info: dict[str, Any] = {}
    while time.monotonic() < deadline:
        infos = [client.cluster("INFO") for client in clients]
        if all(_cluster_ready(info, len(clients)) for info in infos):
            return
        info = infos[0]
        time.sleep(0.1)
    raise RuntimeError(
        f"the Redis Cluster of {len(clients)} nodes was not ready after "
        f"{CLUSTER_READY_TIMEOUT:g}s; CLUSTER INFO of its first node: {info}"
    )


def _cluster_ready(info: dict[str, Any], count: int) -> bool:
    return (
        str(info.get("cluster_state")) == "ok"
        and int(info.get("cluster_known_nodes", 0)) == count
        and int(info.get("cluster_slots_ok", 0)) == CLUSTER_SLOTS
    )


def redis_server_version() -> str:
    """Return the version of the redis-server binary that the servers run."""
    from nydus_redis import find_redis_server

    output = subprocess.run(
        [find_redis_server(), "--version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for part in output.split():
        if part.startswith("v="):
            return part[2:]
    return output.strip()


def cassandra_node_class() -> Any:
    """Return the test suite's ``CassandraNode`` class.

    It lives in ``tests/_servers/cassandra.py``, outside any installed
    distribution, so it is loaded from its file.
    """
    path = ROOT / "tests" / "_servers" / "cassandra.py"
    spec = importlib.util.spec_from_file_location("nydus_bench_cassandra", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load the Cassandra node harness from {path}")
    module = importlib.util.module_from_spec(spec)
    # Registered first: dataclasses and typing look a class's module up.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.CassandraNode


def cluster_config(servers: list[LocalRedisServer], router: str) -> dict[str, Any]:
    """Return a Nydus config for ``servers``, in order, behind ``router``."""
    return {
        "backend": "redis",
        "router": router,
        "hosts": {
            number: {"host": server.host, "port": server.port}
            for number, server in enumerate(servers)
        },
    }


def use_redis_py_packer(cluster: Cluster) -> None:
    """Make ``cluster``'s Redis hosts pack commands with redis-py's own packer.

    Nydus's Redis backend installs a faster packer on each client's pool;
    removing it before the first connection shows what the rest costs.
    """
    for number in cluster:
        pool = cluster[number].connection.connection_pool
        pool.connection_kwargs.pop("command_packer", None)
        pool.disconnect()
