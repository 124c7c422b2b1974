"""Benchmark 3: ``map()`` fan-out against hand-written pipelines and RedisCluster.

Every side sends the same keys' SETs in one batch, then their GETs in
another, and returns the GET results in command order:

- Nydus ``map()`` over four plain servers;
- hand-written redis-py pipelines over the same four servers, one per
  server, executed in parallel on a reused thread pool;
- redis-py's ``RedisCluster`` pipeline on a real Redis Cluster of four
  masters.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

import redis
from redis.cluster import RedisCluster

from bench._harness import (
    Section,
    Sizes,
    Table,
    Target,
    fmt_pct,
    fmt_rate,
    fmt_ratio,
    fmt_us,
    interleave_whole,
    median,
    paired_ratio,
    per_item,
    spread,
)
from bench._profile import area_table, function_table, inline_pool, profile
from bench._servers import cluster_config, redis_cluster, use_redis_py_packer
from nydus_core import Cluster, create_cluster
from nydus_redis import LocalRedisServer

VALUE = b"v" * 32
ROUTERS = ("partition", "consistent_hashing")
HAND = "redis-py pipelines, one thread per server"
WITHOUT_PACKER = f"Nydus `map()`, `{ROUTERS[0]}`, with redis-py's packer"
REDIS_CLUSTER = "redis-py `RedisCluster` pipeline"
TARGET_OF_HAND = 0.85
TARGET_OVER_CLUSTER = 1.2
PROFILE_NOTE = (
    "The profile shows what bounds `map()`: redis-py's pipeline, which "
    "Nydus and the hand-written client both run, takes most of the time. "
    "Nydus's own share is queueing each command (one placeholder object per "
    "command), finding its keys, hashing them, and filling in the results. "
    "Python runs one thread at a time, so the four hosts' pipelines share one "
    "core whatever the thread count. Nydus sends each pipeline with its own "
    "command packer, which writes the same bytes as redis-py's in about a "
    "third of the time, and that buys back most of Nydus's own share."
)


class HandWritten:
    """The client a careful user writes without Nydus.

    It groups the keys by server with CRC-32, builds and executes each
    server's pipeline on its own thread of a pool kept between batches, and
    puts the results back in command order.

    Building the pipelines on the threads, not before, was 3 to 8% faster
    in trials on the benchmark machine: a thread builds while another waits
    for its server.
    """

    def __init__(self, servers: list[LocalRedisServer]) -> None:
        self.clients = [
            redis.Redis(host=server.host, port=server.port) for server in servers
        ]
        self.pool = ThreadPoolExecutor(max_workers=len(self.clients))

    def close(self) -> None:
        self.pool.shutdown()
        for client in self.clients:
            client.close()

    def run(self, keys: list[str], command: str, value: Any = None) -> list[Any]:
        """Run ``command`` on every key, with ``value`` when it is not None."""
        count = len(self.clients)
        groups: list[list[str]] = [[] for _ in self.clients]
        owners = []
        for key in keys:
            owner = zlib.crc32(key.encode()) % count
            groups[owner].append(key)
            owners.append(owner)

        def send(server: int) -> list[Any]:
            pipeline = self.clients[server].pipeline(transaction=False)
            queue = getattr(pipeline, command)
            if value is None:
                for key in groups[server]:
                    queue(key)
            else:
                for key in groups[server]:
                    queue(key, value)
            return list(pipeline.execute())

        replies = [iter(values) for values in self.pool.map(send, range(count))]
        return [next(replies[owner]) for owner in owners]


def set_then_get_hand(hand: HandWritten, keys: list[str]) -> Callable[[], float]:
    def run() -> float:
        started = time.perf_counter()
        hand.run(keys, "set", VALUE)
        values = hand.run(keys, "get")
        elapsed = time.perf_counter() - started
        _check(values, HAND)
        return elapsed

    return run


def set_then_get_map(cluster: Cluster, keys: list[str]) -> Callable[[], float]:
    def run() -> float:
        started = time.perf_counter()
        with cluster.map() as conn:
            for key in keys:
                conn.set(key, VALUE)
        with cluster.map() as conn:
            results = [conn.get(key) for key in keys]
        values = [result.value for result in results]
        elapsed = time.perf_counter() - started
        _check(values, "Nydus map()")
        return elapsed

    return run


def set_then_get_cluster(client: Any, keys: list[str]) -> Callable[[], float]:
    def run() -> float:
        started = time.perf_counter()
        pipeline = client.pipeline()
        for key in keys:
            pipeline.set(key, VALUE)
        pipeline.execute()
        pipeline = client.pipeline()
        for key in keys:
            pipeline.get(key)
        values = pipeline.execute()
        elapsed = time.perf_counter() - started
        _check(values, REDIS_CLUSTER)
        return elapsed

    return run


def _check(values: list[Any], side: str) -> None:
    wrong = sum(1 for value in values if value != VALUE)
    if wrong:
        raise RuntimeError(f"{side} read back {wrong} wrong values")


def run(sizes: Sizes, servers: list[LocalRedisServer]) -> Section:
    keys = [f"key:{index}" for index in range(sizes.map_commands)]
    with ExitStack() as stack:
        nodes = stack.enter_context(redis_cluster(len(servers)))
        cluster_client = RedisCluster(host=nodes[0].host, port=nodes[0].port)
        stack.callback(cluster_client.close)
        hand = HandWritten(servers)
        stack.callback(hand.close)
        sides: dict[str, Callable[[], float]] = {}
        for router in ROUTERS:
            cluster = create_cluster(cluster_config(servers, router))
            stack.callback(cluster.disconnect)
            sides[f"Nydus `map()`, `{router}`"] = set_then_get_map(cluster, keys)
        plain_packer = create_cluster(cluster_config(servers, ROUTERS[0]))
        stack.callback(plain_packer.disconnect)
        use_redis_py_packer(plain_packer)
        sides[WITHOUT_PACKER] = set_then_get_map(plain_packer, keys)
        sides[HAND] = set_then_get_hand(hand, keys)
        sides[REDIS_CLUSTER] = set_then_get_cluster(cluster_client, keys)
        for side in sides.values():
            side()  # connect and warm up
        seconds = interleave_whole(sides, sizes.map_rounds)
        profiled = create_cluster(cluster_config(servers, ROUTERS[0]))
        stack.callback(profiled.disconnect)
        inline_pool(profiled)
        stats = profile(set_then_get_map(profiled, keys))
    section = _section(sizes, len(keys), seconds)
    caption = (
        f"cProfile of one round of Nydus `map()`, `{ROUTERS[0]}`, with the "
        "hosts run one after another on one thread"
    )
    section.tables += [
        area_table(stats, caption),
        function_table(stats, "the same profile: the functions with the most own time"),
    ]
    section.notes.append(PROFILE_NOTE)
    return section


def _section(sizes: Sizes, count: int, seconds: dict[str, list[float]]) -> Section:
    commands = 2 * count
    table = Table(
        [
            "client",
            "time per round",
            "IQR",
            "commands per second",
            "time per command",
            "throughput vs hand-written",
            "throughput vs RedisCluster",
        ],
        caption=f"{count:,} SET then {count:,} GET over 4 servers per round, "
        f"{sizes.map_rounds} rounds",
    )
    for name, values in seconds.items():
        elapsed = median(values)
        table.rows.append(
            [
                name,
                f"{elapsed * 1e3:,.1f} ms",
                fmt_pct(spread(values)),
                fmt_rate(commands / elapsed),
                fmt_us(per_item(elapsed, commands)),
                fmt_ratio(paired_ratio(seconds[HAND], values)),
                fmt_ratio(paired_ratio(seconds[REDIS_CLUSTER], values)),
            ]
        )
    targets = []
    for router in ROUTERS:
        name = f"Nydus `map()`, `{router}`"
        of_hand = paired_ratio(seconds[HAND], seconds[name])
        over_cluster = paired_ratio(seconds[REDIS_CLUSTER], seconds[name])
        targets.append(
            Target(
                f"{name}: at least {TARGET_OF_HAND:.2f} of the hand-written throughput",
                fmt_ratio(of_hand),
                of_hand >= TARGET_OF_HAND,
            )
        )
        targets.append(
            Target(
                f"{name}: at least {TARGET_OVER_CLUSTER:.1f}x RedisCluster's "
                "throughput",
                fmt_ratio(over_cluster),
                over_cluster >= TARGET_OVER_CLUSTER,
            )
        )
    return Section(
        number=3,
        title="`map()` fan-out",
        method=(
            "Four plain redis-server processes serve Nydus and the hand-written "
            "client; four cluster-enabled ones, started by the benchmark as a "
            "Redis Cluster of four masters without replicas, serve "
            "`RedisCluster`. A round is one batch of SETs of 32-byte values, "
            "then one batch of GETs of the same keys, whose results are "
            "checked. The hand-written client groups the keys by server with "
            "`zlib.crc32(key) % 4`, builds and executes each server's pipeline "
            "on a thread of a pool it keeps, and puts the results back in "
            "command order, which is what `map()` returns. Nydus's Redis "
            "backend gives redis-py its own command packer, which sends the "
            "same bytes in fewer Python steps; the other two clients use "
            "redis-py's packer, and so does the row marked so, which shows "
            "Nydus's cost without the packer's gain. The targets apply to "
            "Nydus as it ships. Every side runs "
            "once per round, in an order that flips every round; the "
            "throughput ratios are medians over rounds of the other side's "
            "time over this side's."
        ),
        tables=[table],
        targets=targets,
    )
