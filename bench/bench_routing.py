"""Benchmark 2: the cost of routing one key to its host.

Nydus's ``partition`` and ``consistent_hashing`` routers against uhashring's
ketama ring and redis-py's Redis Cluster key slot function, each over the
same ``str`` keys. Nothing connects to a server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from redis.crc import key_slot
from uhashring import HashRing

from bench._harness import (
    ChunkRunner,
    Section,
    Sizes,
    Table,
    Target,
    fmt_ns,
    fmt_pct,
    fmt_ratio,
    interleave,
    median,
    paired_ratio,
    per_item,
    spread,
)
from nydus_core import HostSpec
from nydus_routers import ConsistentHashingRouter, PartitionRouter

HOSTS = 4
CHUNKS = 10
UHASHRING = "uhashring `HashRing`, ketama"
CONSISTENT = "Nydus `consistent_hashing`"
TARGET_SPEEDUP = 2.0
TARGET_NS = 1000.0


def host_specs(count: int) -> list[HostSpec]:
    """Return ``count`` hosts named as Nydus names Redis hosts by default."""
    return [
        HostSpec(number, f"redis://127.0.0.1:{6379 + number}/0")
        for number in range(count)
    ]


def uhashring_ring(hosts: list[HostSpec]) -> Any:
    return HashRing(nodes=[host.identifier for host in hosts], hash_fn="ketama")


def _lookups(lookup: Callable[[Any], object], keys: list[Any]) -> ChunkRunner:
    def run(start: int, stop: int) -> float:
        part = keys[start:stop]
        started = time.perf_counter()
        for key in part:
            lookup(key)
        return time.perf_counter() - started

    return run


def _key_slot_of_str(key: str) -> int:
    # A Redis Cluster client encodes a str key before it computes the slot.
    return key_slot(key.encode())


def run(sizes: Sizes) -> Section:
    hosts = host_specs(HOSTS)
    keys = [f"key:{index}" for index in range(sizes.routing_keys)]
    sides = {
        "Nydus `partition`": _lookups(PartitionRouter(hosts).get_host, keys),
        CONSISTENT: _lookups(ConsistentHashingRouter(hosts).get_host, keys),
        UHASHRING: _lookups(uhashring_ring(hosts).get_node, keys),
        "redis-py `key_slot`": _lookups(_key_slot_of_str, keys),
    }
    chunks: dict[str, list[float]] = {}
    seconds = interleave(
        sides, len(keys), CHUNKS, sizes.routing_rounds, chunk_seconds=chunks
    )
    return _section(sizes, len(keys), seconds, chunks)


def _section(
    sizes: Sizes,
    count: int,
    seconds: dict[str, list[float]],
    chunks: dict[str, list[float]],
) -> Section:
    reference = chunks[UHASHRING]
    table = Table(
        ["router", "time per key", "IQR", "speed vs uhashring"],
        caption=f"{count:,} keys over {HOSTS} hosts per round, "
        f"{sizes.routing_rounds} rounds",
    )
    for name, values in seconds.items():
        table.rows.append(
            [
                name,
                fmt_ns(per_item(median(values), count, 1e9)),
                fmt_pct(spread(values)),
                fmt_ratio(paired_ratio(reference, chunks[name])),
            ]
        )
    consistent_ns = per_item(median(seconds[CONSISTENT]), count, 1e9)
    speedup = paired_ratio(reference, chunks[CONSISTENT])
    return Section(
        number=2,
        title="Routing cost per key",
        method=(
            f"Each router maps the same `str` keys (`key:0`, `key:1`, ...) to "
            f"one of {HOSTS} hosts through its public lookup. That is "
            "`get_host(key)` for Nydus, `get_node(key)` for uhashring and "
            "`key_slot(key.encode())` for redis-py, whose Redis Cluster client "
            "encodes a key before it computes its slot. The time includes the "
            f"Python loop around the call. A round runs {CHUNKS} chunks of the "
            "keys on every router in turn; the speed ratio is the median over "
            "all chunks of uhashring's time over the router's time for the same "
            "chunk."
        ),
        tables=[table],
        targets=[
            Target(
                f"`consistent_hashing` at least {TARGET_SPEEDUP:g}x as fast as "
                "uhashring",
                fmt_ratio(speedup),
                speedup >= TARGET_SPEEDUP,
            ),
            Target(
                "`consistent_hashing` at most 1 µs per key",
                fmt_ns(consistent_ns),
                consistent_ns <= TARGET_NS,
            ),
        ],
    )
