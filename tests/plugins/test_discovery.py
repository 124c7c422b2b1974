"""Finding backends, routers and hook plugins, and the errors when that fails.

The distributions are real: ``.dist-info`` folders on ``sys.path``, found
by ``importlib.metadata`` as it finds any installed distribution.
"""

from __future__ import annotations

import sys
from importlib import metadata
from typing import Any

import pytest

from nydus_core import BaseRouter, PluginError, create_cluster
from nydus_core import _resolve as resolve_module
from nydus_core._resolve import ROUTER_GROUP, resolve

from ._distributions import SitePackages

ROUTER_SOURCE = """
from nydus_core import KeyRouter


class {name}(KeyRouter):
    def place(self, data):
        return len(data) % len(self.hosts)
"""


def config(**settings: Any) -> dict[str, Any]:
    """Return a two-host Redis config; nothing connects until a command."""
    return {
        "backend": "redis",
        "hosts": {0: {"port": 1}, 1: {"port": 2}},
        **settings,
    }


def install_router(site: SitePackages, dist: str, name: str, module: str) -> None:
    site.install(
        dist,
        {"nydus.routers": {name: f"{module}:FancyRouter"}},
        {module: ROUTER_SOURCE.format(name="FancyRouter")},
    )


def test_unknown_router_message(site_packages: SitePackages) -> None:
    install_router(site_packages, "acme-routers", "fancy", "acme_fancy")
    with pytest.raises(PluginError) as info:
        create_cluster(config(router="fancey"))
    message = str(info.value)
    assert "unknown router 'fancey' in config key 'router'" in message
    assert "(entry-point group 'nydus.routers')" in message
    assert "installed routers: " in message
    installed = message.split("installed routers: ")[1].split(";")[0].split(", ")
    assert "fancy" in installed
    assert "partition" in installed
    assert "all" in installed
    assert "did you mean 'fancy'?" in message
    assert info.value.path == "router"


