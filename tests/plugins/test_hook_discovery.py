"""Finding hook plugins: entry points, names in a config, and their errors."""

from __future__ import annotations

from typing import Any

import pytest

from nydus_core import PluginError, create_cluster
from nydus_core._hooks import make_plugin_manager

from ._distributions import SitePackages

PLUGIN_SOURCE = """
from nydus_core import hookimpl

created = []


class Tracker:
    def __init__(self):
        self.clusters = []

    @hookimpl
    def nydus_cluster_created(self, cluster):
        self.clusters.append(cluster)
        created.append(cluster)


tracker = Tracker()
"""


def config(**settings: Any) -> dict[str, Any]:
    return {"backend": "redis", "hosts": {0: {"port": 1}}, **settings}


def install_tracker(
    site: SitePackages, dist: str = "acme-tracker", target: str = "tracker"
) -> None:
    site.install(
        dist,
        {"nydus.plugins": {"tracker": f"acme_tracker:{target}"}},
        {"acme_tracker": PLUGIN_SOURCE},
    )


def test_entry_point_plugin_autoloaded(site_packages: SitePackages) -> None:
    install_tracker(site_packages)
    cluster = create_cluster(config())
    import acme_tracker  # type: ignore[import-not-found]

    assert acme_tracker.tracker.clusters == [cluster]
    assert cluster.plugin_manager.get_plugin("tracker") is acme_tracker.tracker


def test_entry_point_class_instantiated(site_packages: SitePackages) -> None:
    install_tracker(site_packages, target="Tracker")
    first = create_cluster(config())
    second = create_cluster(config())
    import acme_tracker

    assert acme_tracker.created == [first, second]
    plugin = first.plugin_manager.get_plugin("tracker")
    assert type(plugin).__name__ == "Tracker"
    assert second.plugin_manager.get_plugin("tracker") is plugin


def test_autoload_disabled(
    site_packages: SitePackages, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_tracker(site_packages)
    monkeypatch.setenv("NYDUS_DISABLE_PLUGIN_AUTOLOAD", "1")
    cluster = create_cluster(config())
    import acme_tracker

    assert acme_tracker.created == []
    assert cluster.plugin_manager.get_plugin("tracker") is None
    assert cluster.hooks.any_hooks is False


def test_autoload_zero_means_enabled(
    site_packages: SitePackages, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_tracker(site_packages)
    monkeypatch.setenv("NYDUS_DISABLE_PLUGIN_AUTOLOAD", "0")
    cluster = create_cluster(config())
    import acme_tracker

    assert acme_tracker.created == [cluster]


def test_config_names_plugin_without_autoload(
    site_packages: SitePackages, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_tracker(site_packages)
    monkeypatch.setenv("NYDUS_DISABLE_PLUGIN_AUTOLOAD", "1")
    by_name = create_cluster(config(plugins=["tracker"]))
    by_path = create_cluster(config(plugins=["acme_tracker:tracker"]))
    import acme_tracker

    assert acme_tracker.created == [by_name, by_path]


def test_config_unknown_plugin_name(site_packages: SitePackages) -> None:
    install_tracker(site_packages)
    with pytest.raises(PluginError) as info:
        create_cluster(config(plugins=["trakcer"]))
    message = str(info.value)
    assert "unknown hook plugin 'trakcer' in config key 'plugins.0'" in message
    assert "(entry-point group 'nydus.plugins')" in message
    assert "installed hook plugins: " in message
    assert "did you mean 'tracker'?" in message


def test_duplicate_hook_plugin_names_both(site_packages: SitePackages) -> None:
    install_tracker(site_packages, "acme-tracker")
    site_packages.install(
        "other-tracker",
        {"nydus.plugins": {"tracker": "other_tracker:tracker"}},
        {"other_tracker": PLUGIN_SOURCE},
    )
    with pytest.raises(PluginError) as info:
        create_cluster(config())
    message = str(info.value)
    assert "hook plugin short name 'tracker' is ambiguous" in message
    assert "acme-tracker 1.0" in message
    assert "other-tracker 1.0" in message
    assert "'acme_tracker:tracker' (acme-tracker)" in message
    assert "NYDUS_DISABLE_PLUGIN_AUTOLOAD=1" in message


def test_broken_hook_plugin_blocks_clusters(
    site_packages: SitePackages, monkeypatch: pytest.MonkeyPatch
) -> None:
    site_packages.install(
        "broken-tracker",
        {"nydus.plugins": {"broken": "broken_tracker:tracker"}},
        {"broken_tracker": "import nydus_missing_dependency\n"},
    )
    with pytest.raises(PluginError) as info:
        create_cluster(config())
    message = str(info.value)
    assert "failed to load entry point 'broken'" in message
    assert "of distribution broken-tracker 1.0 in group 'nydus.plugins'" in message
    assert "NYDUS_DISABLE_PLUGIN_AUTOLOAD=1" in message
    assert isinstance(info.value.__cause__, ModuleNotFoundError)

    monkeypatch.setenv("NYDUS_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert create_cluster(config()).hooks.any_hooks is False


def test_hook_plugin_with_unknown_hook(site_packages: SitePackages) -> None:
    site_packages.install(
        "typo-plugin",
        {"nydus.plugins": {"typo": "typo_plugin"}},
        {
            "typo_plugin": (
                "from nydus_core import hookimpl\n\n"
                "@hookimpl\n"
                "def nydus_befor_command(command):\n"
                "    pass\n"
            )
        },
    )
    with pytest.raises(PluginError) as info:
        make_plugin_manager()
    message = str(info.value)
    assert "invalid hook plugin module typo_plugin" in message
    assert "entry point 'typo' = 'typo_plugin' of distribution typo-plugin" in message
    assert "nydus_befor_command" in message
