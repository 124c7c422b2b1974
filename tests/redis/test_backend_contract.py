"""The Redis backend passes the backend contract suite of nydus_core.testing."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from nydus_core.testing import BackendContract, Command
from nydus_redis import LocalRedisServer, RedisBackend
from nydus_redis._server import free_port


class TestRedisBackendContract(BackendContract):
    backend_class = RedisBackend
    write_command: ClassVar[Command] = ("set", ("contract:key", "value"), {})
    read_command: ClassVar[Command] = ("get", ("contract:key",), {})
    read_result = b"value"
    error_command: ClassVar[Command] = ("incr", ("contract:key",), {})
    secret_options: ClassVar[dict[str, Any]] = {
        "password": "contract-secret-password",
    }

    @pytest.fixture
    def host_options(self, servers: list[LocalRedisServer]) -> dict[str, Any]:
        return {"host": servers[0].host, "port": servers[0].port, "db": 3}

    @pytest.fixture
    def unreachable_host_options(self) -> dict[str, Any]:
        # A port that was free a moment ago: nothing listens there.
        return {"host": "127.0.0.1", "port": free_port(), "timeout": 2}
