"""Installed throwaway distributions, for tests of plugin discovery.

A distribution here is a ``NAME-VERSION.dist-info`` folder with
``METADATA`` and ``entry_points.txt``, plus its modules, in a folder put on
``sys.path``. That is what an installer leaves in ``site-packages``, and
``importlib.metadata`` finds it the same way.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from nydus_core import clear_cache


class SitePackages:
    """A folder on ``sys.path`` that test distributions are installed into."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.modules: set[str] = set()

    def install(
        self,
        name: str,
        entry_points: Mapping[str, Mapping[str, str]],
        modules: Mapping[str, str] | None = None,
        version: str = "1.0",
    ) -> Path:
        """Install distribution ``name`` with its entry points and modules.

        :param entry_points: entry points by group, then by name.
        :param modules: source code by module name; a module named
            ``pkg.mod`` becomes ``pkg/mod.py``, with ``pkg/__init__.py``.
        """
        dist_info = self.path / f"{name.replace('-', '_')}-{version}.dist-info"
        dist_info.mkdir(parents=True)
        (dist_info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
            encoding="utf-8",
        )
        lines: list[str] = []
        for group, entries in entry_points.items():
            lines.append(f"[{group}]")
            lines.extend(f"{entry} = {value}" for entry, value in entries.items())
            lines.append("")
        (dist_info / "entry_points.txt").write_text("\n".join(lines), "utf-8")
        for module, source in (modules or {}).items():
            self._write_module(module, source)
        clear_cache()
        return dist_info

    def _write_module(self, module: str, source: str) -> None:
        parts = module.split(".")
        folder = self.path.joinpath(*parts[:-1])
        folder.mkdir(parents=True, exist_ok=True)
        for depth in range(1, len(parts)):
            init = self.path.joinpath(*parts[:depth], "__init__.py")
            if not init.exists():
                init.write_text("", encoding="utf-8")
            self.modules.add(".".join(parts[:depth]))
        (folder / f"{parts[-1]}.py").write_text(source, encoding="utf-8")
        self.modules.add(module)

    def forget_modules(self) -> None:
        """Remove the installed modules from ``sys.modules``."""
        for module in self.modules:
            sys.modules.pop(module, None)


@pytest.fixture
def site_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SitePackages]:
    """An empty folder on ``sys.path`` to install test distributions into.

    The entry-point scan is cleared before and after the test, so that the
    test finds its distributions and later tests do not.
    """
    site = SitePackages(tmp_path / "site-packages")
    site.path.mkdir()
    monkeypatch.syspath_prepend(str(site.path))
    clear_cache()
    yield site
    site.forget_modules()
    clear_cache()
