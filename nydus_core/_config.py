"""Checking a cluster config and building the cluster it describes.

Every check runs before any backend object exists, so a bad config raises
:class:`ConfigError` without opening a connection or starting a thread.
"""

from __future__ import annotations

import copy
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nydus_core._backend import BaseBackend
from nydus_core._cluster import (
    DEFAULT_MAX_CONNECTION_RETRIES,
    DEFAULT_RETRY_BACKOFF,
    DEFAULT_RETRY_BACKOFF_MAX,
    DEFAULT_RETRY_DEADLINE,
    Cluster,
)
from nydus_core._errors import ConfigError
from nydus_core._hooks import HOOK_NAMES, make_plugin_manager
from nydus_core._options import (
    Option,
    check_value,
    close_match,
    join_path,
    shown_value,
)
from nydus_core._resolve import BACKEND_GROUP, ROUTER_GROUP, resolve
from nydus_core._router import AllRouter, BaseRouter, HostSpec

#: Top-level config keys and their forms; ``backend``, ``router``, ``cluster``,
#: ``hosts`` and ``plugins`` are checked on their own.
SCALAR_KEYS: dict[str, Option] = {
    "max_connection_retries": Option((int,), minimum=0),
    "retry_backoff": Option((int, float), minimum=0),
    "retry_backoff_max": Option((int, float), minimum=0),
    "retry_deadline": Option((int, float), minimum=0, nullable=True),
    "workers": Option((int,), minimum=1),
}
STRUCTURED_KEYS = frozenset(
    {
        "backend",
        "engine",
        "router",
        "cluster",
        "hosts",
        "defaults",
        "router_options",
        "plugins",
    }
)


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a cluster config from a TOML file.

    The file has the structure of a config dict: ``backend = "redis"``, and a
    ``[hosts.0]`` table per host, whose number may be written as a string.
    """
    file = Path(path)
    try:
        with file.open("rb") as stream:
            return tomllib.load(stream)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {str(file)!r}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML in config file {str(file)!r}: {exc}") from exc


def create_cluster(config: Mapping[str, Any] | str | os.PathLike[str]) -> Cluster:
    """Check ``config`` and return the cluster it describes.

    ``config`` is a dict in Nydus 0.11's form, or the path of a TOML file
    with the same structure::

        create_cluster({
            'backend': 'redis',
            'router': 'partition',
            'hosts': {0: {'db': 0}, 1: {'db': 1}},
        })

    No connection opens until the first command.

    :raises ConfigError: naming the config key of any invalid value.
    """
    if isinstance(config, (str, os.PathLike)):
        config = load_config(config)
    if not isinstance(config, Mapping):
        raise ConfigError(
            f"invalid config of type {type(config).__name__}: expected a dict or the "
            "path of a TOML file"
        )
    settings = copy.copy(dict(config))
    backend_cls = _resolve_backend(settings)
    settings = backend_cls.prepare_config(settings)
    _check_top_level(settings, backend_cls)

    router_cls = _resolve_router(settings)
    cluster_cls = _resolve_cluster(settings)
    host_options = _check_hosts(settings, backend_cls)
    scalars = {
        name: check_value(settings[name], option, name)
        for name, option in SCALAR_KEYS.items()
        if name in settings
    }
    plugins = _check_plugins(settings.get("plugins"))

    backends = {
        number: backend_cls(number, **opts) for number, opts in host_options.items()
    }
    specs = [
        HostSpec(number, backend.identifier, backend.weight, backend.address)
        for number, backend in backends.items()
    ]
    router = router_cls(specs, settings.get("router_options") or {})
    cluster = cluster_cls(
        backends,
        router,
        max_connection_retries=scalars.get(
            "max_connection_retries", DEFAULT_MAX_CONNECTION_RETRIES
        ),
        retry_backoff=scalars.get("retry_backoff", DEFAULT_RETRY_BACKOFF),
        retry_backoff_max=scalars.get("retry_backoff_max", DEFAULT_RETRY_BACKOFF_MAX),
        retry_deadline=scalars.get("retry_deadline", DEFAULT_RETRY_DEADLINE),
        workers=scalars.get("workers"),
        plugin_manager=make_plugin_manager(plugins),
    )
    if cluster.hooks.any_hooks:
        cluster.hooks.call("nydus_cluster_created", cluster=cluster)
    return cluster


def _resolve_backend(settings: dict[str, Any]) -> type[BaseBackend]:
    if "backend" in settings and "engine" in settings:
        raise ConfigError(
            "config sets both 'backend' and 'engine', which mean the same; keep one",
            "backend",
        )
    path = "engine" if "engine" in settings else "backend"
    value = settings.pop(path, None)
    if value is None:
        raise ConfigError(
            "missing config key 'backend': name the backend, for example "
            "'backend': 'redis' (pip install nydus-redis)",
            "backend",
        )
    return resolve(BACKEND_GROUP, value, path, BaseBackend)


def _resolve_router(settings: dict[str, Any]) -> type[BaseRouter]:
    value = settings.get("router")
    if value is None:
        return AllRouter
    return resolve(ROUTER_GROUP, value, "router", BaseRouter)


def _resolve_cluster(settings: dict[str, Any]) -> type[Cluster]:
    value = settings.get("cluster")
    if value is None or value in ("nydus.db.base.BaseCluster", "nydus.db.base.Cluster"):
        return Cluster
    return resolve("nydus.clusters", value, "cluster", Cluster)


def _check_top_level(
    settings: Mapping[str, Any], backend_cls: type[BaseBackend]
) -> None:
    known = set(SCALAR_KEYS) | STRUCTURED_KEYS
    for key in settings:
        if key in known:
            continue
        shown = shown_value(key)
        name = key if isinstance(key, str) else shown
        hint = close_match(name, known | backend_cls.config_keys)
        raise ConfigError(
            f"unknown config key {shown}; valid keys: {', '.join(sorted(known))}"
            f"{hint}; host options such as 'port' go under 'hosts' or 'defaults'",
            name,
        )
    options = settings.get("router_options")
    if options is not None and not isinstance(options, Mapping):
        raise ConfigError(
            f"invalid value for config key 'router_options': expected a dict, got "
            f"{type(options).__name__}",
            "router_options",
        )


def _check_hosts(
    settings: Mapping[str, Any], backend_cls: type[BaseBackend]
) -> dict[int, dict[str, Any]]:
    hosts = _host_mapping(settings.get("hosts"))
    defaults = settings.get("defaults")
    if defaults is None:
        defaults = {}
    if not isinstance(defaults, Mapping):
        raise ConfigError(
            f"invalid value for config key 'defaults': expected a dict of host "
            f"options, got {type(defaults).__name__}",
            "defaults",
        )
    backend_cls.check_options(defaults, "defaults")

    checked: dict[int, dict[str, Any]] = {}
    for number, options in hosts.items():
        path = join_path("hosts", number)
        if options is None:
            options = {}
        if not isinstance(options, Mapping):
            raise ConfigError(
                f"invalid value for config key {path!r}: expected a dict of host "
                f"options, got {type(options).__name__}",
                path,
            )
        merged = {**defaults, **options}
        checked[number] = backend_cls.check_options(merged, path)
    return checked


def _host_mapping(hosts: Any) -> dict[int, Any]:
    if hosts is None:
        raise ConfigError(
            "missing config key 'hosts': list the hosts, for example "
            "'hosts': {0: {'host': '127.0.0.1', 'port': 6379}}",
            "hosts",
        )
    if isinstance(hosts, (list, tuple)):
        hosts = dict(enumerate(hosts))
    if not isinstance(hosts, Mapping):
        raise ConfigError(
            f"invalid value for config key 'hosts': expected a dict of host number "
            f"to options, or a list, got {type(hosts).__name__}",
            "hosts",
        )
    if not hosts:
        raise ConfigError(
            "empty config key 'hosts': a cluster needs at least one host", "hosts"
        )
    numbered: dict[int, Any] = {}
    spelled: dict[int, Any] = {}
    for key, value in hosts.items():
        number = _host_number(key)
        if number in numbered:
            shown = shown_value(number)
            raise ConfigError(
                f"host number {shown} is given twice in config key 'hosts', as "
                f"{shown_value(spelled[number])} and {shown_value(key)}; give each "
                "host once",
                f"hosts.{shown}",
            )
        numbered[number] = value
        spelled[number] = key
    expected = list(range(len(numbered)))
    if sorted(numbered) != expected:
        shown = ", ".join(shown_value(number, 40) for number in sorted(numbered))
        raise ConfigError(
            f"invalid host numbers [{shown}] in config key 'hosts': number "
            f"the hosts 0 to {len(numbered) - 1}, since routers place keys by "
            "host number",
            "hosts",
        )
    return dict(sorted(numbered.items()))


def _host_number(key: Any) -> int:
    if isinstance(key, int) and not isinstance(key, bool):
        return key
    if isinstance(key, str) and key.strip().isascii() and key.strip().isdigit():
        try:
            return int(key)
        except ValueError:
            pass  # more digits than int() accepts
    shown = shown_value(key)
    raise ConfigError(
        f"invalid host number {shown} in config key 'hosts': host numbers are "
        "integers such as 0, 1, 2 (or their digits as strings, as in TOML)",
        f"hosts.{key if isinstance(key, str) else shown}",
    )


def _check_plugins(plugins: Any) -> list[object]:
    if plugins is None:
        return []
    if not isinstance(plugins, (list, tuple)):
        raise ConfigError(
            f"invalid value for config key 'plugins': expected a list of hook "
            f"plugin objects, got {type(plugins).__name__}",
            "plugins",
        )
    for index, plugin in enumerate(plugins):
        if isinstance(plugin, str):
            continue  # a plugin name, resolved by make_plugin_manager()
        if not any(hasattr(plugin, name) for name in HOOK_NAMES):
            raise ConfigError(
                f"invalid hook plugin {shown_value(plugin)} in config key "
                f"'plugins.{index}': it implements none of the Nydus hooks "
                f"({', '.join(HOOK_NAMES)})",
                f"plugins.{index}",
            )
    return list(plugins)
