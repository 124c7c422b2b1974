"""Resolution of backend, router, cluster and hook plugin names to objects.

A config value is resolved in this order:

1. a class object, used as it is;
2. an entry-point short name, such as ``'redis'`` or ``'partition'``;
3. a Nydus 0.11 path, such as ``'nydus.db.backends.redis.Redis'``, mapped to
   the plugin that replaces it (Nydus 0.11 runs on Python 2 only, so those
   modules cannot be imported);
4. a dotted path, ``'pkg.mod.Class'`` or ``'pkg.mod:Class'``.

The installed distributions are scanned for entry points once per process,
because each scan reads the metadata of every distribution;
:func:`clear_cache` clears the cached scan.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import re
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from nydus_core._errors import PluginError

BACKEND_GROUP = "nydus.backends"
ROUTER_GROUP = "nydus.routers"
PLUGIN_GROUP = "nydus.plugins"
AUTOLOAD_ENV = "NYDUS_DISABLE_PLUGIN_AUTOLOAD"

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

KIND = {BACKEND_GROUP: "backend", ROUTER_GROUP: "router", PLUGIN_GROUP: "hook plugin"}


@dataclass(frozen=True)
class Entry:
    """One entry point, with the distribution that declares it."""

    name: str
    value: str
    distribution: str
    version: str
    entry_point: metadata.EntryPoint

    def describe(self) -> str:
        """Return the entry point and its distribution, for messages."""
        return (
            f"entry point {self.name!r} = {self.value!r} of distribution "
            f"{self.distribution} {self.version}"
        )

    @property
    def dotted_path(self) -> str:
        """The entry point's target as a dotted path a config accepts."""
        return self.value.split("[", 1)[0].strip()


Scan = dict[str, dict[str, tuple[Entry, ...]]]


@functools.cache
def _scan_all() -> Scan:
    """Return the entry points of every ``nydus.*`` group, by group and name.

    One distribution found twice on ``sys.path`` counts once: its first copy
    is the one Python imports.
    """
    found: dict[str, dict[str, dict[tuple[str, str], Entry]]] = {}
    for dist in metadata.distributions():
        dist_name = dist.metadata["Name"] or "<unknown>"
        for entry_point in dist.entry_points:
            if not entry_point.group.startswith("nydus."):
                continue
            entry = Entry(
                entry_point.name,
                entry_point.value,
                dist_name,
                dist.version,
                entry_point,
            )
            names = found.setdefault(entry_point.group, {})
            key = (normalize_distribution(dist_name), entry_point.value)
            names.setdefault(entry_point.name, {}).setdefault(key, entry)
    return {
        group: {name: tuple(entries.values()) for name, entries in names.items()}
        for group, names in found.items()
    }


@functools.cache
def scan_group(group: str) -> dict[str, tuple[Entry, ...]]:
    """Return every entry point of ``group`` by short name.

    A name maps to several entries when several distributions declare it.
    :func:`resolve` reports that as an error.
    """
    return dict(_scan_all().get(group, {}))


def normalize_distribution(name: str) -> str:
    """Return a distribution name normalized as PyPI compares names."""
    return re.sub(r"[-_.]+", "-", name).lower()


def clear_cache() -> None:
    """Forget the entry-point scan and loaded hook plugins (for tests).

    The next lookup scans the installed distributions again.
    """
    _scan_all.cache_clear()
    scan_group.cache_clear()
    from nydus_core._hooks import clear_autoload_cache

    clear_autoload_cache()


def load_entry_point(group: str, entry: Entry, path: str = "") -> Any:
    """Load an entry point, wrapping any failure in :class:`PluginError`.

    :param path: the config key that named the entry point, if any.
    """
    try:
        return entry.entry_point.load()
    except Exception as exc:
        where = f" (named by config key {path!r})" if path else ""
        fix = f"reinstall or upgrade {entry.distribution}, or uninstall it"
        if group == PLUGIN_GROUP:
            fix += f"; {AUTOLOAD_ENV}=1 stops loading hook plugins automatically"
        raise PluginError(
            f"failed to load {entry.describe()} in group {group!r}{where}: "
            f"{type(exc).__name__}: {exc}; {fix}",
            path or group,
        ) from exc


def installed_names(group: str) -> list[str]:
    """Return the installed short names of ``group``, sorted."""
    return sorted(scan_group(group))


def duplicate_message(
    group: str, name: str, entries: tuple[Entry, ...], path: str = ""
) -> str:
    """Return the error for a short name that several distributions declare."""
    kind = KIND.get(group, "plugin")
    where = f" in config key {path!r}" if path else ""
    listed = "; ".join(entry.describe() for entry in entries)
    choices = " or ".join(
        f"{entry.dotted_path!r} ({entry.distribution})" for entry in entries
    )
    return (
        f"{kind} short name {name!r}{where} is ambiguous: {len(entries)} "
        f"distributions declare it in group {group!r} ({listed}); name the one "
        f"you want by its dotted path, {choices}, or uninstall the others"
    )


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
        return _check_class(load_unique(group, value, entries, path), base, path, value)
    if group == ROUTER_GROUP and value == "all":
        # Built in, so that it resolves even when the entry points of an
        # uninstalled source tree are missing.
        from nydus_core._router import AllRouter

        return _check_class(AllRouter, base, path, value)
    legacy_path = value.replace(":", ".")
    legacy = LEGACY_NAMES.get(group, {}).get(legacy_path)
    if legacy is not None:
        return resolve(group, legacy, path, base)
    if legacy_path.startswith("nydus.db."):
        raise PluginError(legacy_message(group, value, path), path)
    if "." in value or ":" in value:
        return _check_class(import_dotted(value, path), base, path, value)
    raise PluginError(unknown_message(group, value, path), path)


