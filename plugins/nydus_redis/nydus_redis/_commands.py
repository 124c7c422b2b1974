"""Which arguments of a redis-py call are keys."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nydus_core import Key

#: redis-py methods that take no key; they go to every host.
KEYLESS = frozenset(
    {
        "bgrewriteaof",
        "bgsave",
        "client_id",
        "client_list",
        "client_setname",
        "command",
        "config_get",
        "config_resetstat",
        "config_set",
        "dbsize",
        "echo",
        "flushall",
        "flushdb",
        "info",
        "keys",
        "lastsave",
        "memory_stats",
        "ping",
        "randomkey",
        "save",
        "scan",
        "scan_iter",
        "script_exists",
        "script_flush",
        "script_load",
        "time",
    }
)
#: redis-py methods whose positional arguments are all keys.
ALL_KEYS = frozenset({"delete", "exists", "mget", "touch", "unlink", "watch"})
#: redis-py methods that take a mapping of keys to values.
MAPPING_KEYS = frozenset({"mset", "msetnx"})


def command_keys(
    command: str, args: Sequence[Any], kwargs: Mapping[str, Any]
) -> Sequence[Key]:
    """Return the keys of a redis-py call, in argument order."""
    if command in KEYLESS:
        return ()
    if command in ALL_KEYS:
        return _flatten(args)
    if command in MAPPING_KEYS:
        mapping = args[0] if args else kwargs.get("mapping", {})
        return tuple(mapping)
    if args:
        return (args[0],)
    for name in ("name", "key"):
        if name in kwargs:
            return (kwargs[name],)
    return ()


def _flatten(args: Sequence[Any]) -> tuple[Key, ...]:
    keys: list[Key] = []
    for arg in args:
        if isinstance(arg, (list, tuple)):
            keys.extend(arg)
        else:
            keys.append(arg)
    return tuple(keys)
