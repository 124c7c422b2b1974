"""Benchmark 1: the cost of one command through Nydus against plain redis-py.

A Nydus cluster of one host and a plain ``redis.Redis`` client talk to the
same server. Each runs every key's SET, then every key's GET, one command
at a time, in interleaved chunks.
"""

from __future__ import annotations

import time
from typing import Any

import redis

from bench._harness import (
    ChunkRunner,
    Section,
    Sizes,
    Table,
    Target,
    fmt_pct,
    fmt_ratio,
    fmt_us,
    interleave,
    median,
    paired_ratio,
    per_item,
    spread,
)
from bench._servers import cluster_config, use_redis_py_packer
from nydus_core import create_cluster
from nydus_redis import LocalRedisServer

VALUE = b"v" * 32
ROUTERS = ("partition", "consistent_hashing")
BASELINE = "redis-py `Redis`"
WITHOUT_PACKER = f"Nydus, `{ROUTERS[0]}`, with redis-py's packer"
TARGET_RATIO = 1.10
CHUNKS = 20


def _one_by_one(client: Any, keys: list[str]) -> ChunkRunner:
    def run(start: int, stop: int) -> float:
        part = keys[start:stop]
        started = time.perf_counter()
        for key in part:
            client.set(key, VALUE)
        for key in part:
            client.get(key)
        return time.perf_counter() - started

    return run


def run(sizes: Sizes, servers: list[LocalRedisServer]) -> Section:
    server = servers[0]
    keys = [f"key:{index}" for index in range(sizes.overhead_keys)]
    plain = redis.Redis(host=server.host, port=server.port)
    clusters = {
        router: create_cluster(cluster_config([server], router)) for router in ROUTERS
    }
    plain_packer = create_cluster(cluster_config([server], ROUTERS[0]))
    use_redis_py_packer(plain_packer)
    try:
        sides = {BASELINE: _one_by_one(plain, keys)}
        for router, cluster in clusters.items():
            sides[f"Nydus, `{router}`"] = _one_by_one(cluster, keys)
        sides[WITHOUT_PACKER] = _one_by_one(plain_packer, keys)
        for side in sides.values():
            side(0, min(100, len(keys)))  # connect and warm up
        chunks: dict[str, list[float]] = {}
        seconds = interleave(
            sides, len(keys), CHUNKS, sizes.overhead_rounds, chunk_seconds=chunks
        )
        _check_values(plain, keys)
    finally:
        plain.close()
        for cluster in [*clusters.values(), plain_packer]:
            cluster.disconnect()
    return _section(sizes, keys, seconds, chunks)


def _check_values(client: redis.Redis, keys: list[str]) -> None:
    if client.get(keys[-1]) != VALUE:
        raise RuntimeError(f"benchmark 1 read back a wrong value for {keys[-1]!r}")


def _section(
    sizes: Sizes,
    keys: list[str],
    seconds: dict[str, list[float]],
    chunks: dict[str, list[float]],
) -> Section:
    commands = 2 * len(keys)
    base = chunks[BASELINE]
    table = Table(
        ["client", "time per command", "IQR", "time vs redis-py"],
        caption=f"{len(keys):,} SET then {len(keys):,} GET per round, "
        f"{sizes.overhead_rounds} rounds",
    )
    targets = []
    for name, values in seconds.items():
        ratio = paired_ratio(chunks[name], base)
        table.rows.append(
            [
                name,
                fmt_us(per_item(median(values), commands)),
                fmt_pct(spread(values)),
                fmt_ratio(ratio),
            ]
        )
        if name not in (BASELINE, WITHOUT_PACKER):
            targets.append(
                Target(
                    f"{name}: at most {TARGET_RATIO:.2f}x redis-py's time",
                    fmt_ratio(ratio),
                    ratio <= TARGET_RATIO,
                )
            )
    return Section(
        number=1,
        title="Per-command overhead",
        method=(
            "One redis-server. A Nydus cluster of that one host and a plain "
            "redis-py client each send every key's SET, then every key's GET, "
            "one command at a time and waiting for each reply. A round splits "
            f"the keys into {CHUNKS} chunks and runs each chunk on every client "
            "before the next; the client order flips every round. The ratio is "
            "the median over all chunks of Nydus's time over redis-py's time "
            "for the same chunk of the same round. Nydus's Redis backend gives "
            "redis-py its own command packer (same bytes, fewer Python steps); "
            "the plain client uses redis-py's, and so does the row marked so, "
            "which shows Nydus's cost without the packer's gain. The targets "
            "apply to Nydus as it ships."
        ),
        tables=[table],
        targets=targets,
    )
