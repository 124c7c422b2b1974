"""Run Nydus's benchmarks against redis-py, Redis Cluster, uhashring and the
Cassandra driver, and write ``docs/benchmarks.md``.

::

    python3 bench/run.py            # full sizes; writes docs/benchmarks.md
    python3 bench/run.py --tiny     # tiny sizes, only proves that it works

Every server is started here, on loopback and free ports, and stopped at
the end. The benchmarks need redis-server 7, uhashring and the packages of
this repository. The Cassandra benchmark also needs Java 17, Maven and the
``nydus-pycassa`` backend, and reports itself as not run without them.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

# Hook plugins installed in this environment would run on every command of
# every cluster. The figures are of Nydus alone, so autoloading is off.
os.environ["NYDUS_DISABLE_PLUGIN_AUTOLOAD"] = "1"

BENCH = Path(__file__).resolve().parent
# Run as a script, this file's folder is on sys.path but the repository
# root, which contains the bench package, is not. It goes last, so that the
# installed Nydus distributions come first and not the source tree.
if str(BENCH.parent) not in sys.path:
    sys.path.append(str(BENCH.parent))

from bench import (  # noqa: E402
    bench_cassandra,
    bench_map,
    bench_overhead,
    bench_routing,
    bench_scaling,
    bench_trace,
)
from bench._harness import Section, Sizes  # noqa: E402
from bench._report import (  # noqa: E402
    Machine,
    cpu_model,
    git_commit,
    load_average,
    package_versions,
    render,
    render_text,
)
from bench._servers import redis_server_version, redis_servers  # noqa: E402
from nydus_redis import LocalRedisServer  # noqa: E402

logger = logging.getLogger("nydus.bench")

REPORT = BENCH.parent / "docs" / "benchmarks.md"
SERVERS = 4
#: The hook overhead benchmark, kept by its own author with its own page.
HOOKS = BENCH / "bench_hooks.py"
HOOKS_REPORT = "benchmarks-hooks.md"
HOOKS_TINY_ARGS = ("--commands", "400", "--repeats", "3")
#: Seconds the hook benchmark may run before it counts as failed.
HOOKS_TIMEOUT = 1800

Benchmark = Callable[[Sizes, list[LocalRedisServer]], Section]


def _without_servers(run: Callable[[Sizes], Section]) -> Benchmark:
    def benchmark(sizes: Sizes, servers: list[LocalRedisServer]) -> Section:
        return run(sizes)

    return benchmark


BENCHMARKS: dict[int, Benchmark] = {
    1: bench_overhead.run,
    2: _without_servers(bench_routing.run),
    3: bench_map.run,
    4: bench_scaling.run,
    5: bench_trace.run,
    6: _without_servers(bench_cassandra.run),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Run the benchmarks and write docs/benchmarks.md.",
    )
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="run at tiny sizes to prove the benchmarks work; writes no report "
        "unless --output is given",
    )
    parser.add_argument(
        "--only",
        type=_numbers,
        default=None,
        metavar="N[,N...]",
        help="run only these benchmarks (1-6); writes no report unless --output "
        "is given",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help=f"write the report here (default: {REPORT.relative_to(BENCH.parent)} "
        "after a full run of every benchmark)",
    )
    return parser.parse_args(argv)


def _numbers(text: str) -> list[int]:
    try:
        numbers = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid benchmark list {text!r}: expected numbers such as 1,3"
        ) from None
    unknown = [number for number in numbers if number not in BENCHMARKS]
    if unknown or not numbers:
        raise argparse.ArgumentTypeError(
            f"invalid benchmark list {text!r}: choose from "
            + ", ".join(str(number) for number in BENCHMARKS)
        )
    return numbers


def report_path(options: argparse.Namespace) -> Path | None:
    """Return where to write the report, or ``None`` for no report."""
    if options.output is not None:
        return Path(options.output)
    if options.tiny or options.only is not None:
        return None
    return REPORT


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    # The driver warns on every connection that it negotiated the protocol
    # version down, which is expected against a local node.
    logging.getLogger("cassandra").setLevel(logging.ERROR)
    options = parse_args(argv)
    sizes = Sizes.small() if options.tiny else Sizes.full()
    numbers = options.only or list(BENCHMARKS)
    command = shlex.join(["python3", "bench/run.py", *(argv or sys.argv[1:])])
    machine = Machine(
        cpu=cpu_model(),
        cores=os.cpu_count() or 0,
        python=f"{platform.python_implementation()} {platform.python_version()}",
        redis_server=redis_server_version(),
        cassandra="not run",
        packages=package_versions(),
        commit=git_commit(),
        load_before=load_average(),
    )
    sections = run_benchmarks(numbers, sizes)
    if options.only is None:
        hooks = hooks_section(options.tiny)
        if hooks is not None:
            sections.append(hooks)
    machine.load_after = load_average()
    for section in sections:
        if "Cassandra" in section.versions:
            machine.cassandra = section.versions["Cassandra"]

    print(render_text(sections))
    path = report_path(options)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(sections, machine, command), encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)
    return 0


def run_benchmarks(numbers: list[int], sizes: Sizes) -> list[Section]:
    sections = []
    with redis_servers(SERVERS) as servers:
        for number in numbers:
            print(f"benchmark {number} ...", file=sys.stderr, flush=True)
            started = time.perf_counter()
            sections.append(BENCHMARKS[number](sizes, servers))
            print(
                f"benchmark {number} took {time.perf_counter() - started:.1f}s",
                file=sys.stderr,
                flush=True,
            )
    return sections


def hooks_section(tiny: bool) -> Section | None:
    """Run ``bench/bench_hooks.py`` and return its output as a section.

    Returns ``None`` when the file is missing or has no ``main`` function.
    It runs in its own process, since it builds its own clusters and
    server, and a failure raises with its output.
    """
    if not HOOKS.is_file():
        return None
    module = importlib.import_module("bench.bench_hooks")
    if not callable(getattr(module, "main", None)):
        return None
    arguments = list(HOOKS_TINY_ARGS) if tiny else []
    command = [sys.executable, str(HOOKS), *arguments]
    print("hook benchmark ...", file=sys.stderr, flush=True)
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=HOOKS_TIMEOUT, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"{shlex.join(command)} failed with exit code {completed.returncode}:\n"
            f"{completed.stdout}{completed.stderr}"
        )
    shown = shlex.join(["python3", "bench/bench_hooks.py", *arguments])
    return Section(
        number=7,
        title="Hook checks",
        method=(
            "What the hook checks cost a command when no hook plugin is "
            "registered, measured by `bench/bench_hooks.py`, which has its own "
            f"page: [{HOOKS_REPORT}]({HOOKS_REPORT}). Its output in this run "
            f"(`{shown}`):"
        ),
        notes=["```\n" + completed.stdout.strip() + "\n```"],
    )


if __name__ == "__main__":
    sys.exit(main())
