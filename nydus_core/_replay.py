"""``nydus replay``: run a key trace through a cluster as a read-through cache.

Each access GETs its key and SETs it on a miss. Accesses go out in batches
through :meth:`Cluster.map`; within a batch, a key that an earlier access
of the same batch missed counts as a hit, so the hit ratio equals that of
a one-by-one replay on servers that evict nothing.
"""

from __future__ import annotations

import argparse
import lzma
import struct
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from nydus_core._cluster import Cluster
from nydus_core._config import create_cluster, load_config
from nydus_core._errors import ConfigError

BATCH_SIZE = 2000
CACHED_VALUE = b"1"


def add_replay_parser(commands: Any) -> None:
    """Add the ``replay`` subcommand to the ``nydus`` parser."""
    replay = commands.add_parser(
        "replay",
        help="replay a key trace as a read-through cache",
        description=(
            "Replay a trace through a cluster as a read-through cache (GET, and "
            "SET on a miss). TRACE is a cache2k trace (.trace or .trace.xz: "
            "big-endian 32-bit integers, replayed as keys 'obj:N') or a text "
            "file with one key per line (.xz allowed)."
        ),
    )
    replay.add_argument("trace", metavar="TRACE")
    replay.add_argument(
        "--config", help="cluster config file (TOML); default: start local servers"
    )
    replay.add_argument(
        "--router",
        default=None,
        help="router for the local servers, or to override the config's "
        "(default: consistent_hashing)",
    )
    replay.add_argument(
        "--hosts",
        type=int,
        default=None,
        help="local redis-server processes to start, without --config (default: 4)",
    )
    replay.add_argument(
        "--ttl",
        type=int,
        default=600,
        help="expiry in seconds of the keys the replay sets (default: 600)",
    )
    replay.add_argument(
        "--limit", type=int, default=None, help="replay the first N keys"
    )
    replay.set_defaults(run=run_replay)


def read_trace(path: str, limit: int | None = None) -> list[str]:
    """Read the keys of a trace file, at most ``limit`` of them."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"trace file {path!r} not found or not a file")
    opener: Any = lzma.open if file.suffix == ".xz" else open
    stem = file.name.removesuffix(".xz")
    if stem.endswith(".trace"):
        with opener(file, "rb") as stream:
            raw = stream.read() if limit is None else stream.read(4 * limit)
        count = len(raw) // 4
        return [
            f"obj:{number}" for number in struct.unpack(f">{count}i", raw[: 4 * count])
        ]
    with opener(file, "rt", encoding="utf-8") as stream:
        keys = []
        for line in stream:
            key = line.rstrip("\n")
            if key:
                keys.append(key)
                if limit is not None and len(keys) >= limit:
                    break
        return keys


def _batches(keys: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(keys), BATCH_SIZE):
        yield keys[start : start + BATCH_SIZE]


def replay(
    cluster: Cluster, keys: list[str], progress: bool = False, ttl: int = 600
) -> dict[str, Any]:
    """Replay ``keys`` through ``cluster`` and return the statistics.

    :param ttl: the expiry, in seconds, of each key set on a miss.
    """
    hits = 0
    requests: Counter[int] = Counter()
    distinct: dict[str, int] = {}
    started = time.perf_counter()
    done = 0
    for batch in _batches(keys):
        with cluster.map() as conn:
            values = [conn.get(key) for key in batch]
        missed: set[str] = set()
        with cluster.map() as conn:
            for key, value in zip(batch, values, strict=True):
                if value.value is not None or key in missed:
                    hits += 1
                    continue
                missed.add(key)
                conn.set(key, CACHED_VALUE, ex=ttl)
        for key in batch:
            host = distinct.get(key)
            if host is None:
                host = distinct[key] = cluster.hosts_for("get", key)[0]
            requests[host] += 1
        done += len(batch)
        if progress:
            _show_progress(done, len(keys), started)
    elapsed = time.perf_counter() - started
    if progress:
        print(file=sys.stderr)
    return {
        "requests": len(keys),
        "hits": hits,
        "seconds": elapsed,
        "keys_per_host": Counter(distinct.values()),
        "requests_per_host": requests,
        "distinct_keys": len(distinct),
    }


def _show_progress(done: int, total: int, started: float) -> None:
    width = 30
    filled = int(width * done / max(total, 1))
    rate = done / max(time.perf_counter() - started, 1e-9)
    bar = "#" * filled + "-" * (width - filled)
    print(f"\r[{bar}] {done}/{total} {rate:,.0f} req/s", end="", file=sys.stderr)


def print_report(cluster: Cluster, stats: dict[str, Any]) -> None:
    """Print the per-host shares, the hit ratio and the request rate."""
    header = f"{'host':<6}{'identifier':<34}{'keys':>10}"
    print(f"{header}{'key share':>11}{'request share':>15}")
    for number in cluster:
        keys = stats["keys_per_host"][number]
        requests = stats["requests_per_host"][number]
        print(
            f"{number:<6}{cluster[number].identifier:<34}{keys:>10}"
            f"{keys / max(stats['distinct_keys'], 1):>11.1%}"
            f"{requests / max(stats['requests'], 1):>15.1%}"
        )
    rate = stats["requests"] / max(stats["seconds"], 1e-9)
    print(
        f"requests {stats['requests']}, distinct keys {stats['distinct_keys']}, "
        f"hit ratio {stats['hits'] / max(stats['requests'], 1):.2%}, "
        f"{rate:,.0f} requests/s"
    )


def run_replay(options: argparse.Namespace) -> int:
    if options.config and options.hosts is not None:
        raise ConfigError(
            "--hosts starts local servers and cannot be used with --config, whose "
            "hosts are used instead"
        )
    hosts = 4 if options.hosts is None else options.hosts
    if hosts < 1:
        raise ConfigError(f"invalid --hosts {hosts}: expected 1 or more")
    if options.ttl < 1:
        raise ConfigError(f"invalid --ttl {options.ttl}: expected 1 or more seconds")
    if options.limit is not None and options.limit < 1:
        raise ConfigError(f"invalid --limit {options.limit}: expected 1 or more")
    keys = read_trace(options.trace, options.limit)
    progress = sys.stderr.isatty()
    with ExitStack() as stack:
        if options.config:
            config = load_config(options.config)
            if options.router:
                config["router"] = options.router
        else:
            config = _local_config(stack, hosts, options.router)
        cluster = stack.enter_context(create_cluster(config))
        if not cluster.router.routes_by_key:
            raise ConfigError(
                f"router {type(cluster.router).__name__} does not place each key on "
                "one host, so a cache replay through it means nothing; use a key "
                "router such as partition or consistent_hashing",
                "router",
            )
        stats = replay(cluster, keys, progress, options.ttl)
    print_report(cluster, stats)
    return 0


def _local_config(stack: ExitStack, count: int, router: str | None) -> dict[str, Any]:
    try:
        from nydus_redis import LocalRedisServer  # type: ignore[import-not-found]
    except ImportError:
        raise ConfigError(
            "nydus replay without --config starts local Redis servers and needs "
            "the Redis backend: pip install nydus-redis"
        ) from None
    hosts = {}
    for number in range(count):
        server = stack.enter_context(LocalRedisServer())
        hosts[number] = {"host": server.host, "port": server.port}
    return {
        "backend": "redis",
        "router": router or "consistent_hashing",
        "hosts": hosts,
    }
