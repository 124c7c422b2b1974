"""Measure what the hook checks cost a command when no plugin is registered.

Two builds run the same commands, first against one local redis-server,
then against a backend that keeps its data in a dict in this process,
which shows the cost relative to Nydus's own code alone:

- ``normal``: the installed nydus-core, with no hook implementation
  registered and autoloading off;
- ``stripped``: the same code with every hook check removed. Its
  ``Cluster.call_host`` and ``MapContext._run_batch`` are rebuilt from the
  installed source with the ``hooks = ...`` lines, the ``if hooks:`` blocks
  and the timing of hook durations deleted, so the two builds differ in
  nothing else.

Runs of the builds alternate (ABBA order), so that drift in machine load
hits them alike. The script prints the median time per command of each
build and the median ratio of adjacent runs. A third build, ``plugin``,
registers a plugin with empty command hooks, to show what a registered
plugin costs.

Usage::

    python3 bench/bench_hooks.py [--commands 10000] [--repeats 41]
        [--backend redis|memory|both]
"""

from __future__ import annotations
import __future__

import argparse
import ast
import gc
import inspect
import os
import statistics
import sys
import textwrap
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

os.environ["NYDUS_DISABLE_PLUGIN_AUTOLOAD"] = "1"

from nydus_core import BaseBackend, Cluster, create_cluster, hookimpl
from nydus_core import _cluster as cluster_module
from nydus_core import _map as map_module
from nydus_redis import LocalRedisServer

KEYS = [f"bench:{index}" for index in range(64)]
MAP_BLOCK = 50


class _StripHooks(ast.NodeTransformer):
    """Delete hook checks and hook timing from a function's syntax tree."""

    HOOK_NAMES = frozenset({"hooks", "started", "duration"})

    def visit_If(self, node: ast.If) -> Any:
        if isinstance(node.test, ast.Name) and node.test.id == "hooks":
            if node.orelse:
                raise ValueError("an 'if hooks:' block with an else branch")
            return None
        return self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> Any:
        targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
        if targets and set(targets) <= self.HOOK_NAMES:
            return None
        return node


