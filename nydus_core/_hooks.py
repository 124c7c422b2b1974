"""Hook specifications and the per-cluster plugin manager.

Plugins implement hooks with :data:`hookimpl`, as pytest plugins do with
``pytest.hookimpl``. They come from the ``nydus.plugins`` entry-point group
(unless ``NYDUS_DISABLE_PLUGIN_AUTOLOAD`` is set), from
:func:`register_plugin`, and from the ``plugins`` list of a cluster config.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pluggy

from nydus_core._errors import PluginError

if TYPE_CHECKING:
    from nydus_core._cluster import Cluster, HostInfo

logger = logging.getLogger("nydus.plugins")

PROJECT_NAME = "nydus"
PLUGIN_GROUP = "nydus.plugins"
AUTOLOAD_ENV = "NYDUS_DISABLE_PLUGIN_AUTOLOAD"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class NydusHookSpecs:
    """The hooks a Nydus plugin may implement."""

    @hookspec
    def nydus_cluster_created(self, cluster: Cluster) -> None:
        """Called once when :func:`create_cluster` has built ``cluster``."""

    @hookspec
    def nydus_before_command(
        self,
        cluster: Cluster,
        host: HostInfo,
        command: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        """Called before a command is sent to ``host``."""

    @hookspec
    def nydus_after_command(
        self,
        cluster: Cluster,
        host: HostInfo,
        command: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        result: Any,
        duration: float,
    ) -> None:
        """Called after a command succeeded; ``duration`` is in seconds.

        In :meth:`Cluster.map`, ``duration`` is the time of the host's whole
        pipeline.
        """

    @hookspec
    def nydus_command_error(
        self,
        cluster: Cluster,
        host: HostInfo,
        command: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        error: BaseException,
    ) -> None:
        """Called when a command failed on ``host`` with ``error``."""

    @hookspec
    def nydus_host_down(
        self, cluster: Cluster, host: HostInfo, error: BaseException
    ) -> None:
        """Called when ``host`` is marked down after ``error``."""

    @hookspec
    def nydus_host_up(self, cluster: Cluster, host: HostInfo) -> None:
        """Called when ``host`` passed its health check and is back."""


_global_plugins: list[object] = []
_global_lock = threading.Lock()
_autoloaded: list[tuple[str, object]] | None = None


def register_plugin(plugin: object) -> None:
    """Register a hook plugin for every cluster created from now on."""
    with _global_lock:
        if plugin not in _global_plugins:
            _global_plugins.append(plugin)


def unregister_plugin(plugin: object) -> None:
    """Remove a plugin added with :func:`register_plugin`."""
    with _global_lock:
        if plugin in _global_plugins:
            _global_plugins.remove(plugin)


def autoload_disabled() -> bool:
    """Return whether ``NYDUS_DISABLE_PLUGIN_AUTOLOAD`` turns autoloading off."""
    return os.environ.get(AUTOLOAD_ENV, "") not in ("", "0")


def autoloaded_plugins() -> list[tuple[str, object]]:
    """Load the ``nydus.plugins`` entry points once per process."""
    global _autoloaded
    if autoload_disabled():
        return []
    with _global_lock:
        if _autoloaded is None:
            from nydus_core._resolve import load_entry_point, scan_group

            loaded = []
            for name, entries in sorted(scan_group(PLUGIN_GROUP).items()):
                for entry in entries:
                    loaded.append((name, load_entry_point(PLUGIN_GROUP, entry)))
            _autoloaded = loaded
        return list(_autoloaded)


def clear_autoload_cache() -> None:
    """Forget the loaded ``nydus.plugins`` entry points (for tests)."""
    global _autoloaded
    with _global_lock:
        _autoloaded = None


class HookRunner:
    """Calls hook implementations, isolating each one's failures.

    An implementation that raises is logged once per hook and plugin, and
    the command's own result stands. Hookwrappers are not supported: each
    implementation is called as a plain function.
    """

    def __init__(self, manager: pluggy.PluginManager) -> None:
        self.manager = manager
        self._reported: set[tuple[str, str]] = set()
        self.command_hooks = any(
            self._impls(name)
            for name in (
                "nydus_before_command",
                "nydus_after_command",
                "nydus_command_error",
            )
        )
        self.any_hooks = self.command_hooks or any(
            self._impls(name)
            for name in ("nydus_cluster_created", "nydus_host_down", "nydus_host_up")
        )

    def _impls(self, name: str) -> list[pluggy.HookImpl]:
        caller = getattr(self.manager.hook, name)
        return list(caller.get_hookimpls())

    def call(self, name: str, **kwargs: Any) -> None:
        """Call every implementation of hook ``name``."""
        for impl in self._impls(name):
            try:
                impl.function(*[kwargs[arg] for arg in impl.argnames])
            except Exception:  # noqa: BLE001 - a plugin must not break commands
                self._report(name, impl)

    def _report(self, name: str, impl: pluggy.HookImpl) -> None:
        marker = (name, impl.plugin_name)
        if marker in self._reported:
            return
        self._reported.add(marker)
        logger.exception(
            "hook %s of plugin %s raised; the error is logged once and the "
            "command's result stands",
            name,
            impl.plugin_name,
        )


def make_plugin_manager(extra: Iterable[object] = ()) -> pluggy.PluginManager:
    """Return a plugin manager with the global plugins and ``extra`` registered."""
    manager = pluggy.PluginManager(PROJECT_NAME)
    manager.add_hookspecs(NydusHookSpecs)
    for name, plugin in autoloaded_plugins():
        _register(manager, plugin, f"entry point {name!r} in group {PLUGIN_GROUP!r}")
    with _global_lock:
        global_plugins = list(_global_plugins)
    for plugin in global_plugins:
        _register(manager, plugin, "register_plugin()")
    for index, plugin in enumerate(extra):
        _register(manager, plugin, f"config key 'plugins.{index}'")
    return manager


def _register(manager: pluggy.PluginManager, plugin: object, origin: str) -> None:
    if manager.is_registered(plugin):
        return
    try:
        manager.register(plugin)
    except pluggy.PluginValidationError as exc:
        raise PluginError(
            f"invalid hook plugin {plugin!r} from {origin}: {exc}; hook "
            "implementations must match the specifications in nydus_core.hookspecs",
            origin,
        ) from exc
    except ValueError as exc:
        raise PluginError(
            f"cannot register hook plugin {plugin!r} from {origin}: {exc}", origin
        ) from exc
