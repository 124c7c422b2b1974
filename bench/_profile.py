"""CPU time of a run by code area, measured with cProfile.

cProfile adds a fixed cost to every Python call, so code made of many small
Python calls looks larger than it is. The shares show where time goes, not
how fast each part runs without the profiler.
"""

from __future__ import annotations

import cProfile
import pstats
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from bench._harness import Table
from bench._servers import ROOT
from nydus_core import Cluster

#: Code areas by a fragment of the source path, tested in this order.
AREAS = (
    ("/nydus_redis/_commands.py", "Nydus Redis backend: command keys"),
    ("/nydus_redis/_keyspecs.py", "Nydus Redis backend: command keys"),
    ("/nydus_redis/", "Nydus Redis backend: other"),
    ("/nydus_routers/", "Nydus routers"),
    ("/nydus_core/", "Nydus core"),
    ("/redis/", "redis-py"),
    ("/bench/", "benchmark loop"),
)
BUILT_IN = "C functions (hiredis, sockets, builtins)"
OTHER = "Python standard library"
TOP_FUNCTIONS = 12


def _area(filename: str) -> str:
    if filename == "~" or filename.startswith("<"):
        return BUILT_IN
    for fragment, name in AREAS:
        if fragment in filename:
            return name
    return OTHER


def profile(run: Callable[[], Any]) -> pstats.Stats:
    """Run ``run()`` under cProfile and return its statistics."""
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        run()
    finally:
        profiler.disable()
    return pstats.Stats(profiler)


def inline_pool(cluster: Cluster) -> None:
    """Run ``cluster``'s map() work on the calling thread, for cProfile.

    cProfile records one thread only. With every host's pipeline run
    inline, the profile contains all of the work, done one host after
    another.
    """

    def submit(function: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_result(function(*args))
        return future

    cluster.submit = submit  # type: ignore[method-assign]


def area_table(stats: pstats.Stats, caption: str) -> Table:
    """Return the share of own time (``tottime``) of each code area."""
    totals: dict[str, float] = {}
    entries: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (filename, _, _), (_, _, own, _, _) in entries.items():
        area = _area(filename)
        totals[area] = totals.get(area, 0.0) + own
    whole = sum(totals.values()) or 1.0
    table = Table(["code area", "share of CPU time"], caption=caption)
    for area, seconds in sorted(totals.items(), key=lambda item: -item[1]):
        table.rows.append([area, f"{seconds / whole:.1%}"])
    return table


def function_table(stats: pstats.Stats, caption: str) -> Table:
    """Return the functions with the most own time."""
    entries: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    whole = sum(values[2] for values in entries.values()) or 1.0
    ranked = sorted(entries.items(), key=lambda item: -item[1][2])[:TOP_FUNCTIONS]
    table = Table(
        ["function", "code area", "calls", "share of CPU time"], caption=caption
    )
    for (filename, line, name), (_, calls, own, _, _) in ranked:
        where = name if filename == "~" else f"{_short(filename)}:{line} {name}"
        table.rows.append(
            [f"`{where}`", _area(filename), f"{calls:,}", f"{own / whole:.1%}"]
        )
    return table


def _short(filename: str) -> str:
    """Return a path relative to site-packages or to the repository."""
    root = f"{ROOT}/"
    if filename.startswith(root):
        return filename[len(root) :]
    for marker in ("/site-packages/", "/lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename.rsplit("/", 2)[-1]
