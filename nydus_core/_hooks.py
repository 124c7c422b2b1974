"""Hook specifications and the per-cluster plugin manager.

Plugins implement hooks with :data:`hookimpl`, as pytest plugins do with
``pytest.hookimpl``. They come from the ``nydus.plugins`` entry-point group
(unless ``NYDUS_DISABLE_PLUGIN_AUTOLOAD`` is set), from
:func:`register_plugin`, and from the ``plugins`` list of a cluster config.

A cluster calls hooks only through :class:`HookRunner`, which keeps one
flag per kind of hook. With no implementation registered the flags are
false, so a command pays one attribute read and one ``if`` for the hooks.
"""

from __future__ import annotations

import logging
import operator
import os
import threading
import types
import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import pluggy

from nydus_core._errors import PluginError
from nydus_core._resolve import (
    AUTOLOAD_ENV,
    PLUGIN_GROUP,
    Entry,
    duplicate_message,
    import_dotted,
    load_entry_point,
    load_unique,
    scan_group,
    unknown_message,
)

if TYPE_CHECKING:
    from nydus_core._cluster import Cluster, HostInfo

logger = logging.getLogger("nydus.plugins")

PROJECT_NAME = "nydus"

#: Hooks called for every command sent to a host.
COMMAND_HOOKS = ("nydus_before_command", "nydus_after_command", "nydus_command_error")
#: Every hook a plugin may implement.
HOOK_NAMES = (
    "nydus_cluster_created",
    *COMMAND_HOOKS,
    "nydus_host_down",
    "nydus_host_up",
)

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class NydusHookSpecs:
    """The hooks a Nydus plugin may implement.

    ``host`` is a :class:`nydus_core.HostInfo` with the host's ``number``,
    ``identifier`` (never containing a password), ``weight`` and
    ``address``. ``args`` and ``kwargs`` are the command's arguments as the
    backend receives them: for a command split across hosts, one host's
    part. An implementation may accept any subset of a hook's arguments.
    """

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
        """Called before a command is sent to ``host``, and before each retry.

        In :meth:`Cluster.map`, called for each command as it is queued in
        the host's pipeline.
        """

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
        """Called after a command succeeded on ``host``.

        ``duration`` is the time the backend took, in seconds. In
        :meth:`Cluster.map`, it is the time of the host's whole pipeline.
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
        """Called when a command failed on ``host``.

        ``error`` is the exception as the backend raised it, before Nydus
        maps connection errors to :class:`HostConnectionError`. A command
        that is retried calls this hook once per failed attempt.
        """

    @hookspec
    def nydus_host_down(
        self, cluster: Cluster, host: HostInfo, error: BaseException
    ) -> None:
        """Called when ``host`` is marked down after ``error``, a ``HostError``."""

    @hookspec
    def nydus_host_up(self, cluster: Cluster, host: HostInfo) -> None:
        """Called when ``host`` passed its health check and is marked up."""


class PluginManager(pluggy.PluginManager):
    """A pluggy plugin manager with the Nydus hook specifications.

    It rejects hook wrappers, and implementations that match no hook
    specification, when a plugin is registered. It notifies each
    :class:`HookRunner` built on it when plugins are added or removed.
    """

    def __init__(self) -> None:
        super().__init__(PROJECT_NAME)
        self.add_hookspecs(NydusHookSpecs)
        self._listeners: list[weakref.WeakMethod[Callable[[], None]]] = []

    def register(self, plugin: object, name: str | None = None) -> str | None:
        registered = super().register(plugin, name)
        try:
            self._validate(plugin)
        except pluggy.PluginValidationError:
            self.unregister(plugin)
            raise
        self._notify()
        return registered

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any:
        removed = super().unregister(plugin, name)
        self._notify()
        return removed

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call the bound method ``callback`` whenever plugins change."""
        self._listeners.append(weakref.WeakMethod(callback))  # type: ignore[arg-type]

    def _notify(self) -> None:
        alive = []
        for reference in self._listeners:
            callback = reference()
            if callback is not None:
                callback()
                alive.append(reference)
        self._listeners = alive

    def _validate(self, plugin: object) -> None:
        self.check_pending()
        for caller in self.get_hookcallers(plugin) or ():
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin and (impl.wrapper or impl.hookwrapper):
                    raise pluggy.PluginValidationError(
                        plugin,
                        f"hook {caller.name} of plugin {impl.plugin_name} is a hook "
                        "wrapper, which Nydus does not support: implement "
                        "nydus_before_command and nydus_after_command instead",
                    )


