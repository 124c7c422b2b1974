"""Benchmark 4: how ring building, lookups and ``map()`` grow with size.

The ring part builds Nydus's Ketama ring and uhashring's for 2 to 128
hosts and looks keys up in each. The ``map()`` part sends 1,000 to 100,000
SETs in one block over four servers, beside the hand-written pipelines of
benchmark 3 on the same keys.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from bench._harness import (
    Section,
    Sizes,
    Table,
    Target,
    fmt_ms,
    fmt_ns,
    fmt_ratio,
    fmt_us,
    interleave,
    interleave_whole,
    median,
    per_item,
)
from bench._servers import cluster_config
from bench.bench_map import VALUE, HandWritten
from bench.bench_routing import host_specs, uhashring_ring
from nydus_core import Cluster, HostSpec, create_cluster
from nydus_redis import LocalRedisServer
from nydus_routers import ConsistentHashingRouter

NYDUS = "Nydus `consistent_hashing`"
UHASHRING = "uhashring ketama"
MAP = "Nydus `map()`, `consistent_hashing`"
HAND = "hand-written pipelines"
LOOKUP_CHUNKS = 4
#: ``map()`` is linear when the time per command at the largest size is at
#: most this multiple of the time per command at the middle size.
LINEAR_LIMIT = 1.2


def run(sizes: Sizes, servers: list[LocalRedisServer]) -> Section:
    rings = _ring_table(sizes)
    map_table, map_seconds = _map_table(sizes, servers, pause_gc=False)
    paused_table, paused_seconds = _map_table(sizes, servers, pause_gc=True)
    commands = sizes.scaling_commands
    middle, largest = commands[-2], commands[-1]
    growth = _growth(map_seconds, middle, largest)
    paused_growth = _growth(paused_seconds, middle, largest)
    return Section(
        number=4,
        title="Scaling",
        method=(
            "Ring build: the time to construct a `consistent_hashing` router "
            "(its ring and its bucket table) and a uhashring `HashRing` in "
            "ketama mode, both with 160 points per host, run alternately. "
            "Lookup: the time per key of `get_host` and `get_node` on that "
            f"ring over {sizes.ring_lookups:,} keys, interleaved in "
            f"{LOOKUP_CHUNKS} chunks. `map()`: one block of N SETs over four "
            "servers, and the hand-written pipelines of benchmark 3 on the "
            "same keys, run alternately, once as Python runs by default and "
            "once with the garbage collector paused. Each figure is a median "
            f"over {sizes.scaling_rounds} rounds."
        ),
        tables=[rings, map_table, paused_table],
        notes=[
            "With the cyclic garbage collector paused, the time per command of "
            f"`map()` grows {paused_growth:.2f}x from {middle:,} to {largest:,} "
            "commands. CPython 3.11 runs a full collection, which examines every "
            "tracked object, whenever the objects that survived into the oldest "
            "generation since the last one exceed a quarter of those it kept. A "
            "`map()` block keeps each command's placeholder and arguments alive "
            "until it exits, so a larger block pays for more and longer full "
            "collections. Hand-written pipelines pay the same way for redis-py's "
            "command stack."
        ],
        targets=[
            Target(
                f"`map()` linear: time per command at {largest:,} commands at most "
                f"{LINEAR_LIMIT:g}x that at {middle:,}",
                fmt_ratio(growth),
                growth <= LINEAR_LIMIT,
            )
        ],
    )


def _ring_table(sizes: Sizes) -> Table:
    table = Table(
        [
            "hosts",
            f"{NYDUS} build",
            f"{UHASHRING} build",
            f"{NYDUS} lookup",
            f"{UHASHRING} lookup",
        ],
        caption="ring build time and time per lookup",
    )
    keys = [f"key:{index}" for index in range(sizes.ring_lookups)]
    for count in sizes.ring_hosts:
        hosts = host_specs(count)
        builds = interleave_whole(
            {
                NYDUS: _timed_build(partial(ConsistentHashingRouter, hosts)),
                UHASHRING: _timed_build(partial(uhashring_ring, hosts)),
            },
            sizes.scaling_rounds,
        )
        lookups = _lookup_seconds(hosts, keys, sizes.scaling_rounds)
        table.rows.append(
            [
                str(count),
                fmt_ms(median(builds[NYDUS])),
                fmt_ms(median(builds[UHASHRING])),
                fmt_ns(per_item(median(lookups[NYDUS]), len(keys), 1e9)),
                fmt_ns(per_item(median(lookups[UHASHRING]), len(keys), 1e9)),
            ]
        )
    return table


def _timed_build(build: Callable[[], Any]) -> Callable[[], float]:
    def run() -> float:
        started = time.perf_counter()
        build()
        return time.perf_counter() - started

    return run


def _lookup_seconds(
    hosts: list[HostSpec], keys: list[str], rounds: int
) -> dict[str, list[float]]:
    lookups: dict[str, Callable[[Any], object]] = {
        NYDUS: ConsistentHashingRouter(hosts).get_host,
        UHASHRING: uhashring_ring(hosts).get_node,
    }

    def side(lookup: Callable[[Any], object]) -> Callable[[int, int], float]:
        def run(start: int, stop: int) -> float:
            part = keys[start:stop]
            started = time.perf_counter()
            for key in part:
                lookup(key)
            return time.perf_counter() - started

        return run

    return interleave(
        {name: side(lookup) for name, lookup in lookups.items()},
        len(keys),
        LOOKUP_CHUNKS,
        rounds,
    )


def _growth(seconds: dict[int, list[float]], middle: int, largest: int) -> float:
    """Return how much the time per command grows from ``middle`` to ``largest``."""
    return per_item(median(seconds[largest]), largest) / per_item(
        median(seconds[middle]), middle
    )


def _map_table(
    sizes: Sizes, servers: list[LocalRedisServer], pause_gc: bool
) -> tuple[Table, dict[int, list[float]]]:
    caption = "one block of N SETs over 4 servers"
    if pause_gc:
        caption += ", with the garbage collector paused (`gc.disable()`)"
    table = Table(
        [
            "commands",
            f"{MAP} time",
            "per command",
            f"{HAND} time",
            "per command",
        ],
        caption=caption,
    )
    cluster = create_cluster(cluster_config(servers, "consistent_hashing"))
    hand = HandWritten(servers)
    map_seconds: dict[int, list[float]] = {}
    try:
        for count in sizes.scaling_commands:
            keys = [f"key:{index}" for index in range(count)]
            sides = {MAP: _map_sets(cluster, keys), HAND: _hand_sets(hand, keys)}
            for side in sides.values():
                side()  # connect and warm up
            gc.collect()
            if pause_gc:
                gc.disable()
            try:
                seconds = interleave_whole(sides, sizes.scaling_rounds)
            finally:
                gc.enable()
            map_seconds[count] = seconds[MAP]
            table.rows.append(
                [
                    f"{count:,}",
                    fmt_ms(median(seconds[MAP])),
                    fmt_us(per_item(median(seconds[MAP]), count)),
                    fmt_ms(median(seconds[HAND])),
                    fmt_us(per_item(median(seconds[HAND]), count)),
                ]
            )
    finally:
        cluster.disconnect()
        hand.close()
    return table, map_seconds


def _map_sets(cluster: Cluster, keys: list[str]) -> Callable[[], float]:
    def run() -> float:
        started = time.perf_counter()
        with cluster.map() as conn:
            for key in keys:
                conn.set(key, VALUE)
        return time.perf_counter() - started

    return run


def _hand_sets(hand: HandWritten, keys: list[str]) -> Callable[[], float]:
    def run() -> float:
        started = time.perf_counter()
        hand.run(keys, "set", VALUE)
        return time.perf_counter() - started

    return run
