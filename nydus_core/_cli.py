"""The ``nydus`` command: list plugins, show routes, replay traces, diff configs."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from nydus_core._config import create_cluster, load_config
from nydus_core._errors import NydusError
from nydus_core._hooks import autoload_disabled
from nydus_core._resolve import (
    AUTOLOAD_ENV,
    BACKEND_GROUP,
    KIND,
    PLUGIN_GROUP,
    ROUTER_GROUP,
    entry_problem,
    scan_group,
)
from nydus_core._router import KeyRouter


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``nydus`` command and return its exit status."""
    parser = _parser()
    options = parser.parse_args(argv)
    try:
        return int(options.run(options))
    except (NydusError, FileNotFoundError, RuntimeError) as exc:
        print(f"nydus: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader closed the pipe (``nydus diff | head``). Point stdout at
        # /dev/null so that the interpreter's final flush raises nothing.
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nydus", description="Cluster database connections and route calls."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    plugins = commands.add_parser(
        "plugins",
        help="list installed backends, routers and hook plugins, with any error",
    )
    plugins.add_argument("--json", action="store_true", help="print a JSON list")
    plugins.set_defaults(run=run_plugins)

    route = commands.add_parser("route", help="show the host each key goes to")
    route.add_argument("--config", required=True, help="cluster config file (TOML)")
    route.add_argument("keys", nargs="+", metavar="KEY")
    route.set_defaults(run=run_route)

    from nydus_core._diff import add_diff_parser
    from nydus_core._replay import add_replay_parser

    add_replay_parser(commands)
    add_diff_parser(commands)
    return parser


def plugin_rows() -> list[dict[str, Any]]:
    """Return one row per installed backend, router and hook plugin.

    A row's ``error`` is ``None``, or why the entry point cannot be used:
    it fails to import, names the wrong kind of object, or shares its short
    name with another distribution's entry point.
    """
    rows: list[dict[str, Any]] = []
    for group in (BACKEND_GROUP, ROUTER_GROUP, PLUGIN_GROUP):
        for name, entries in sorted(scan_group(group).items()):
            for entry in entries:
                row: dict[str, Any] = {
                    "kind": KIND[group],
                    "name": name,
                    "target": entry.value,
                    "distribution": entry.distribution,
                    "version": entry.version,
                    "error": entry_problem(group, entries, entry),
                }
                if group == PLUGIN_GROUP:
                    row["autoload"] = not autoload_disabled()
                rows.append(row)
    return rows


def run_plugins(options: argparse.Namespace) -> int:
    rows = plugin_rows()
    if options.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        notes = ""
        if row.get("autoload") is False:
            notes += f"  (not autoloaded: {AUTOLOAD_ENV} is set)"
        if row["error"]:
            notes += f"  BROKEN: {row['error']}"
        print(
            f"{row['kind']:<12} {row['name']:<20} {row['target']:<48} "
            f"{row['distribution']} {row['version']}{notes}"
        )
    return 0


def run_route(options: argparse.Namespace) -> int:
    config = load_config(options.config)
    cluster = create_cluster(config)
    router = cluster.router
    details = [f"router {type(router).__name__}"]
    profile = getattr(router, "profile", None)
    if profile:
        details.append(f"profile {profile}")
    hash_tag = getattr(router, "hash_tag", None)
    if hash_tag:
        details.append(f"hash tag {hash_tag[0].decode()}{hash_tag[1].decode()}")
    print(", ".join(details))
    for key in options.keys:
        hosts = cluster.hosts_for("get", key)
        identifiers = ", ".join(cluster[host].identifier for host in hosts)
        line = f"{key} -> host {', '.join(map(str, hosts))} ({identifiers})"
        if isinstance(router, KeyRouter) and router.hash_tag is not None:
            part = router.hashed_part(key).decode("utf-8", "replace")
            line += f" hashed part {part!r}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
