"""``nydus diff``: how many keys move between two cluster configs.

Both configs are built into clusters whose routers place every key, and
each key is compared by the identifier of its host before and after, so a
host keeps its keys when its number changes. Nothing connects to a host:
building a cluster opens no connection, and only the routers run.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from nydus_core._cluster import Cluster
from nydus_core._config import create_cluster, load_config
from nydus_core._errors import ConfigError
from nydus_core._replay import read_trace
from nydus_core._router import KeyRouter

DEFAULT_SAMPLE = 100_000


@dataclass(frozen=True)
class Placement:
    """The routing side of one config: its router and host identifiers."""

    path: str
    router: KeyRouter
    identifiers: dict[int, str]

    def describe(self) -> str:
        """Return the router, its profile and hash tag, and the host count."""
        details = [type(self.router).__name__]
        profile = getattr(self.router, "profile", None)
        if profile:
            details.append(f"profile {profile}")
        if self.router.hash_tag is not None:
            opening, closing = self.router.hash_tag
            details.append(f"hash tag {opening.decode()}{closing.decode()}")
        details.append(f"{len(self.identifiers)} hosts")
        return ", ".join(details)

    def owner(self, key: str) -> str:
        """Return the identifier of the host that owns ``key``."""
        return self.identifiers[self.router.get_host(key)]


@dataclass(frozen=True)
class Diff:
    """The placement of keys under two configs.

    :param keys: the number of distinct keys compared.
    :param pairs: the keys that move, by (old host, new host) identifier.
    :param before: the keys of each host under the old config.
    :param after: the keys of each host under the new config.
    """

    keys: int
    pairs: Counter[tuple[str, str]]
    before: Counter[str]
    after: Counter[str]

    @property
    def moved(self) -> int:
        """The number of keys whose host changes."""
        return sum(self.pairs.values())


def add_diff_parser(commands: Any) -> None:
    """Add the ``diff`` subcommand to the ``nydus`` parser."""
    diff = commands.add_parser(
        "diff",
        help="show the share of keys that move between two configs",
        description=(
            "Compare where two cluster configs place keys, without connecting "
            "to any host: the share of keys that move, and between which hosts. "
            "Hosts are matched by identifier."
        ),
    )
    diff.add_argument(
        "--from", dest="old", required=True, metavar="OLD", help="current config"
    )
    diff.add_argument(
        "--to", dest="new", required=True, metavar="NEW", help="planned config"
    )
    diff.add_argument(
        "--keys",
        metavar="FILE",
        help="keys to compare: a text file with one key per line, or a cache2k "
        "trace (.trace, .xz allowed); default: generated keys key:0, key:1, ...",
    )
    diff.add_argument(
        "--sample",
        type=int,
        default=None,
        metavar="N",
        help=f"number of generated keys (default {DEFAULT_SAMPLE:,}); with --keys, "
        "read at most the first N keys of the file",
    )
    diff.add_argument("--json", action="store_true", help="print JSON")
    diff.set_defaults(run=run_diff)


def load_placement(path: str) -> Placement:
    """Build the cluster of the config file at ``path`` and keep its routing."""
    cluster: Cluster = create_cluster(load_config(path))
    router = cluster.router
    if not isinstance(router, KeyRouter):
        raise ConfigError(
            f"router {type(router).__name__} of config {path!r} does not place each "
            "key on one host, so no key moves; compare configs of key routers "
            "such as partition or consistent_hashing",
            "router",
        )
    identifiers = {number: cluster[number].identifier for number in cluster}
    return Placement(path, router, identifiers)


def compare(old: Placement, new: Placement, keys: list[str]) -> Diff:
    """Return where ``keys`` live under ``old`` and ``new``."""
    pairs: Counter[tuple[str, str]] = Counter()
    before: Counter[str] = Counter()
    after: Counter[str] = Counter()
    for key in keys:
        source = old.owner(key)
        target = new.owner(key)
        before[source] += 1
        after[target] += 1
        if source != target:
            pairs[(source, target)] += 1
    return Diff(len(keys), pairs, before, after)


def read_keys(path: str | None, sample: int | None) -> list[str]:
    """Return the distinct keys to compare, in first-seen order."""
    if sample is not None and sample < 1:
        raise ConfigError(f"invalid --sample {sample}: expected 1 or more")
    if path is None:
        return [f"key:{index}" for index in range(sample or DEFAULT_SAMPLE)]
    keys = list(dict.fromkeys(read_trace(path, sample)))
    if not keys:
        raise ConfigError(f"no keys in key file {path!r}: expected one key per line")
    return keys


def run_diff(options: argparse.Namespace) -> int:
    old = load_placement(options.old)
    new = load_placement(options.new)
    keys = read_keys(options.keys, options.sample)
    diff = compare(old, new, keys)
    source = options.keys or f"generated keys key:0 to key:{len(keys) - 1}"
    if options.json:
        print(json.dumps(as_json(old, new, diff, source), indent=2))
    else:
        print_diff(old, new, diff, source)
    return 0


def as_json(old: Placement, new: Placement, diff: Diff, source: str) -> dict[str, Any]:
    """Return the report as a JSON-ready dict."""
    hosts = sorted(set(diff.before) | set(diff.after) | set(old.identifiers.values()))
    return {
        "from": {"config": old.path, "routing": old.describe()},
        "to": {"config": new.path, "routing": new.describe()},
        "keys": diff.keys,
        "key_source": source,
        "moved": diff.moved,
        "moved_share": diff.moved / diff.keys,
        "pairs": [
            {"from": src, "to": dst, "keys": count, "share": count / diff.keys}
            for (src, dst), count in diff.pairs.most_common()
        ],
        "hosts": [
            {
                "identifier": host,
                "before": diff.before[host] / diff.keys,
                "after": diff.after[host] / diff.keys,
            }
            for host in hosts
        ],
    }


def print_diff(old: Placement, new: Placement, diff: Diff, source: str) -> None:
    """Print the report: the moved share, the host pairs, each host's share."""
    print(f"from {old.path}: {old.describe()}")
    print(f"to   {new.path}: {new.describe()}")
    print(f"keys {diff.keys:,} ({source})")
    print(f"moved {diff.moved:,} of {diff.keys:,} keys ({diff.moved / diff.keys:.2%})")
    if diff.pairs:
        width = max(len(host) for pair in diff.pairs for host in pair) + 2
        print()
        print(f"{'from':<{width}}{'to':<{width}}{'keys':>10}{'share':>9}")
        for (src, dst), count in diff.pairs.most_common():
            print(f"{src:<{width}}{dst:<{width}}{count:>10,}{count / diff.keys:>9.2%}")
    hosts = sorted(set(diff.before) | set(diff.after))
    width = max(len(host) for host in hosts) + 2
    print()
    print(f"{'host':<{width}}{'before':>9}{'after':>9}")
    for host in hosts:
        before = diff.before[host] / diff.keys
        after = diff.after[host] / diff.keys
        print(f"{host:<{width}}{before:>9.2%}{after:>9.2%}")
