"""Benchmark 6: Cassandra inserts through ``map()`` against ``execute_concurrent``.

One local Cassandra node (``tests/_servers/cassandra.py``). Both sides
insert the same rows with one prepared statement: Nydus through a
``map()`` block of the ``cassandra`` backend, the driver through its own
``execute_concurrent_with_args`` on a session of its own.
"""

from __future__ import annotations

import importlib.util
import shutil
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from bench import _spy
from bench._harness import (
    Section,
    Sizes,
    Table,
    Target,
    fmt_pct,
    fmt_rate,
    fmt_ratio,
    interleave_whole,
    median,
    paired_ratio,
    spread,
)
from bench._servers import cassandra_node_class

KEYSPACE = "nydus_bench"
TABLE = "items"
INSERT = f"INSERT INTO {KEYSPACE}.{TABLE} (id, value) VALUES (?, ?)"
VALUE = "v" * 32
#: Requests in flight at once, on both sides: the default of the driver's
#: execute_concurrent and of the backend's map() pipelines.
CONCURRENCY = 100
DRIVER = "cassandra-driver `execute_concurrent_with_args`"
NYDUS = "Nydus `map()`, `cassandra` backend"
TARGET_OF_DRIVER = 0.9
PROFILE_NOTE = (
    "In the sampled time, a thread held the GIL {busy_driver:.0%} of the time "
    "on the driver's side and {busy_nydus:.0%} on Nydus's. Per insert, the "
    "driver's side took {driver:.1f} µs of GIL time and Nydus's {nydus:.1f} µs, "
    "of which {core:.1f} µs in Nydus core.{verdict} The backend's `map()` "
    "pipeline sends each statement with `execute_async` from a Nydus worker "
    "thread, which has to take the GIL back from the driver's event loop "
    "thread each time a response frees one of its {concurrency} slots (a "
    "`threading.Semaphore`). `execute_concurrent` sends the next statement "
    "from the event loop's own callback, without that handoff. Sending from "
    "the callbacks, or through `execute_concurrent`, would keep the requests "
    "in flight without waiting for the worker thread."
)
#: The sentence of PROFILE_NOTE that compares GIL time with throughput.
CPU_SIMILAR = (
    " The GIL time per insert differs by less than the throughput does, so "
    "most of the gap is time in which Nydus's side sends nothing."
)
CPU_LARGER = (
    " Nydus's side needs more GIL time per insert, which explains part of the gap."
)

METHOD = (
    "One local Cassandra node, started by the benchmark. A keyspace with "
    "replication factor 1 holds a table `(id int PRIMARY KEY, value text)`. "
    "Each round, each side inserts the same rows with one prepared "
    f"`INSERT`, keeping up to {CONCURRENCY} requests in flight. Nydus sends "
    "them through one `map()` block "
    "(`conn.execute(INSERT, (id, value), prepare=True)` per row), the driver "
    "through `execute_concurrent_with_args` on its own session, with the "
    "token-aware load-balancing policy that the backend uses. The sides "
    "alternate within each round, in an order that flips every round; the "
    "ratio is the median over rounds of the driver's time over Nydus's."
)


def missing_requirement() -> str | None:
    """Return why this benchmark cannot run here, or ``None`` if it can."""
    if importlib.util.find_spec("nydus_pycassa") is None:
        return (
            "the Nydus Cassandra backend (`nydus-pycassa`, in "
            "`plugins/nydus_pycassa/`) is not installed"
        )
    if importlib.util.find_spec("cassandra") is None:
        return "cassandra-driver is not installed"
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            return (
                f"`{tool}` is not on PATH; the local Cassandra node needs Java 17 "
                "and Maven"
            )
    return None


def run(sizes: Sizes) -> Section:
    missing = missing_requirement()
    if missing is not None:
        return Section(number=6, title="Cassandra", method=METHOD, skipped=missing)
    with ExitStack() as stack:
        node = cassandra_node_class()()
        node.start()
        stack.callback(node.stop)
        seconds, sides = _measure(sizes, node, stack)
        profile_table, profile_note = _profile(sizes, sides, seconds)
        versions = {"Cassandra": str(node.version)}
    section = _section(sizes, seconds)
    section.versions = versions
    if profile_table is not None:
        section.tables.append(profile_table)
    section.notes.append(profile_note)
    return section


