"""Hook registration, validation, call order and failure isolation.

These run in-process with the recording backend; the hooks fired by
commands on real servers are tested in tests/redis/test_hooks.py.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Any

import pluggy
import pytest

from nydus_core import (
    ConfigError,
    PluginError,
    create_cluster,
    hookimpl,
    register_plugin,
    unregister_plugin,
)
from nydus_core._hooks import (
    HookRunner,
    PluginManager,
    autoload_disabled,
    describe_plugin,
    hook_failures,
    make_plugin_manager,
)
from nydus_core.testing import HookRecorder

from .recording_backend import RecordingBackend

pytestmark = pytest.mark.usefixtures("nydus_no_autoload")


def config(**settings: Any) -> dict[str, Any]:
    return {"backend": RecordingBackend, "hosts": {0: {}}, **settings}


class Ordered:
    """Records the order in which plugins see ``nydus_before_command``."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    @hookimpl
    def nydus_before_command(self) -> None:
        self.log.append(self.name)


class First(Ordered):
    @hookimpl(tryfirst=True)
    def nydus_before_command(self) -> None:
        self.log.append(self.name)


def test_no_plugins_no_hooks() -> None:
    cluster = create_cluster(config())
    assert cluster.hooks.command_hooks is False
    assert cluster.hooks.any_hooks is False
    assert cluster.set("key", "value") is True


def test_only_host_hooks_skip_command_hooks() -> None:
    class DownOnly:
        @hookimpl
        def nydus_host_down(self, host: Any) -> None:
            pass

    cluster = create_cluster(config(plugins=[DownOnly()]))
    assert cluster.hooks.command_hooks is False
    assert cluster.hooks.any_hooks is True


def test_call_order_follows_pluggy() -> None:
    log: list[str] = []
    plugins = [Ordered("a", log), First("first", log), Ordered("b", log)]
    cluster = create_cluster(config(plugins=plugins))
    cluster.get("key")
    # The last registered runs first, except that tryfirst runs before all.
    assert log == ["first", "b", "a"]


def test_subset_of_arguments() -> None:
    seen: list[tuple[str, Any]] = []

    class Minimal:
        @hookimpl
        def nydus_after_command(self, command: str, result: Any) -> None:
            seen.append((command, result))

    cluster = create_cluster(config(plugins=[Minimal()]))
    cluster.set("key", "value")
    assert cluster.get("key") == "value"
    assert seen == [("set", True), ("get", "value")]


def test_module_level_functions_as_plugin() -> None:
    import types

    module = types.ModuleType("acme_module_plugin")
    calls: list[str] = []

    @hookimpl
    def nydus_before_command(command: str) -> None:
        calls.append(command)

    module.nydus_before_command = nydus_before_command  # type: ignore[attr-defined]
    cluster = create_cluster(config(plugins=[module]))
    cluster.incr("n")
    assert calls == ["incr"]


def test_wrapper_rejected() -> None:
    class Wrapper:
        @hookimpl(wrapper=True)
        def nydus_before_command(self) -> Generator[None, None, None]:
            yield

    with pytest.raises(PluginError) as info:
        create_cluster(config(plugins=[Wrapper()]))
    message = str(info.value)
    assert "from config key 'plugins.0'" in message
    assert "hook wrapper, which Nydus does not support" in message


def test_unknown_hook_rejected() -> None:
    class Typo:
        @hookimpl
        def nydus_after_command(self, command: str) -> None:
            pass

        @hookimpl
        def nydus_befor_command(self, command: str) -> None:
            pass

    with pytest.raises(PluginError) as info:
        create_cluster(config(plugins=[Typo()]))
    message = str(info.value)
    assert "invalid hook plugin tests.core.test_hooks" in message
    assert "nydus_befor_command" in message
    assert isinstance(info.value.__cause__, pluggy.PluginValidationError)


def test_unknown_argument_rejected() -> None:
    class BadArgument:
        @hookimpl
        def nydus_after_command(self, response: Any) -> None:
            pass

    with pytest.raises(PluginError) as info:
        register_plugin(BadArgument())
    message = str(info.value)
    assert "from register_plugin()" in message
    assert "response" in message


def test_register_plugin_without_hooks() -> None:
    class Unmarked:
        def nydus_before_command(self, command: str) -> None:
            pass

    with pytest.raises(PluginError) as info:
        register_plugin(Unmarked())
    message = str(info.value)
    assert "implements none of the Nydus hooks" in message
    assert "mark its hook functions with nydus_core.hookimpl" in message