def test_unknown_own_backend_names_distribution(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Hide nydus-pycassa, if installed, as if it were not.
    everything = list(metadata.distributions())
    monkeypatch.setattr(
        resolve_module.metadata,
        "distributions",
        lambda: [d for d in everything if d.metadata["Name"] != "nydus-pycassa"],
    )
    resolve_module.clear_cache()
    try:
        with pytest.raises(PluginError) as info:
            create_cluster(config(backend="pycassa"))
    finally:
        monkeypatch.undo()
        resolve_module.clear_cache()
    message = str(info.value)
    assert "unknown backend 'pycassa' in config key 'backend'" in message
    assert "(entry-point group 'nydus.backends')" in message
    assert "installed backends: redis" in message
    assert "'pycassa' is provided by nydus-pycassa: pip install nydus-pycassa" in (
        message
    )


def test_unknown_name_no_close_match(site_packages: SitePackages) -> None:
    with pytest.raises(PluginError) as info:
        create_cluster(config(router="zzzzzz"))
    assert "did you mean" not in str(info.value)
    assert "pip install" not in str(info.value)


def test_duplicate_short_name_names_both(site_packages: SitePackages) -> None:
    install_router(site_packages, "acme-routers", "fancy", "acme_fancy")
    install_router(site_packages, "other-routers", "fancy", "other_fancy")
    with pytest.raises(PluginError) as info:
        create_cluster(config(router="fancy"))
    message = str(info.value)
    assert "router short name 'fancy' in config key 'router' is ambiguous" in message
    assert "acme-routers 1.0" in message
    assert "other-routers 1.0" in message
    assert "dotted path" in message
    assert "'acme_fancy:FancyRouter' (acme-routers)" in message
    assert "'other_fancy:FancyRouter' (other-routers)" in message


def test_duplicate_resolved_by_dotted_path(site_packages: SitePackages) -> None:
    install_router(site_packages, "acme-routers", "fancy", "acme_fancy")
    install_router(site_packages, "other-routers", "fancy", "other_fancy")
    cluster = create_cluster(config(router="other_fancy:FancyRouter"))
    assert type(cluster.router).__module__ == "other_fancy"
    cluster = create_cluster(config(router="acme_fancy.FancyRouter"))
    assert type(cluster.router).__module__ == "acme_fancy"


def test_duplicate_of_own_name(site_packages: SitePackages) -> None:
    install_router(site_packages, "evil-routers", "partition", "evil_fancy")
    with pytest.raises(PluginError) as info:
        create_cluster(config(router="partition"))
    message = str(info.value)
    assert "evil-routers 1.0" in message
    assert "of distribution nydus-routers" in message
    assert "'nydus_routers:PartitionRouter' (nydus-routers)" in message


def test_same_distribution_twice_on_path(site_packages: SitePackages) -> None:
    install_router(site_packages, "acme-routers", "fancy", "acme_fancy")
    copy = SitePackages(site_packages.path.parent / "copy")
    copy.path.mkdir()
    install_router(copy, "acme-routers", "fancy", "acme_fancy")
    sys.path.append(str(copy.path))
    try:
        resolve_module.clear_cache()
        router = resolve(ROUTER_GROUP, "fancy", "router", BaseRouter)
    finally:
        sys.path.remove(str(copy.path))
    assert router.__module__ == "acme_fancy"


def test_import_failure_names_entry_point(site_packages: SitePackages) -> None:
    site_packages.install(
        "broken-router",
        {"nydus.routers": {"broken": "broken_router:BrokenRouter"}},
        {"broken_router": "import nydus_missing_dependency\n"},
        version="2.3",
    )
    with pytest.raises(PluginError) as info:
        create_cluster(config(router="broken"))
    message = str(info.value)
    assert "failed to load entry point 'broken'" in message
    assert "'broken_router:BrokenRouter'" in message
    assert "of distribution broken-router 2.3" in message
    assert "in group 'nydus.routers'" in message
    assert "(named by config key 'router')" in message
    assert "No module named 'nydus_missing_dependency'" in message
    assert "reinstall or upgrade broken-router, or uninstall it" in message
    assert isinstance(info.value.__cause__, ModuleNotFoundError)
    assert info.value.__cause__.name == "nydus_missing_dependency"


def test_import_error_raised_inside_module(site_packages: SitePackages) -> None:
    site_packages.install(
        "crashing-router",
        {"nydus.routers": {"crashing": "crashing_router:Router"}},
        {"crashing_router": "raise RuntimeError('settings not configured')\n"},
    )
    with pytest.raises(PluginError) as info:
        create_cluster(config(router="crashing"))
    assert "RuntimeError: settings not configured" in str(info.value)
    assert isinstance(info.value.__cause__, RuntimeError)


def test_entry_point_wrong_kind(site_packages: SitePackages) -> None:
    site_packages.install(
        "odd-router",
        {"nydus.routers": {"odd": "odd_router:make"}},
        {"odd_router": "def make():\n    return None\n"},
    )
    with pytest.raises(PluginError, match=r"not a subclass of nydus_core\._router"):
        create_cluster(config(router="odd"))


def test_scan_once_per_process(site_packages: SitePackages) -> None:
    install_router(site_packages, "acme-routers", "fancy", "acme_fancy")
    scan = resolve_module._scan_all
    scan.cache_clear()
    for _ in range(3):
        create_cluster(config(router="fancy"))
    assert scan.cache_info().misses == 1
    assert scan.cache_info().hits >= 2


def test_new_distribution_seen_after_clear(site_packages: SitePackages) -> None:
    with pytest.raises(PluginError):
        create_cluster(config(router="fancy"))
    install_router(site_packages, "acme-routers", "fancy", "acme_fancy")
    assert type(create_cluster(config(router="fancy")).router).__name__ == (
        "FancyRouter"
    )