class HookRunner:
    """Calls hook implementations, isolating each one's failures.

    An implementation that raises does not change the command's result or
    exception. Its first failure per hook is logged with the traceback at
    error level; later ones are counted and logged at debug level.
    Implementations run in pluggy's order: the last registered first,
    ``tryfirst`` before and ``trylast`` after the others.

    :attr:`command_hooks` is true when a command hook has an implementation,
    and :attr:`any_hooks` when any hook has one. They follow registrations on
    a :class:`PluginManager`; on another pluggy manager, call
    :meth:`refresh` after registering.
    """

    def __init__(self, manager: pluggy.PluginManager) -> None:
        self.manager = manager
        self.command_hooks = False
        self.any_hooks = False
        self._impls: dict[str, tuple[_Call, ...]] = {}
        self.refresh()
        if isinstance(manager, PluginManager):
            manager.add_listener(self.refresh)

    def refresh(self) -> None:
        """Read the registered implementations again."""
        impls = {name: self._plain_impls(name) for name in HOOK_NAMES}
        self._impls = impls
        self.command_hooks = any(impls[name] for name in COMMAND_HOOKS)
        self.any_hooks = any(impls.values())

    def _plain_impls(self, name: str) -> tuple[_Call, ...]:
        caller = getattr(self.manager.hook, name, None)
        if caller is None:
            return ()
        plain = []
        for impl in reversed(caller.get_hookimpls()):
            if impl.wrapper or impl.hookwrapper:
                logger.warning(
                    "ignoring hook wrapper %s of plugin %s: Nydus calls plain "
                    "implementations only",
                    name,
                    impl.plugin_name,
                )
                continue
            plain.append((impl, impl.function, _arguments_getter(impl.argnames)))
        return tuple(plain)

    def call(self, name: str, **kwargs: Any) -> None:
        """Call every implementation of hook ``name`` with the arguments it takes."""
        for impl, function, arguments in self._impls.get(name, ()):
            try:
                function(*arguments(kwargs))
            except Exception as exc:  # noqa: BLE001 - a plugin must not break commands
                _report_failure(name, impl, exc)


# An implementation, its function, and what picks its arguments from the
# hook's keyword arguments.
_Call = tuple[pluggy.HookImpl, Callable[..., object], Callable[[dict[str, Any]], Any]]


def _arguments_getter(names: tuple[str, ...]) -> Callable[[dict[str, Any]], Any]:
    """Return a function that picks ``names`` from a dict, as a tuple."""
    if not names:
        return lambda kwargs: ()
    if len(names) == 1:
        name = names[0]
        return lambda kwargs: (kwargs[name],)
    # On CPython 3.11, itemgetter takes about two thirds of the time of a
    # list comprehension.
    return operator.itemgetter(*names)


# Failures by hook name and plugin id. Each record keeps its plugin alive,
# so that the id is not reused by another plugin while the record exists.
_failures: dict[tuple[str, int], list[Any]] = {}
_failures_lock = threading.Lock()


def _report_failure(name: str, impl: pluggy.HookImpl, error: Exception) -> None:
    key = (name, id(impl.plugin))
    with _failures_lock:
        record = _failures.setdefault(key, [impl.plugin, 0])
        record[1] += 1
        count = record[1]
    plugin = describe_plugin(impl.plugin, impl.plugin_name)
    if count == 1:
        logger.error(
            "hook %s of plugin %s raised %s: %s; Nydus carries on as if the hook "
            "had returned, and logs later failures of this hook and plugin at "
            "debug level",
            name,
            plugin,
            type(error).__name__,
            error,
            exc_info=error,
        )
    else:
        logger.debug(
            "hook %s of plugin %s raised %s again (%d failures): %s",
            name,
            plugin,
            type(error).__name__,
            count,
            error,
        )


def hook_failures() -> dict[tuple[str, str], int]:
    """Return how often each hook of each plugin raised in this process.

    The keys are the hook name and the plugin's description.
    """
    with _failures_lock:
        records = list(_failures.items())
    return {
        (name, describe_plugin(plugin)): count for (name, _), (plugin, count) in records
    }


def describe_plugin(plugin: object, name: str | None = None) -> str:
    """Return a plugin's registered name and what kind of object it is."""
    if isinstance(plugin, types.ModuleType):
        description = f"module {plugin.__name__}"
    else:
        kind = type(plugin)
        description = f"{kind.__module__}.{kind.__qualname__} object"
    if (
        name is None
        or name == str(id(plugin))
        or name == getattr(plugin, "__name__", "")
    ):
        return description
    return f"{name!r} ({description})"


# Global registrations

_global_plugins: list[object] = []
_global_lock = threading.RLock()
_autoloaded: list[tuple[Entry, object]] | None = None
# Hook plugins loaded from entry points, by distribution and entry-point
# name, so that autoloading and a config's ``plugins`` share one object.
_entry_plugins: dict[tuple[str, str], object] = {}


def register_plugin(plugin: object) -> None:
    """Register a hook plugin for every cluster created from now on.

    Clusters that exist already keep their plugins.

    :raises PluginError: if the plugin's hook implementations do not match
        the specifications in :class:`NydusHookSpecs`.
    """
    problem = hook_plugin_problem(plugin, "register_plugin()")
    if problem is not None:
        raise PluginError(problem, "plugins")
    with _global_lock:
        if plugin not in _global_plugins:
            _global_plugins.append(plugin)


def unregister_plugin(plugin: object) -> None:
    """Remove a plugin added with :func:`register_plugin`."""
    with _global_lock:
        if plugin in _global_plugins:
            _global_plugins.remove(plugin)


