"""Nydus: cluster database connections and route each call to its host.

::

    from nydus_core import create_cluster

    redis = create_cluster({
        'backend': 'redis',
        'router': 'partition',
        'hosts': {0: {'db': 0}, 1: {'db': 1}, 2: {'db': 2}},
    })
    redis.incr('foo')
"""

from nydus_core._backend import BaseBackend, CommandPart, Pipeline, SplitPlan
from nydus_core._cluster import Cluster, HostInfo
from nydus_core._config import create_cluster, load_config
from nydus_core._errors import (
    CommandError,
    CommandFailure,
    ConfigError,
    CrossShardError,
    HostConnectionError,
    HostDownError,
    HostError,
    HostTimeoutError,
    NydusError,
    PluginError,
    RoutingError,
)
from nydus_core._hooks import (
    NydusHookSpecs,
    hookimpl,
    hookspec,
    register_plugin,
    unregister_plugin,
)
from nydus_core._keys import Key, key_bytes
from nydus_core._map import EventualResult, MapContext
from nydus_core._options import Option
from nydus_core._resolve import clear_cache
from nydus_core._router import AllRouter, BaseRouter, HostSpec, KeyRouter

__all__ = [
    "AllRouter",
    "BaseBackend",
    "BaseRouter",
    "Cluster",
    "CommandError",
    "CommandFailure",
    "CommandPart",
    "ConfigError",
    "CrossShardError",
    "EventualResult",
    "HostConnectionError",
    "HostDownError",
    "HostError",
    "HostInfo",
    "HostSpec",
    "HostTimeoutError",
    "Key",
    "KeyRouter",
    "MapContext",
    "NydusError",
    "NydusHookSpecs",
    "Option",
    "Pipeline",
    "PluginError",
    "RoutingError",
    "SplitPlan",
    "clear_cache",
    "create_cluster",
    "hookimpl",
    "hookspec",
    "key_bytes",
    "load_config",
    "register_plugin",
    "unregister_plugin",
]