def stripped(function: Callable[..., Any], module: Any) -> Callable[..., Any]:
    """Return ``function`` rebuilt from its source without its hook checks."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    before = ast.dump(tree)
    tree = ast.fix_missing_locations(_StripHooks().visit(tree))
    if ast.dump(tree) == before:
        raise RuntimeError(f"{function.__qualname__} has no hook checks to remove")
    filename = inspect.getsourcefile(function) or "<bench>"
    # The modules use postponed annotations, which compile() does not inherit.
    flags = __future__.annotations.compiler_flag
    code = compile(tree, filename, "exec", flags=flags, dont_inherit=True)
    namespace: dict[str, Any] = {}
    exec(code, vars(module), namespace)
    rebuilt: Callable[..., Any] = namespace[function.__name__]
    return rebuilt


class StrippedMapContext(map_module.MapContext):
    _run_batch = stripped(map_module.MapContext._run_batch, map_module)


class StrippedCluster(Cluster):
    call_host = stripped(Cluster.call_host, cluster_module)

    def map(
        self, workers: int | None = None, fail_silently: bool = False
    ) -> map_module.MapContext:
        return StrippedMapContext(self, workers or self.workers, fail_silently)


class EmptyHooks:
    """A plugin whose command hooks do nothing."""

    @hookimpl
    def nydus_before_command(self) -> None:
        pass

    @hookimpl
    def nydus_after_command(self) -> None:
        pass


def run_single(cluster: Cluster, commands: int) -> float:
    """Run ``commands`` SET and GET commands; return nanoseconds per command."""
    keys = KEYS
    started = time.perf_counter_ns()
    for index in range(commands // 2):
        key = keys[index % 64]
        cluster.set(key, "value")
        cluster.get(key)
    return (time.perf_counter_ns() - started) / commands


def run_map(cluster: Cluster, commands: int) -> float:
    """Run ``commands`` GETs in map() blocks; return nanoseconds per command."""
    keys = KEYS
    started = time.perf_counter_ns()
    for _ in range(commands // MAP_BLOCK):
        with cluster.map() as conn:
            for index in range(MAP_BLOCK):
                conn.get(keys[index % 64])
    return (time.perf_counter_ns() - started) / commands


def measure(
    builds: dict[str, Cluster],
    workload: Callable[[Cluster, int], float],
    commands: int,
    repeats: int,
) -> dict[str, list[float]]:
    """Run ``workload`` on each build ``repeats`` times, alternating the order."""
    samples: dict[str, list[float]] = {name: [] for name in builds}
    names = list(builds)
    for cluster in builds.values():
        workload(cluster, commands // 4)
    for repeat in range(repeats):
        order = names if repeat % 2 == 0 else names[::-1]
        for name in order:
            gc.collect()
            samples[name].append(workload(builds[name], commands))
    return samples


def paired_ratio(samples: dict[str, list[float]], name: str) -> float:
    """Return the median over runs of ``name``'s time over the stripped time.

    Each ratio compares two runs made one after the other, so that slow
    phases of a busy machine cancel out.
    """
    pairs = zip(samples[name], samples["stripped"], strict=True)
    return statistics.median(value / base for value, base in pairs)


def report(title: str, samples: dict[str, list[float]]) -> None:
    """Print each build's median and fastest run, and its ratios to stripped.

    The fastest run is the one least disturbed by other processes, so its
    ratio suits the in-process backend, whose runs take milliseconds.
    """
    fastest_stripped = min(samples["stripped"])
    print(f"{title}:")
    for name, values in samples.items():
        quartiles = statistics.quantiles(values, n=4)
        fastest = min(values)
        print(
            f"  {name:<8} median {statistics.median(values) / 1000:7.2f} us/command "
            f"(quartiles {quartiles[0] / 1000:.2f}-{quartiles[2] / 1000:.2f}), "
            f"paired ratio {paired_ratio(samples, name):.4f}; fastest "
            f"{fastest / 1000:.3f} us, ratio {fastest / fastest_stripped:.4f}"
        )


class MemoryBackend(BaseBackend):
    """A host that is a dict in this process, to time Nydus's own code alone."""

    def connect(self) -> dict[str, Any]:
        return {}

    def execute(
        self, command: str, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> Any:
        data = self.connection
        if command == "set":
            data[args[0]] = args[1]
            return True
        return data.get(args[0])


def make_builds(base: dict[str, Any]) -> dict[str, Cluster]:
    """Return the three builds of one config."""
    builds = {
        "normal": create_cluster(base),
        "stripped": create_cluster({**base, "cluster": StrippedCluster}),
        "plugin": create_cluster({**base, "plugins": [EmptyHooks()]}),
    }
    if builds["normal"].hooks.command_hooks:
        raise RuntimeError("the normal build has command hooks registered")
    if type(builds["stripped"].map()) is not StrippedMapContext:
        raise RuntimeError("the stripped build does not use StrippedMapContext")
    return builds


def run_builds(title: str, base: dict[str, Any], options: argparse.Namespace) -> None:
    builds = make_builds(base)
    try:
        for name, workload, scale in (
            ("SET/GET, one command per call", run_single, 1),
            (f"GET in map() blocks of {MAP_BLOCK}", run_map, 1),
        ):
            commands = options.commands * scale
            samples = measure(builds, workload, commands, options.repeats)
            report(f"{title}, {name}", samples)
    finally:
        for cluster in builds.values():
            cluster.disconnect()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=10000, help="per run")
    parser.add_argument("--repeats", type=int, default=41, help="runs per build")
    parser.add_argument(
        "--backend",
        choices=("redis", "memory", "both"),
        default="both",
        help="run against a local redis-server, an in-process dict, or both",
    )
    options = parser.parse_args(argv)
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"{options.commands} commands per run, {options.repeats} runs per build"
    )

    if options.backend in ("redis", "both"):
        with LocalRedisServer() as server:
            hosts = {0: {"host": server.host, "port": server.port}}
            config = {"backend": "redis", "router": "partition", "hosts": hosts}
            run_builds("redis-server on loopback", config, options)
    if options.backend in ("memory", "both"):
        memory = {"backend": MemoryBackend, "router": "partition", "hosts": {0: {}}}
        run_builds("in-process backend", memory, options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
