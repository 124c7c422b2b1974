"""Every hook, fired by commands on real redis-server processes.

Autoloading is off in these tests (fixture ``nydus_no_autoload``), so that
hook plugins installed alongside, such as the command counter example, do
not change the recorded calls. The entry-point test turns it back on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from nydus_core import (
    Cluster,
    CommandError,
    HostConnectionError,
    HostDownError,
    hookimpl,
    register_plugin,
    unregister_plugin,
)
from nydus_core._hooks import hook_failures
from nydus_core.testing import HookRecorder
from nydus_redis import LocalRedisServer
from tests.plugins._distributions import SitePackages, site_packages

from .conftest import direct

__all__ = ["site_packages"]

MakeCluster = Callable[..., Cluster]

pytestmark = pytest.mark.usefixtures("nydus_no_autoload")


def key_on(cluster: Cluster, host: int, prefix: str = "key") -> str:
    for index in range(10_000):
        key = f"{prefix}:{index}"
        if cluster.hosts_for("get", key) == [host]:
            return key
    raise AssertionError(f"no key found on host {host}")


def recorded(cluster: MakeCluster, **config: Any) -> tuple[Cluster, HookRecorder]:
    recorder = HookRecorder()
    return cluster(plugins=[recorder], **config), recorder


def test_before_after_arguments(make_cluster: MakeCluster) -> None:
    cluster, recorder = recorded(make_cluster)
    host = cluster.hosts_for("set", "foo")[0]
    started = time.perf_counter()
    assert cluster.set("foo", "bar", ex=100) is True
    elapsed = time.perf_counter() - started

    [before] = recorder.named("nydus_before_command")
    assert before["cluster"] is cluster
    assert before["host"].number == host
    assert before["host"].identifier == cluster[host].identifier
    assert before["command"] == "set"
    assert before["args"] == ("foo", "bar")
    assert before["kwargs"] == {"ex": 100}

    [after] = recorder.named("nydus_after_command")
    assert after["host"].number == host
    assert after["command"] == "set"
    assert after["args"] == ("foo", "bar")
    assert after["kwargs"] == {"ex": 100}
    assert after["result"] is True
    assert isinstance(after["duration"], float)
    assert 0 < after["duration"] <= elapsed
    assert recorder.named("nydus_command_error") == []


def test_hooks_in_call_order(make_cluster: MakeCluster) -> None:
    cluster, recorder = recorded(make_cluster)
    cluster.set("a", "1")
    cluster.get("a")
    names = [
        (call.name, call.arguments.get("command"))
        for call in recorder.calls
        if call.name != "nydus_cluster_created"
    ]
    assert names == [
        ("nydus_before_command", "set"),
        ("nydus_after_command", "set"),
        ("nydus_before_command", "get"),
        ("nydus_after_command", "get"),
    ]
    assert recorder.named("nydus_after_command")[1]["result"] == b"1"


def test_error_hook_on_error_reply(make_cluster: MakeCluster) -> None:
    cluster, recorder = recorded(make_cluster)
    cluster.set("name", "text")
    recorder.clear()
    with pytest.raises(redis.ResponseError) as info:
        cluster.incr("name")
    [error] = recorder.named("nydus_command_error")
    assert error["command"] == "incr"
    assert error["args"] == ("name",)
    assert error["host"].number == cluster.hosts_for("incr", "name")[0]
    assert error["error"] is info.value
    assert recorder.named("nydus_after_command") == []
    assert len(recorder.named("nydus_before_command")) == 1


def test_fan_out_fires_per_host(make_cluster: MakeCluster) -> None:
    cluster, recorder = recorded(make_cluster, count=3)
    assert cluster.ping() == [True, True, True]
    before = recorder.named("nydus_before_command")
    after = recorder.named("nydus_after_command")
    assert [call["host"].number for call in before] == [0, 1, 2]
    assert [call["host"].number for call in after] == [0, 1, 2]
    assert {call["command"] for call in after} == {"ping"}


def test_split_command_fires_per_part(make_cluster: MakeCluster) -> None:
    cluster, recorder = recorded(make_cluster, count=3)
    keys = [key_on(cluster, host) for host in (0, 1, 2)]
    for key in keys:
        cluster.set(key, key)
    recorder.clear()
    assert cluster.mget(keys) == [key.encode() for key in keys]
    after = recorder.named("nydus_after_command")
    assert sorted(call["host"].number for call in after) == [0, 1, 2]
    for call in after:
        own = [
            key
            for key in keys
            if cluster.hosts_for("get", key) == [call["host"].number]
        ]
        assert call["command"] == "mget"
        assert list(call["args"][0]) == own
        assert call["result"] == [key.encode() for key in own]


def test_map_fires_per_command(make_cluster: MakeCluster) -> None:
    cluster, recorder = recorded(make_cluster, count=3)
    keys = [f"map:{index}" for index in range(9)]
    with cluster.map() as conn:
        results = [conn.set(key, index) for index, key in enumerate(keys)]
    assert [result.value for result in results] == [True] * 9

    before = recorder.named("nydus_before_command")
    after = recorder.named("nydus_after_command")
    assert sorted(call["args"][0] for call in before) == sorted(keys)
    assert sorted(call["args"][0] for call in after) == sorted(keys)
    for call in after:
        key, value = call["args"]
        assert call["command"] == "set"
        assert call["host"].number == cluster.hosts_for("set", key)[0]
        assert call["result"] is True
        assert value == keys.index(key)
    # Commands of one host share their pipeline's duration.
    for host in (0, 1, 2):
        durations = {call["duration"] for call in after if call["host"].number == host}
        assert len(durations) == 1
        assert durations.pop() > 0


def test_map_error_hook_per_failed_command(make_cluster: MakeCluster) -> None:
    cluster, recorder = recorded(make_cluster)
    cluster.set("name", "text")
    recorder.clear()
    with pytest.raises(CommandError), cluster.map() as conn:
        conn.incr("name")
        conn.get("name")
    [error] = recorder.named("nydus_command_error")
    assert error["command"] == "incr"
    assert isinstance(error["error"], redis.ResponseError)
    [after] = recorder.named("nydus_after_command")
    assert after["command"] == "get"
    assert after["result"] == b"text"


def test_host_down_and_up(
    make_cluster: MakeCluster, servers: list[LocalRedisServer]
) -> None:
    cluster, recorder = recorded(
        make_cluster,
        count=2,
        max_connection_retries=1,
        retry_backoff=0,
        router_options={"retry_timeout": 0},
    )
    key = key_on(cluster, 1)
    servers[1].kill()
    with pytest.raises(HostConnectionError):
        cluster.set(key, "x")

    [down] = recorder.named("nydus_host_down")
    assert down["cluster"] is cluster
    assert down["host"].number == 1
    assert down["host"].identifier == f"redis://127.0.0.1:{servers[1].port}/0"
    assert isinstance(down["error"], HostConnectionError)
    assert down["error"].host == 1
    errors = recorder.named("nydus_command_error")
    assert len(errors) == 2
    assert all(isinstance(call["error"], redis.ConnectionError) for call in errors)
    assert recorder.named("nydus_host_up") == []

    servers[1].start()
    assert cluster.set(key, "y") is True
    [up] = recorder.named("nydus_host_up")
    assert up["host"].number == 1
    assert up["cluster"] is cluster
    assert direct(servers[1]).get(key) == b"y"
    assert len(recorder.named("nydus_host_down")) == 1


def test_host_down_stays_down(
    make_cluster: MakeCluster, servers: list[LocalRedisServer]
) -> None:
    cluster, recorder = recorded(
        make_cluster,
        count=2,
        max_connection_retries=0,
        router_options={"retry_timeout": 60},
    )
    key = key_on(cluster, 0)
    servers[0].kill()
    with pytest.raises(HostConnectionError):
        cluster.get(key)
    with pytest.raises(HostDownError):
        cluster.get(key)
    assert len(recorder.named("nydus_host_down")) == 1
    assert len(recorder.named("nydus_command_error")) == 1


def test_map_host_down_hook(
    make_cluster: MakeCluster, servers: list[LocalRedisServer]
) -> None:
    cluster, recorder = recorded(
        make_cluster,
        count=2,
        max_connection_retries=0,
        router_options={"retry_timeout": 60},
    )
    down_key, up_key = key_on(cluster, 1), key_on(cluster, 0)
    servers[1].kill()
    with pytest.raises(CommandError), cluster.map() as conn:
        conn.set(down_key, "x")
        conn.set(up_key, "y")
    [down] = recorder.named("nydus_host_down")
    assert down["host"].number == 1
    [error] = recorder.named("nydus_command_error")
    assert error["args"] == (down_key, "x")
    [after] = recorder.named("nydus_after_command")
    assert after["args"] == (up_key, "y")


def test_cluster_created_once(make_cluster: MakeCluster) -> None:
    cluster, recorder = recorded(make_cluster)
    [created] = recorder.named("nydus_cluster_created")
    assert created["cluster"] is cluster
    assert recorder.calls == [created]


class RaisingPlugin:
    """Raises in every command hook."""

    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def nydus_before_command(self, command: str) -> None:
        self.calls += 1
        raise RuntimeError(f"before {command} failed")

    @hookimpl
    def nydus_after_command(self, result: Any) -> None:
        self.calls += 1
        raise ValueError("after failed")

    @hookimpl
    def nydus_command_error(self, error: BaseException) -> None:
        self.calls += 1
        raise KeyError("error hook failed")


def test_raising_plugin_logged_once(
    make_cluster: MakeCluster, caplog: pytest.LogCaptureFixture
) -> None:
    plugin = RaisingPlugin()
    recorder = HookRecorder()
    cluster = make_cluster(plugins=[plugin, recorder])
    with caplog.at_level(logging.DEBUG, logger="nydus.plugins"):
        for index in range(5):
            assert cluster.set(f"k{index}", index) is True
            assert cluster.get(f"k{index}") == str(index).encode()
        with cluster.map() as conn:
            mapped = conn.incr("counter")
        assert mapped.value == 1
        cluster.set("text", "x")
        for _ in range(3):
            with pytest.raises(redis.ResponseError):
                cluster.incr("text")

    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    messages = sorted(record.getMessage() for record in errors)
    assert len(messages) == 3
    assert messages[0].startswith(
        "hook nydus_after_command of plugin tests.redis.test_hooks.RaisingPlugin "
        "object raised ValueError: after failed"
    )
    assert messages[1].startswith("hook nydus_before_command of plugin")
    assert "RuntimeError: before set failed" in messages[1]
    assert messages[2].startswith("hook nydus_command_error of plugin")
    assert all(record.exc_info is not None for record in errors)
    # The other plugin still saw every command.
    assert len(recorder.named("nydus_after_command")) == 12
    assert len(recorder.named("nydus_command_error")) == 3
    failures = {
        name: count
        for (name, plugin_name), count in hook_failures().items()
        if plugin_name == "tests.redis.test_hooks.RaisingPlugin object"
    }
    assert failures == {
        "nydus_before_command": 15,
        "nydus_after_command": 12,
        "nydus_command_error": 3,
    }
    assert plugin.calls == 30


def test_register_plugin_applies_to_new_clusters(make_cluster: MakeCluster) -> None:
    recorder = HookRecorder()
    before = make_cluster()
    register_plugin(recorder)
    try:
        after = make_cluster()
    finally:
        unregister_plugin(recorder)
    later = make_cluster()
    for cluster in (before, after, later):
        cluster.set("key", "value")
    assert [call["cluster"] for call in recorder.named("nydus_after_command")] == [
        after
    ]
    assert before.hooks.command_hooks is False
    assert later.hooks.command_hooks is False


def test_config_plugins_list(make_cluster: MakeCluster) -> None:
    first, second = HookRecorder(), HookRecorder()
    cluster = make_cluster(plugins=[first, second])
    other = make_cluster()
    cluster.get("key")
    other.get("key")
    assert len(first.named("nydus_after_command")) == 1
    assert len(second.named("nydus_after_command")) == 1
    assert first.named("nydus_after_command")[0]["cluster"] is cluster


def test_plugin_registered_later_on_manager(make_cluster: MakeCluster) -> None:
    cluster = make_cluster()
    assert cluster.hooks.command_hooks is False
    recorder = HookRecorder()
    cluster.plugin_manager.register(recorder)
    assert cluster.hooks.command_hooks is True
    cluster.get("key")
    assert len(recorder.named("nydus_after_command")) == 1
    cluster.plugin_manager.unregister(recorder)
    assert cluster.hooks.any_hooks is False


COUNTER_SOURCE = """
from nydus_core import hookimpl