def _profile(
    sizes: Sizes,
    sides: dict[str, Callable[[], float]],
    seconds: dict[str, list[float]],
) -> tuple[Table | None, str]:
    """Sample both sides with py-spy; return the table and the note under it."""
    if not _spy.available():
        return None, (
            "No profile: py-spy is not installed here (`pip install py-spy`)."
        )
    profiles = {
        name: _spy.sample(run, sizes.profile_seconds) for name, run in sides.items()
    }
    table = _spy.per_item_table(
        profiles,
        sizes.cassandra_inserts,
        f"GIL time per insert by code area, estimated from py-spy ({_spy.RATE} "
        f"samples per second for {sizes.profile_seconds:g}s per side, all "
        "threads, only the thread holding the GIL)",
    )

    def per_insert(name: str, area: str | None = None) -> float:
        seconds = profiles[name].gil_seconds_per_run(area)
        return seconds / sizes.cassandra_inserts * 1e6

    cpu_ratio = per_insert(NYDUS) / per_insert(DRIVER)
    time_ratio = paired_ratio(seconds[NYDUS], seconds[DRIVER])
    note = PROFILE_NOTE.format(
        busy_driver=profiles[DRIVER].gil_busy,
        busy_nydus=profiles[NYDUS].gil_busy,
        driver=per_insert(DRIVER),
        nydus=per_insert(NYDUS),
        core=per_insert(NYDUS, _spy.CORE),
        verdict=_verdict(cpu_ratio, time_ratio),
        concurrency=CONCURRENCY,
    )
    return table, note


def _verdict(cpu_ratio: float, time_ratio: float) -> str:
    """Return the sentence that compares Nydus's GIL time and its time."""
    if time_ratio <= 1.0:
        return ""
    return CPU_SIMILAR if cpu_ratio < time_ratio else CPU_LARGER


def _measure(
    sizes: Sizes, node: Any, stack: ExitStack
) -> tuple[dict[str, list[float]], dict[str, Callable[[], float]]]:
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, ExecutionProfile
    from cassandra.cluster import Cluster as DriverCluster
    from cassandra.concurrent import execute_concurrent_with_args
    from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

    from nydus_core import create_cluster

    # The load-balancing policy that the Nydus backend sets up too.
    policy = TokenAwarePolicy(DCAwareRoundRobinPolicy())
    driver = DriverCluster(
        [node.host],
        port=node.port,
        execution_profiles={
            EXEC_PROFILE_DEFAULT: ExecutionProfile(load_balancing_policy=policy)
        },
    )
    stack.callback(driver.shutdown)
    session = driver.connect()
    session.execute(
        f"CREATE KEYSPACE IF NOT EXISTS {KEYSPACE} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    session.execute(
        f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.{TABLE} (id int PRIMARY KEY, "
        "value text)"
    )
    prepared = session.prepare(INSERT)
    rows = [(index, VALUE) for index in range(sizes.cassandra_inserts)]

    cluster = create_cluster(
        {
            "backend": "cassandra",
            "hosts": [f"{node.host}:{node.port}"],
            "keyspace": KEYSPACE,
        }
    )
    stack.callback(cluster.disconnect)

    def with_driver() -> float:
        started = time.perf_counter()
        results = execute_concurrent_with_args(
            session, prepared, rows, concurrency=CONCURRENCY, raise_on_first_error=True
        )
        elapsed = time.perf_counter() - started
        if len(results) != len(rows):
            raise RuntimeError(f"{DRIVER} returned {len(results)} results")
        return elapsed

    def with_nydus() -> float:
        started = time.perf_counter()
        with cluster.map() as conn:
            results = [conn.execute(INSERT, row, prepare=True) for row in rows]
        elapsed = time.perf_counter() - started
        if len(results) != len(rows):
            raise RuntimeError(f"{NYDUS} returned {len(results)} results")
        return elapsed

    sides: dict[str, Callable[[], float]] = {DRIVER: with_driver, NYDUS: with_nydus}
    for side in sides.values():
        side()  # connect, prepare and warm up
    return interleave_whole(sides, sizes.cassandra_rounds), sides


def _section(sizes: Sizes, seconds: dict[str, list[float]]) -> Section:
    table = Table(
        [
            "client",
            "time per round",
            "IQR",
            "inserts per second",
            "throughput vs driver",
        ],
        caption=f"{sizes.cassandra_inserts:,} inserts per round, "
        f"{sizes.cassandra_rounds} rounds",
    )
    for name, values in seconds.items():
        elapsed = median(values)
        table.rows.append(
            [
                name,
                f"{elapsed * 1e3:,.0f} ms",
                fmt_pct(spread(values)),
                fmt_rate(sizes.cassandra_inserts / elapsed),
                fmt_ratio(paired_ratio(seconds[DRIVER], values)),
            ]
        )
    ratio = paired_ratio(seconds[DRIVER], seconds[NYDUS])
    return Section(
        number=6,
        title="Cassandra",
        method=METHOD,
        tables=[table],
        targets=[
            Target(
                f"`map()` at least {TARGET_OF_DRIVER:.1f} of the driver's throughput",
                fmt_ratio(ratio),
                ratio >= TARGET_OF_DRIVER,
            )
        ],
    )
