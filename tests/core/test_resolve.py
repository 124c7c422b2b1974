"""Name resolution: short names, dotted paths, Nydus 0.11 paths, errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nydus_core import AllRouter, BaseBackend, BaseRouter, PluginError, _resolve
from nydus_core._resolve import BACKEND_GROUP, ROUTER_GROUP, resolve


@pytest.fixture
def nothing_installed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Resolve as if no plugin distribution were installed."""
    monkeypatch.setattr(_resolve, "scan_group", lambda group: {})
    yield


def test_resolve_class() -> None:
    assert resolve(ROUTER_GROUP, AllRouter, "router", BaseRouter) is AllRouter


def test_resolve_all_builtin(nothing_installed: None) -> None:
    assert resolve(ROUTER_GROUP, "all", "router", BaseRouter) is AllRouter


def test_resolve_unknown_backend_hint(nothing_installed: None) -> None:
    with pytest.raises(PluginError) as info:
        resolve(BACKEND_GROUP, "pycassa", "backend", BaseBackend)
    message = str(info.value)
    assert "unknown backend 'pycassa'" in message
    assert "'nydus.backends'" in message
    assert "pip install nydus-pycassa" in message


def test_resolve_unknown_router_close_match(nothing_installed: None) -> None:
    with pytest.raises(PluginError) as info:
        resolve(ROUTER_GROUP, "partiton", "router", BaseRouter)
    message = str(info.value)
    assert "installed routers: all" in message
    assert "did you mean 'partition'?" in message


def test_resolve_legacy_router_missing_plugin(nothing_installed: None) -> None:
    with pytest.raises(PluginError, match="pip install nydus-routers"):
        resolve(
            ROUTER_GROUP,
            "nydus.db.routers.keyvalue.PartitionRouter",
            "router",
            BaseRouter,
        )


def test_resolve_legacy_table() -> None:
    routers = _resolve.LEGACY_NAMES[ROUTER_GROUP]
    assert routers["nydus.db.routers.keyvalue.ConsistentHashingRouter"] == (
        "consistent_hashing"
    )
    assert routers["nydus.db.routers.redis.PartitionRouter"] == "partition"
    assert routers["nydus.db.routers.RoundRobinRouter"] == "round_robin"
    assert routers["nydus.db.routers.base.RoundRobinRouter"] == "round_robin"
    assert routers["nydus.db.routers.base.BaseRouter"] == "all"
    backends = _resolve.LEGACY_NAMES[BACKEND_GROUP]
    assert backends["nydus.db.backends.redis.Redis"] == "redis"
    assert backends["nydus.db.backends.pycassa.Pycassa"] == "pycassa"


def test_resolve_empty_string() -> None:
    with pytest.raises(PluginError, match="config key 'router'"):
        resolve(ROUTER_GROUP, "", "router", BaseRouter)


def test_resolve_dotted_missing_attribute() -> None:
    with pytest.raises(PluginError, match="has no attribute 'Nope'"):
        resolve(ROUTER_GROUP, "nydus_core._router:Nope", "router", BaseRouter)


def test_resolve_scan_cached() -> None:
    _resolve.clear_cache()
    first = _resolve.scan_group(ROUTER_GROUP)
    assert _resolve.scan_group(ROUTER_GROUP) is first
    assert _resolve.scan_group.cache_info().hits >= 1


def test_resolve_legacy_without_successor() -> None:
    with pytest.raises(PluginError) as info:
        resolve(
            BACKEND_GROUP, "nydus.db.backends.memcache.Memcache", "backend", BaseBackend
        )
    message = str(info.value)
    assert "is a Nydus 0.11 class that this Nydus does not provide" in message
    assert "nydus.db.backends.redis.Redis" in message


def test_resolve_legacy_colon_form(nothing_installed: None) -> None:
    with pytest.raises(PluginError, match="pip install nydus-redis"):
        resolve(BACKEND_GROUP, "nydus.db.backends.redis:Redis", "backend", BaseBackend)