def autoload_disabled() -> bool:
    """Return whether ``NYDUS_DISABLE_PLUGIN_AUTOLOAD`` turns autoloading off.

    Any value other than empty or ``0`` turns it off.
    """
    return os.environ.get(AUTOLOAD_ENV, "") not in ("", "0")


def autoloaded_plugins() -> list[tuple[Entry, object]]:
    """Return the hook plugins of the ``nydus.plugins`` group, loaded once.

    :raises PluginError: when an entry point fails to load, or when several
        distributions declare one short name.
    """
    global _autoloaded
    if autoload_disabled():
        return []
    with _global_lock:
        if _autoloaded is None:
            loaded = []
            for name, entries in sorted(scan_group(PLUGIN_GROUP).items()):
                if len(entries) > 1:
                    message = duplicate_message(PLUGIN_GROUP, name, entries)
                    raise PluginError(
                        f"{message}; or set {AUTOLOAD_ENV}=1 and list the one you "
                        "want in config key 'plugins'",
                        PLUGIN_GROUP,
                    )
                loaded.append((entries[0], _load_hook_entry(entries[0], "")))
            _autoloaded = loaded
        return list(_autoloaded)


def clear_autoload_cache() -> None:
    """Forget the loaded ``nydus.plugins`` entry points (for tests)."""
    global _autoloaded
    with _global_lock:
        _autoloaded = None
        _entry_plugins.clear()


def _load_hook_entry(entry: Entry, path: str) -> object:
    key = (entry.distribution, entry.name)
    with _global_lock:
        if key not in _entry_plugins:
            target = load_entry_point(PLUGIN_GROUP, entry, path)
            _entry_plugins[key] = _instantiate(target, entry.describe(), path)
        return _entry_plugins[key]


def _instantiate(target: Any, origin: str, path: str) -> object:
    """Return ``target``, or an instance of it when it is a class."""
    if not isinstance(target, type):
        return target
    try:
        return target()
    except Exception as exc:
        raise PluginError(
            f"creating hook plugin {target.__qualname__} from {origin} failed: "
            f"{type(exc).__name__}: {exc}; a hook plugin class must take no "
            "arguments, or name an instance instead",
            path or PLUGIN_GROUP,
        ) from exc


def resolve_hook_plugin(value: Any, path: str) -> object:
    """Return the hook plugin a config's ``plugins`` item names.

    An object is used as it is. A string is a short name of the
    ``nydus.plugins`` group (loaded even when autoloading is off) or a
    dotted path. A class named by either is instantiated without arguments.
    """
    if not isinstance(value, str):
        return value
    entries = scan_group(PLUGIN_GROUP).get(value)
    if entries:
        if len(entries) > 1:
            load_unique(PLUGIN_GROUP, value, entries, path)
        return _load_hook_entry(entries[0], path)
    if "." in value or ":" in value:
        return _instantiate(import_dotted(value, path), repr(value), path)
    raise PluginError(unknown_message(PLUGIN_GROUP, value, path), path)


def make_plugin_manager(extra: Iterable[object] = ()) -> PluginManager:
    """Return a plugin manager with every plugin that applies to a new cluster.

    These are the autoloaded entry points, then the plugins of
    :func:`register_plugin`, then ``extra``: a config's ``plugins`` list,
    whose items :func:`resolve_hook_plugin` resolves.

    :raises PluginError: naming the origin of a plugin that cannot be loaded
        or whose hook implementations do not match the specifications.
    """
    manager = PluginManager()
    for entry, plugin in autoloaded_plugins():
        _register(manager, plugin, entry.describe(), entry.name)
    with _global_lock:
        global_plugins = list(_global_plugins)
    for plugin in global_plugins:
        _register(manager, plugin, "register_plugin()")
    for index, value in enumerate(extra):
        path = f"plugins.{index}"
        plugin = resolve_hook_plugin(value, path)
        _register(manager, plugin, f"config key {path!r}")
    return manager


def _register(
    manager: PluginManager, plugin: object, origin: str, name: str | None = None
) -> None:
    if manager.is_registered(plugin):
        return
    if name is not None and manager.get_plugin(name) is not None:
        name = None
    try:
        manager.register(plugin, name)
    except pluggy.PluginValidationError as exc:
        raise PluginError(
            f"invalid hook plugin {describe_plugin(plugin)} from {origin}: {exc}; "
            "hook implementations must match nydus_core.NydusHookSpecs",
            origin,
        ) from exc
    except ValueError as exc:
        raise PluginError(
            f"registering hook plugin {describe_plugin(plugin)} from {origin} "
            f"failed: {exc}",
            origin,
        ) from exc


def hook_plugin_problem(plugin: object, origin: str) -> str | None:
    """Return why ``plugin`` cannot be registered or does nothing, or ``None``."""
    manager = PluginManager()
    try:
        _register(manager, plugin, origin)
    except PluginError as exc:
        return str(exc)
    if not manager.get_hookcallers(plugin):
        return (
            f"hook plugin {describe_plugin(plugin)} from {origin} implements none "
            f"of the Nydus hooks ({', '.join(HOOK_NAMES)}); mark its hook "
            "functions with nydus_core.hookimpl"
        )
    return None
