"""Timing, sizes and results shared by the benchmarks.

Every comparison runs its sides interleaved: each round runs every side on
the same work, in chunks that alternate between the sides, and the order of
the sides flips from one round to the next. A slow spell of the shared
machine then costs each side about the same. Each figure is the median of
the rounds.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

#: Runs one side on the items ``items[start:stop]`` and returns its seconds.
ChunkRunner = Callable[[int, int], float]


@dataclass(frozen=True)
class Sizes:
    """The work of one run: the full sizes of the report, or tiny ones for CI."""

    tiny: bool
    overhead_keys: int
    overhead_rounds: int
    routing_keys: int
    routing_rounds: int
    map_commands: int
    map_rounds: int
    ring_hosts: tuple[int, ...]
    ring_lookups: int
    scaling_commands: tuple[int, ...]
    scaling_rounds: int
    trace_accesses: int
    trace_chunks: int
    share_identifier_sets: int
    cassandra_inserts: int
    cassandra_rounds: int
    profile_seconds: float

    @classmethod
    def full(cls) -> Sizes:
        return cls(
            tiny=False,
            overhead_keys=20_000,
            overhead_rounds=7,
            routing_keys=1_000_000,
            routing_rounds=5,
            map_commands=20_000,
            map_rounds=15,
            ring_hosts=(2, 8, 32, 128),
            ring_lookups=200_000,
            scaling_commands=(1_000, 10_000, 100_000),
            scaling_rounds=7,
            trace_accesses=1_000_000,
            trace_chunks=20,
            share_identifier_sets=200,
            cassandra_inserts=10_000,
            cassandra_rounds=7,
            profile_seconds=8.0,
        )

    @classmethod
    def small(cls) -> Sizes:
        """Sizes that only prove that every benchmark still runs."""
        return cls(
            tiny=True,
            overhead_keys=200,
            overhead_rounds=2,
            routing_keys=2_000,
            routing_rounds=2,
            map_commands=400,
            map_rounds=2,
            ring_hosts=(2, 8),
            ring_lookups=1_000,
            scaling_commands=(100, 1_000),
            scaling_rounds=2,
            trace_accesses=2_000,
            trace_chunks=2,
            share_identifier_sets=5,
            cassandra_inserts=100,
            cassandra_rounds=2,
            profile_seconds=2.0,
        )


def interleave(
    sides: dict[str, ChunkRunner],
    total: int,
    chunks: int,
    rounds: int,
    chunk_seconds: dict[str, list[float]] | None = None,
) -> dict[str, list[float]]:
    """Run every side on ``total`` items per round; return seconds per round.

    A round splits the items into ``chunks`` slices and runs each slice on
    every side before the next slice; odd rounds reverse the side order.

    :param chunk_seconds: if given, receives each side's time of every
        chunk, in the same order for every side, so that chunk ``i`` of two
        sides ran back to back.
    """
    names = list(sides)
    bounds = chunk_bounds(total, chunks)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for round_number in range(rounds):
        order = names if round_number % 2 == 0 else names[::-1]
        spent = dict.fromkeys(names, 0.0)
        for start, stop in bounds:
            for name in order:
                elapsed = sides[name](start, stop)
                spent[name] += elapsed
                if chunk_seconds is not None:
                    chunk_seconds.setdefault(name, []).append(elapsed)
        for name in names:
            seconds[name].append(spent[name])
    return seconds


def interleave_whole(
    sides: dict[str, Callable[[], float]], rounds: int
) -> dict[str, list[float]]:
    """Run every side once per round, alternating the order; seconds per round."""
    return interleave(
        {name: _whole(run) for name, run in sides.items()},
        total=1,
        chunks=1,
        rounds=rounds,
    )


def _whole(run: Callable[[], float]) -> ChunkRunner:
    def chunk(start: int, stop: int) -> float:
        return run()

    return chunk


def chunk_bounds(total: int, chunks: int) -> list[tuple[int, int]]:
    """Split ``range(total)`` into ``chunks`` contiguous slices of near-equal size."""
    chunks = max(1, min(chunks, total))
    edges = [total * index // chunks for index in range(chunks + 1)]
    return list(itertools.pairwise(edges))


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def paired_ratio(numerator: Sequence[float], denominator: Sequence[float]) -> float:
    """Return the median of ``numerator[i] / denominator[i]``.

    Sample ``i`` of both sides ran close together in time (in one round, or
    in one chunk back to back), so each ratio is cleared of the drift
    between samples.
    """
    ratios = [a / b for a, b in zip(numerator, denominator, strict=True) if b > 0]
    return median(ratios) if ratios else float("nan")


def spread(values: Sequence[float]) -> float:
    """Return the interquartile range relative to the median (0.05 = 5%)."""
    if len(values) < 4:
        return (max(values) - min(values)) / median(values) if values else 0.0
    quartiles = statistics.quantiles(values, n=4)
    return (quartiles[2] - quartiles[0]) / median(values)


@dataclass
class Target:
    """A performance target and whether this run met it."""

    text: str
    measured: str
    met: bool | None

    @property
    def verdict(self) -> str:
        if self.met is None:
            return "not run"
        return "met" if self.met else "**not met**"


@dataclass
class Table:
    """A Markdown table: a header row and rows of cells."""

    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    caption: str = ""


@dataclass
class Section:
    """One benchmark's results, ready for the report."""

    number: int
    title: str
    method: str
    tables: list[Table] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None
    #: Versions of software this benchmark started, such as ``Cassandra``.
    versions: dict[str, str] = field(default_factory=dict)


def per_item(seconds: float, count: int, unit: float = 1e6) -> float:
    """Return the time per item in ``1/unit`` seconds (µs by default)."""
    return seconds / max(count, 1) * unit


def fmt_us(value: float) -> str:
    return f"{value:,.2f} µs" if value < 10 else f"{value:,.1f} µs"


def fmt_ns(value: float) -> str:
    return f"{value:,.0f} ns"


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}/s"


def fmt_ms(seconds: float) -> str:
    milliseconds = seconds * 1e3
    return f"{milliseconds:,.2f} ms" if milliseconds < 10 else f"{milliseconds:,.1f} ms"


def fmt_ratio(value: float) -> str:
    return f"{value:.2f}x"


def fmt_pct(value: float) -> str:
    return f"{value * 100:.1f}%"
