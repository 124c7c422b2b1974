"""The pytest plugin of nydus-core, registered as entry point ``nydus`` of
group ``pytest11``.

It adds two fixtures for the tests of routers, backends and hook plugins.
``-p no:nydus`` turns it off.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nydus_core._hooks import register_plugin, unregister_plugin
from nydus_core._resolve import AUTOLOAD_ENV, clear_cache
from nydus_core.testing._recorder import HookRecorder


@pytest.fixture
def nydus_hook_recorder() -> Iterator[HookRecorder]:
    """A :class:`HookRecorder` registered for every cluster the test creates."""
    recorder = HookRecorder()
    register_plugin(recorder)
    try:
        yield recorder
    finally:
        unregister_plugin(recorder)


@pytest.fixture
def nydus_no_autoload(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Stop hook plugins of the ``nydus.plugins`` group from loading.

    Clusters created in the test then have only the plugins that the test
    registers, whatever else is installed.
    """
    monkeypatch.setenv(AUTOLOAD_ENV, "1")
    clear_cache()
    yield
    clear_cache()
