"""Resolution of backend, router and cluster names to classes.

A config value is resolved in this order:

1. a class object, used as it is;
2. an entry-point short name, such as ``'redis'`` or ``'partition'``;
3. a Nydus 0.11 path, such as ``'nydus.db.backends.redis.Redis'``, mapped to
   the plugin that replaces it (Nydus 0.11 runs on Python 2 only, so those
   modules cannot be imported);
4. a dotted path, ``'pkg.mod.Class'`` or ``'pkg.mod:Class'``.

Each entry-point group is scanned once per process; :func:`clear_cache`
forgets the scans.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from nydus_core._errors import PluginError
from nydus_core._options import close_match

BACKEND_GROUP = "nydus.backends"
ROUTER_GROUP = "nydus.routers"

#: Nydus 0.11 class paths and the short names of their successors.
LEGACY_NAMES: dict[str, dict[str, str]] = {
    BACKEND_GROUP: {
        "nydus.db.backends.redis.Redis": "redis",
        "nydus.db.backends.pycassa.Pycassa": "pycassa",
    },
    ROUTER_GROUP: {
        f"nydus.db.routers{module}.{cls}": short
        for module in (".keyvalue", ".redis", "", ".base")
        for cls, short in (
            ("PartitionRouter", "partition"),
            ("ConsistentHashingRouter", "consistent_hashing"),
            ("RoundRobinRouter", "round_robin"),
            ("BaseRouter", "all"),
        )
    },
}

#: Nydus's own short names and the distribution that provides each.
OWN_DISTRIBUTIONS: dict[str, dict[str, str]] = {
    BACKEND_GROUP: {
        "redis": "nydus-redis",
        "pycassa": "nydus-pycassa",
        "cassandra": "nydus-pycassa",
    },
    ROUTER_GROUP: {
        "partition": "nydus-routers",
        "consistent_hashing": "nydus-routers",
        "ketama": "nydus-routers",
        "round_robin": "nydus-routers",
        "all": "nydus-core",
    },
}

KIND = {BACKEND_GROUP: "backend", ROUTER_GROUP: "router"}


@dataclass(frozen=True)
class Entry:
    """One entry point, with the distribution that declares it."""

    name: str
    value: str
    distribution: str
    version: str
    entry_point: metadata.EntryPoint

    def describe(self) -> str:
        return (
            f"entry point {self.name!r} = {self.value!r} of distribution "
            f"{self.distribution} {self.version}"
        )


@functools.cache
def scan_group(group: str) -> dict[str, tuple[Entry, ...]]:
    """Return every entry point of ``group`` by short name.

    A name may map to several entries when several distributions declare it;
    :func:`resolve` reports that as an error. One distribution found twice on
    ``sys.path`` counts once.
    """
    found: dict[str, dict[tuple[str, str], Entry]] = {}
    for dist in metadata.distributions():
        dist_name = dist.metadata["Name"] or "<unknown>"
        for entry_point in dist.entry_points:
            if entry_point.group != group:
                continue
            entry = Entry(
                entry_point.name,
                entry_point.value,
                dist_name,
                dist.version,
                entry_point,
            )
            key = (_normalise(dist_name), entry_point.value)
            found.setdefault(entry_point.name, {}).setdefault(key, entry)
    return {name: tuple(entries.values()) for name, entries in found.items()}


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def clear_cache() -> None:
    """Forget the entry-point scans, so the next lookup scans again."""
    scan_group.cache_clear()
    from nydus_core._hooks import clear_autoload_cache

    clear_autoload_cache()


def load_entry_point(group: str, entry: Entry) -> Any:
    """Load an entry point, wrapping any failure in :class:`PluginError`."""
    try:
        return entry.entry_point.load()
    except Exception as exc:
        raise PluginError(
            f"cannot load {entry.describe()} in group {group!r}: "
            f"{type(exc).__name__}: {exc}; reinstall or upgrade "
            f"{entry.distribution}, or uninstall it",
            group,
        ) from exc


def installed_names(group: str) -> list[str]:
    """Return the installed short names of ``group``, sorted."""
    return sorted(scan_group(group))


def resolve(group: str, value: Any, path: str, base: type) -> type:
    """Resolve a config value of ``group`` to a subclass of ``base``.

    :param path: the config key of the value, for error messages.
    :raises PluginError: when the value names nothing installed, names an
        ambiguous short name, or fails to import.
    """
    if isinstance(value, type):
        return _check_class(value, base, path, repr(value))
    if not isinstance(value, str) or not value:
        raise PluginError(
            f"invalid value {value!r} for config key {path!r}: expected a "
            f"{KIND.get(group, 'plugin')} short name, a dotted path or a class",
            path,
        )

    entries = scan_group(group).get(value)
    if entries:
        return _check_class(
            _load_unique(group, value, entries, path), base, path, value
        )
    if group == ROUTER_GROUP and value == "all":
        # Built in, so that it resolves even when the entry points of an
        # uninstalled source tree are missing.
        from nydus_core._router import AllRouter

        return _check_class(AllRouter, base, path, value)
    legacy = LEGACY_NAMES.get(group, {}).get(value)
    if legacy is not None:
        return resolve(group, legacy, path, base)
    if "." in value or ":" in value:
        return _check_class(_import_dotted(value, path), base, path, value)
    raise PluginError(_unknown_message(group, value, path), path)


def _load_unique(group: str, name: str, entries: tuple[Entry, ...], path: str) -> Any:
    if len(entries) > 1:
        listed = "; ".join(entry.describe() for entry in entries)
        raise PluginError(
            f"{KIND.get(group, 'plugin')} short name {name!r} in config key {path!r} "
            f"is registered by {len(entries)} distributions ({listed}); pick one "
            "by its dotted path, for example "
            f"{entries[0].value.replace(':', '.')!r}, or uninstall the other",
            path,
        )
    return load_entry_point(group, entries[0])


def _unknown_message(group: str, value: str, path: str) -> str:
    kind = KIND.get(group, "plugin")
    names = installed_names(group)
    if kind == "router" and "all" not in names:
        names = sorted([*names, "all"])
    message = (
        f"unknown {kind} {value!r} in config key {path!r} (entry-point group "
        f"{group!r}); installed {kind}s: {', '.join(names) or 'none'}"
    )
    known = OWN_DISTRIBUTIONS.get(group, {})
    message += close_match(value, [*names, *known])
    distribution = known.get(value)
    if distribution is not None:
        message += (
            f"; {value!r} is provided by {distribution}: pip install {distribution}"
        )
    return message


def _import_dotted(value: str, path: str) -> Any:
    if ":" in value:
        module_name, _, attribute = value.partition(":")
    else:
        module_name, _, attribute = value.rpartition(".")
    if not module_name or not attribute:
        raise PluginError(
            f"invalid dotted path {value!r} in config key {path!r}: expected "
            "'package.module.Class' or 'package.module:Class'",
            path,
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginError(
            f"cannot import module {module_name!r} of {value!r} in config key "
            f"{path!r}: {exc}",
            path,
        ) from exc
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise PluginError(
                f"module {module_name!r} has no attribute {attribute!r}, named by "
                f"{value!r} in config key {path!r}",
                path,
            ) from None
    return target


def _check_class(target: Any, base: type, path: str, shown: str) -> type:
    if not isinstance(target, type) or not issubclass(target, base):
        raise PluginError(
            f"{shown} in config key {path!r} is {target!r}, not a subclass of "
            f"{base.__module__}.{base.__qualname__}",
            path,
        )
    return target
