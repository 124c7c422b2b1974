"""Test kit for authors of Nydus routers, backends and hook plugins.

Subclass a contract suite in a test module and name what it tests::

    from nydus_core.testing import KeyRouterContract

    class TestMyRouter(KeyRouterContract):
        router_class = MyRouter

pytest then runs every test of the suite against ``MyRouter``. The suites
are :class:`RouterContract` (every router), :class:`KeyRouterContract`
(routers that place keys) and :class:`BackendContract` (backends, against
a live server that the subclass provides). :class:`HookRecorder` is a hook
plugin that records every call.

nydus-core also registers a pytest plugin (entry point ``pytest11``, name
``nydus``) with the fixtures ``nydus_hook_recorder`` and
``nydus_no_autoload``. This package needs pytest; importing it without
pytest installed raises ``ImportError``.
"""

import pytest

# Rewritten asserts show the compared values when a contract test fails.
pytest.register_assert_rewrite(
    "nydus_core.testing._backends", "nydus_core.testing._routers"
)

from nydus_core.testing._backends import BackendContract, Command  # noqa: E402
from nydus_core.testing._recorder import HookCall, HookRecorder  # noqa: E402
from nydus_core.testing._routers import (  # noqa: E402
    KeyRouterContract,
    RouterContract,
    contract_hosts,
    sample_keys,
)

__all__ = [
    "BackendContract",
    "Command",
    "HookCall",
    "HookRecorder",
    "KeyRouterContract",
    "RouterContract",
    "contract_hosts",
    "sample_keys",
]