def test_recorder_fixture_registered(nydus_hook_recorder: HookRecorder) -> None:
    cluster = create_cluster(config())
    cluster.set("key", "value")
    names = [call.name for call in nydus_hook_recorder.calls]
    assert names == [
        "nydus_cluster_created",
        "nydus_before_command",
        "nydus_after_command",
    ]
    assert nydus_hook_recorder.calls[0]["cluster"] is cluster


def test_register_plugin_twice_once() -> None:
    recorder = HookRecorder()
    register_plugin(recorder)
    register_plugin(recorder)
    try:
        cluster = create_cluster(config())
    finally:
        unregister_plugin(recorder)
    cluster.get("key")
    assert len(recorder.named("nydus_after_command")) == 1
    unregister_plugin(recorder)


def test_global_and_config_plugin_once() -> None:
    recorder = HookRecorder()
    register_plugin(recorder)
    try:
        cluster = create_cluster(config(plugins=[recorder]))
    finally:
        unregister_plugin(recorder)
    cluster.get("key")
    assert len(recorder.named("nydus_after_command")) == 1


def test_config_plugins_not_a_list() -> None:
    with pytest.raises(ConfigError, match="config key 'plugins'"):
        create_cluster(config(plugins=HookRecorder()))


def test_config_plugin_dotted_path_class() -> None:
    cluster = create_cluster(
        config(plugins=["nydus_core.testing._recorder:HookRecorder"])
    )
    [plugin] = [
        plugin
        for plugin in cluster.plugin_manager.get_plugins()
        if isinstance(plugin, HookRecorder)
    ]
    assert [call.name for call in plugin.calls] == ["nydus_cluster_created"]


def test_config_plugin_bad_dotted_path() -> None:
    with pytest.raises(PluginError) as info:
        create_cluster(config(plugins=[HookRecorder(), "nowhere.module:Plugin"]))
    assert "config key 'plugins.1'" in str(info.value)
    assert "cannot import module 'nowhere.module'" in str(info.value)


class Broken:
    @hookimpl
    def nydus_cluster_created(self) -> None:
        raise RuntimeError("tracing backend unavailable")


def test_raising_cluster_created_isolated(caplog: pytest.LogCaptureFixture) -> None:
    plugin = Broken()
    with caplog.at_level(logging.ERROR, logger="nydus.plugins"):
        cluster = create_cluster(config(plugins=[plugin]))
        create_cluster(config(plugins=[plugin]))
    assert cluster.get("key") is None
    [record] = caplog.records
    assert "hook nydus_cluster_created of plugin" in record.getMessage()
    assert "RuntimeError: tracing backend unavailable" in record.getMessage()
    assert (
        hook_failures()[
            ("nydus_cluster_created", "tests.core.test_hooks.Broken object")
        ]
        == 2
    )


def test_runner_on_plain_pluggy_manager() -> None:
    manager = pluggy.PluginManager("nydus")
    from nydus_core import NydusHookSpecs

    manager.add_hookspecs(NydusHookSpecs)
    runner = HookRunner(manager)
    assert runner.command_hooks is False
    recorder = HookRecorder()
    manager.register(recorder)
    assert runner.command_hooks is False
    runner.refresh()
    assert runner.command_hooks is True
    runner.call("nydus_host_up", cluster=None, host=None)
    assert [call.name for call in recorder.calls] == ["nydus_host_up"]


def test_runner_follows_plugin_manager() -> None:
    manager = PluginManager()
    runner = HookRunner(manager)
    recorder = HookRecorder()
    manager.register(recorder)
    assert runner.command_hooks is True
    manager.unregister(recorder)
    assert runner.any_hooks is False


def test_make_plugin_manager_order() -> None:
    first, second = HookRecorder(), HookRecorder()
    register_plugin(first)
    try:
        manager = make_plugin_manager([second])
    finally:
        unregister_plugin(first)
    assert manager.get_plugins() == {first, second}
    assert isinstance(manager, PluginManager)


@pytest.mark.parametrize(
    ("value", "disabled"),
    [("", False), ("0", False), ("1", True), ("true", True), ("yes", True)],
)
def test_autoload_disabled_values(
    monkeypatch: pytest.MonkeyPatch, value: str, disabled: bool
) -> None:
    monkeypatch.setenv("NYDUS_DISABLE_PLUGIN_AUTOLOAD", value)
    assert autoload_disabled() is disabled


def test_describe_plugin() -> None:
    recorder = HookRecorder()
    assert (
        describe_plugin(recorder) == "nydus_core.testing._recorder.HookRecorder object"
    )
    assert describe_plugin(recorder, str(id(recorder))) == (
        "nydus_core.testing._recorder.HookRecorder object"
    )
    assert describe_plugin(recorder, "tracing") == (
        "'tracing' (nydus_core.testing._recorder.HookRecorder object)"
    )
    assert describe_plugin(logging, "logging") == "module logging"
