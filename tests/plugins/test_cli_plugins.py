"""``nydus plugins`` with working, broken and ambiguous plugins installed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import Any

from ._distributions import SitePackages

ROUTER_SOURCE = """
from nydus_core import BaseRouter


class FancyRouter(BaseRouter):
    pass
"""


def nydus_plugins(
    site: SitePackages, *args: str, **environment: str
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **environment}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(site.path), *filter(None, [env.get("PYTHONPATH")])]
    )
    return subprocess.run(
        [sys.executable, "-m", "nydus_core", "plugins", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def install_mixture(site: SitePackages) -> None:
    site.install(
        "acme-routers",
        {"nydus.routers": {"fancy": "acme_fancy:FancyRouter"}},
        {"acme_fancy": ROUTER_SOURCE},
    )
    site.install(
        "other-routers",
        {"nydus.routers": {"fancy": "other_fancy:FancyRouter"}},
        {"other_fancy": ROUTER_SOURCE},
    )
    site.install(
        "broken-backend",
        {"nydus.backends": {"broken": "broken_backend:Backend"}},
        {"broken_backend": "import nydus_missing_dependency\n"},
        version="0.3",
    )
    site.install(
        "odd-router",
        {"nydus.routers": {"odd": "odd_router:NotARouter"}},
        {"odd_router": "class NotARouter:\n    pass\n"},
    )
    site.install(
        "acme-tracker",
        {"nydus.plugins": {"tracker": "acme_tracker"}},
        {
            "acme_tracker": (
                "from nydus_core import hookimpl\n\n"
                "@hookimpl\n"
                "def nydus_cluster_created(cluster):\n"
                "    pass\n"
            )
        },
    )
    site.install(
        "empty-plugin",
        {"nydus.plugins": {"empty": "empty_plugin"}},
        {"empty_plugin": "VALUE = 1\n"},
    )
    site.install(
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


def rows_by_name(output: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {
        (row["kind"], row["name"], row["distribution"]): row
        for row in json.loads(output)
    }


def test_cli_plugins_text_marks_broken(site_packages: SitePackages) -> None:
    install_mixture(site_packages)
    result = nydus_plugins(site_packages)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()

    def line_of(pattern: str) -> str:
        found = [line for line in lines if re.match(pattern, line)]
        assert len(found) == 1, f"{pattern!r} in:\n{result.stdout}"
        return found[0]

    broken = line_of(r"backend\s+broken\s+broken_backend:Backend\s+broken-backend 0.3")
    assert "BROKEN: failed to load entry point 'broken'" in broken
    assert "No module named 'nydus_missing_dependency'" in broken
    fancy = line_of(r"router\s+fancy\s+acme_fancy:FancyRouter\s+acme-routers 1.0")
    assert "BROKEN: router short name 'fancy' is ambiguous" in fancy
    assert "other-routers 1.0" in fancy
    odd = line_of(r"router\s+odd\s+odd_router:NotARouter\s+odd-router 1.0")
    assert "not a subclass of nydus_core._router.BaseRouter" in odd
    tracker = line_of(r"hook plugin\s+tracker\s+acme_tracker\s+acme-tracker 1.0$")
    assert "BROKEN" not in tracker
    typo = line_of(r"hook plugin\s+typo\s+typo_plugin\s+typo-plugin 1.0")
    assert "BROKEN: invalid hook plugin module typo_plugin" in typo
    assert "nydus_befor_command" in typo
    empty = line_of(r"hook plugin\s+empty\s+empty_plugin\s+empty-plugin 1.0")
    assert "BROKEN: hook plugin module empty_plugin from entry point" in empty
    assert "implements none of the Nydus hooks" in empty
    line_of(r"router\s+partition\s+nydus_routers:PartitionRouter\s+nydus-routers")
    line_of(r"backend\s+redis\s+nydus_redis:RedisBackend\s+nydus-redis")


def test_cli_plugins_json(site_packages: SitePackages) -> None:
    install_mixture(site_packages)
    result = nydus_plugins(site_packages, "--json")
    assert result.returncode == 0, result.stderr
    rows = rows_by_name(result.stdout)
    broken = rows[("backend", "broken", "broken-backend")]
    assert broken["target"] == "broken_backend:Backend"
    assert broken["version"] == "0.3"
    assert "failed to load entry point 'broken'" in broken["error"]
    assert "ambiguous" in rows[("router", "fancy", "acme-routers")]["error"]
    assert "ambiguous" in rows[("router", "fancy", "other-routers")]["error"]
    tracker = rows[("hook plugin", "tracker", "acme-tracker")]
    assert tracker["error"] is None
    assert tracker["autoload"] is True
    assert rows[("router", "partition", "nydus-routers")]["error"] is None
    assert rows[("router", "all", "nydus-core")]["error"] is None
    assert set(rows[("router", "all", "nydus-core")]) == {
        "kind",
        "name",
        "target",
        "distribution",
        "version",
        "error",
    }


def test_cli_plugins_autoload_disabled(site_packages: SitePackages) -> None:
    install_mixture(site_packages)
    result = nydus_plugins(site_packages, NYDUS_DISABLE_PLUGIN_AUTOLOAD="1")
    assert result.returncode == 0, result.stderr
    tracker = [line for line in result.stdout.splitlines() if "acme_tracker" in line]
    assert len(tracker) == 1
    assert "(not autoloaded: NYDUS_DISABLE_PLUGIN_AUTOLOAD is set)" in tracker[0]
    json_result = nydus_plugins(
        site_packages, "--json", NYDUS_DISABLE_PLUGIN_AUTOLOAD="1"
    )
    rows = rows_by_name(json_result.stdout)
    assert rows[("hook plugin", "tracker", "acme-tracker")]["autoload"] is False
