"""Fixtures of the plugin tests: throwaway distributions and Redis servers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nydus_redis import LocalRedisServer

from ._distributions import site_packages

__all__ = ["site_packages"]


@pytest.fixture(scope="session")
def plugin_redis_servers() -> Iterator[list[LocalRedisServer]]:
    """Three running redis-server processes, stopped after the session."""
    servers: list[LocalRedisServer] = []
    try:
        for _ in range(3):
            server = LocalRedisServer()
            server.start()
            servers.append(server)
        yield servers
    finally:
        for server in servers:
            server.stop()
