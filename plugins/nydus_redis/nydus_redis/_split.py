"""Splitting multi-key commands across hosts, and merging their results.

Six commands split: ``MGET``, ``MSET``, ``DEL`` (redis-py's ``delete``),
``UNLINK``, ``EXISTS`` and ``TOUCH``. Each host gets the same command with
its own keys, and the merge builds what one server holding every key would
return: ``MGET`` values in the caller's key order, the sum of the counts of
the others, and ``True`` for ``MSET``. A key given twice always lands on
one host, so ``EXISTS a a`` still counts it twice and ``DEL a a`` once.

The parts are not atomic together: when one host fails, the others may
already have written or deleted their keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from nydus_core import CommandPart, SplitPlan
from nydus_redis._commands import mget_keys

Splitter = Callable[[str, tuple[Any, ...], Mapping[str, Any], Sequence[int]], SplitPlan]


def split_command(
    command: str,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    key_hosts: Sequence[int],
) -> SplitPlan | None:
    """Return how to split a call whose keys live on several hosts.

    ``key_hosts`` gives the host of each key, in the order the key rule of
    ``command`` returned them. ``None`` means the command cannot be split.
    """
    splitter = SPLITTERS.get(command)
    if splitter is None:
        return None
    return splitter(command, args, kwargs, key_hosts)


def _positions_by_host(key_hosts: Sequence[int]) -> dict[int, list[int]]:
    """Return, for each host in host order, the positions of its keys."""
    positions: dict[int, list[int]] = {}
    for position, host in enumerate(key_hosts):
        positions.setdefault(host, []).append(position)
    return dict(sorted(positions.items()))


def _split_mget(
    command: str,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    key_hosts: Sequence[int],
) -> SplitPlan:
    keys = mget_keys(args, kwargs)
    by_host = _positions_by_host(key_hosts)
    parts = tuple(
        CommandPart(host, command, ([keys[i] for i in positions],), {})
        for host, positions in by_host.items()
    )
    slots = list(by_host.values())

    def merge(results: list[Any]) -> list[Any]:
        values: list[Any] = [None] * len(keys)
        for positions, part_values in zip(slots, results, strict=True):
            for position, value in zip(positions, part_values, strict=True):
                values[position] = value
        return values

    return SplitPlan(parts, merge)


def _split_mset(
    command: str,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    key_hosts: Sequence[int],
) -> SplitPlan:
    mapping: Mapping[Any, Any] = args[0] if args else kwargs["mapping"]
    items = list(mapping.items())
    parts = tuple(
        CommandPart(host, command, ({items[i][0]: items[i][1] for i in positions},), {})
        for host, positions in _positions_by_host(key_hosts).items()
    )
    return SplitPlan(parts, all)


def _split_counting(
    command: str,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    key_hosts: Sequence[int],
) -> SplitPlan:
    parts = tuple(
        CommandPart(host, command, tuple(args[i] for i in positions), {})
        for host, positions in _positions_by_host(key_hosts).items()
    )
    return SplitPlan(parts, sum)


#: The commands that split, by redis-py method name.
SPLITTERS: dict[str, Splitter] = {
    "mget": _split_mget,
    "mset": _split_mset,
    "delete": _split_counting,
    "unlink": _split_counting,
    "exists": _split_counting,
    "touch": _split_counting,
}