commands = []


@hookimpl
def nydus_after_command(host, command, result):
    commands.append((host.number, command, result))
"""


def test_entry_point_plugin_fires(
    make_cluster: MakeCluster,
    site_packages: SitePackages,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    site_packages.install(
        "acme-hooks",
        {"nydus.plugins": {"acme": "acme_hooks"}},
        {"acme_hooks": COUNTER_SOURCE},
    )
    monkeypatch.delenv("NYDUS_DISABLE_PLUGIN_AUTOLOAD")
    cluster = make_cluster()
    cluster.set("key", "value")
    import acme_hooks  # type: ignore[import-not-found]

    host = cluster.hosts_for("set", "key")[0]
    assert acme_hooks.commands == [(host, "set", True)]


def test_autoload_disabled_entry_point_silent(
    make_cluster: MakeCluster, site_packages: SitePackages
) -> None:
    site_packages.install(
        "acme-hooks",
        {"nydus.plugins": {"acme": "acme_hooks"}},
        {"acme_hooks": COUNTER_SOURCE},
    )
    silent = make_cluster()
    named = make_cluster(plugins=["acme"])
    silent.set("key", "value")
    named.get("key")
    import acme_hooks

    assert silent.hooks.any_hooks is False
    host = named.hosts_for("get", "key")[0]
    assert acme_hooks.commands == [(host, "get", b"value")]