def legacy_message(group: str, value: str, path: str) -> str:
    """Return the error for a Nydus 0.11 path that has no successor."""
    kind = KIND.get(group, "plugin")
    supported = ", ".join(sorted(LEGACY_NAMES.get(group, {})))
    return (
        f"{kind} {value!r} in config key {path!r} is a Nydus 0.11 class that "
        f"this Nydus does not provide; the Nydus 0.11 {kind} paths that still "
        f"work are: {supported}; otherwise install a third-party {kind} "
        f"and name it by its short name (see 'nydus plugins')"
    )


def load_unique(group: str, name: str, entries: tuple[Entry, ...], path: str) -> Any:
    """Load the one entry point of a short name, or raise if it is ambiguous."""
    if len(entries) > 1:
        raise PluginError(duplicate_message(group, name, entries, path), path)
    return load_entry_point(group, entries[0], path)


def unknown_message(group: str, value: str, path: str) -> str:
    """Return the error for a short name that no installed distribution declares.

    It names the group, the installed short names, a close match if there
    is one, and the distribution to install when the name is Nydus's own.
    """
    kind = KIND.get(group, "plugin")
    names = installed_names(group)
    if group == ROUTER_GROUP and "all" not in names:
        names = sorted([*names, "all"])
    message = (
        f"unknown {kind} {value!r} in config key {path!r} (entry-point group "
        f"{group!r}); installed {kind}s: {', '.join(names) or 'none'}"
    )
    own = OWN_DISTRIBUTIONS.get(group, {})
    matches = difflib.get_close_matches(value, [*names, *own], n=1, cutoff=0.6)
    if matches and matches[0] != value:
        message += f"; did you mean {matches[0]!r}?"
    suggested = value
    if value not in own and matches:
        suggested = matches[0]
    distribution = own.get(suggested)
    if distribution is not None and suggested not in names:
        message += (
            f"; {suggested!r} is provided by {distribution}: pip install {distribution}"
        )
    return message


def import_dotted(value: str, path: str) -> Any:
    """Import the object a dotted path names.

    ``'pkg.mod:Attr.Sub'`` splits at the colon. ``'pkg.mod.Attr'`` imports
    the longest module prefix that exists, so nested classes resolve too.
    """
    if ":" in value:
        module_name, _, attribute = value.partition(":")
        candidates = [(module_name, attribute)] if module_name and attribute else []
    elif all(value.split(".")):
        parts = value.split(".")
        candidates = [
            (".".join(parts[:cut]), ".".join(parts[cut:]))
            for cut in range(len(parts) - 1, 0, -1)
        ]
    else:
        candidates = []
    if not candidates:
        raise PluginError(
            f"invalid dotted path {value!r} in config key {path!r}: expected "
            "'package.module.Class' or 'package.module:Class'",
            path,
        )
    module, attribute = _import_module(candidates, value, path)
    return _get_attribute(module, attribute, value, path)


def _import_module(
    candidates: list[tuple[str, str]], value: str, path: str
) -> tuple[Any, str]:
    first_error: ImportError | None = None
    for module_name, attribute in candidates:
        try:
            return importlib.import_module(module_name), attribute
        except ImportError as exc:
            first_error = first_error or exc
            # When the module itself is missing, the last part may be a
            # class, so one level up is tried. An import that fails inside
            # an existing module is the real error.
            if getattr(exc, "name", None) != module_name:
                break
        except Exception as exc:
            raise PluginError(
                f"importing module {module_name!r} of {value!r} in config key "
                f"{path!r} failed: {type(exc).__name__}: {exc}",
                path,
            ) from exc
    module_name = candidates[0][0]
    raise PluginError(
        f"cannot import module {module_name!r} of {value!r} in config key "
        f"{path!r}: {first_error}",
        path,
    ) from first_error


def _get_attribute(module: Any, attribute: str, value: str, path: str) -> Any:
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise PluginError(
                f"module {module.__name__!r} has no attribute {attribute!r}, named "
                f"by {value!r} in config key {path!r}",
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


def entry_problem(group: str, entries: tuple[Entry, ...], entry: Entry) -> str | None:
    """Return why ``entry`` cannot be used, or ``None`` when it loads and fits.

    ``entries`` are all entries of the same short name, so that a name
    declared by several distributions is reported on each of them.
    """
    if len(entries) > 1:
        return duplicate_message(group, entry.name, entries)
    try:
        target = load_entry_point(group, entry)
    except PluginError as exc:
        return str(exc)
    base = _group_base(group)
    if base is not None and not (isinstance(target, type) and issubclass(target, base)):
        return (
            f"{entry.describe()} names {target!r}, not a subclass of "
            f"{base.__module__}.{base.__qualname__}"
        )
    if group == PLUGIN_GROUP:
        from nydus_core._hooks import hook_plugin_problem

        return hook_plugin_problem(target, entry.describe())
    return None


def _group_base(group: str) -> type | None:
    if group == BACKEND_GROUP:
        from nydus_core._backend import BaseBackend

        return BaseBackend
    if group == ROUTER_GROUP:
        from nydus_core._router import BaseRouter

        return BaseRouter
    return None
