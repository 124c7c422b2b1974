"""Sampling profiles of this process with py-spy, across all its threads.

cProfile records one thread, but a Cassandra client spends its time on two:
the caller's and the driver's event loop. py-spy samples every thread from
outside the process. Only samples of the thread that holds the GIL are
kept, so the shares are shares of Python's one-at-a-time CPU time. The
driver's compiled (Cython) modules have no Python frames, so their time is
counted on the line that called them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench._harness import Table

#: Samples per second; py-spy's default is 100.
RATE = 200
#: Seconds for py-spy to attach before the sampled work starts.
ATTACH_SECONDS = 1.0

HANDOFFS = "thread handoffs (locks, conditions, events)"
CORE = "Nydus core"
#: Code areas by a fragment of the innermost frame, tested in this order.
AREAS = (
    ("threading.py", HANDOFFS),
    ("queue.py", HANDOFFS),
    (
        "nydus_pycassa/",
        "Nydus Cassandra backend, with the compiled driver calls it makes",
    ),
    ("nydus_core/", CORE),
    ("bench/", "compiled driver calls made by the benchmark"),
    ("cassandra/io/", "driver event loop"),
    ("cassandra/", "driver, other Python code"),
)
OTHER = "other"


def available() -> bool:
    return shutil.which("py-spy") is not None


@dataclass
class Profile:
    """The GIL-holding samples of one side, and how much work it did meanwhile."""

    counts: Counter[str]
    sampled_seconds: float
    runs: int
    run_seconds: float

    @property
    def gil_busy(self) -> float:
        """The share of the sampled time in which a thread held the GIL."""
        return sum(self.counts.values()) / RATE / self.sampled_seconds

    def gil_seconds_per_run(self, area: str | None = None) -> float:
        """Return the seconds of GIL time per ``run()``, of one area or all."""
        samples = sum(self.counts.values()) if area is None else self.counts[area]
        runs_while_sampled = self.runs / self.run_seconds * self.sampled_seconds
        return samples / RATE / max(runs_while_sampled, 1e-9)


def sample(run: Callable[[], object], seconds: float) -> Profile:
    """Repeat ``run()`` while py-spy samples this process for ``seconds``.

    :raises RuntimeError: when py-spy is missing or fails, with its output.
    """
    binary = shutil.which("py-spy")
    if binary is None:
        raise RuntimeError("py-spy is not installed: pip install py-spy")
    with tempfile.TemporaryDirectory(prefix="nydus-bench-") as folder:
        output = Path(folder) / "stacks.txt"
        command = [
            binary,
            "record",
            "--pid",
            str(os.getpid()),
            "--duration",
            f"{seconds:g}",
            "--rate",
            str(RATE),
            "--format",
            "raw",
            "--gil",
            "--nonblocking",
            "--output",
            str(output),
        ]
        spy = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        time.sleep(ATTACH_SECONDS)
        runs = 0
        started = time.perf_counter()
        while spy.poll() is None:
            run()
            runs += 1
        run_seconds = time.perf_counter() - started
        log = spy.stdout.read().decode(errors="replace") if spy.stdout else ""
        if spy.returncode != 0 or not output.is_file():
            raise RuntimeError(
                f"py-spy failed with exit code {spy.returncode}: {log.strip()}"
            )
        counts = _areas(output.read_text(encoding="utf-8", errors="replace"))
    return Profile(counts, seconds, runs, run_seconds)


def _areas(stacks: str) -> Counter[str]:
    """Count the samples of py-spy's raw output by the area of their last frame."""
    counts: Counter[str] = Counter()
    for line in stacks.splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack or not number.isdigit():
            continue
        innermost = stack.rsplit(";", 1)[-1]
        counts[_area(innermost)] += int(number)
    return counts


def _area(frame: str) -> str:
    for fragment, name in AREAS:
        if fragment in frame:
            return name
    return OTHER


def per_item_table(
    profiles: dict[str, Profile], items_per_run: int, caption: str
) -> Table:
    """Return each side's GIL time per item by area, one column per side.

    The rate of runs over the whole loop is used as the rate while py-spy
    sampled, so a figure is an estimate.
    """
    names = list(profiles)
    rows: list[str | None] = []
    for _, name in AREAS:
        if name not in rows:
            rows.append(name)
    rows += [OTHER, None]
    table = Table(["code area", *names], caption=caption)
    for area in rows:
        cells = [area if area is not None else "**total**"]
        for name in names:
            seconds = profiles[name].gil_seconds_per_run(area) / items_per_run
            cells.append(f"{seconds * 1e6:,.1f} µs")
        table.rows.append(cells)
    return table
