"""An in-process backend for the core's unit tests, which need no server.

It records every connection it opens, so tests can check that a config
error is raised before any connection exists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from nydus_core import BaseBackend, Option


class StoreConnection:
    """A dict with Redis-like ``get``, ``set`` and ``incr``."""

    def __init__(self) -> None:
        self.data: dict[Any, Any] = {}
        self.closed = False

    def get(self, key: Any) -> Any:
        return self.data.get(key)

    def set(self, key: Any, value: Any) -> bool:
        self.data[key] = value
        return True

    def incr(self, key: Any, amount: int = 1) -> int:
        self.data[key] = int(self.data.get(key, 0)) + amount
        return int(self.data[key])

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True


class RecordingBackend(BaseBackend):
    """A backend whose hosts are dicts in this process."""

    connections: ClassVar[list[StoreConnection]] = []
    options_spec: ClassVar[Mapping[str, Option]] = {
        **BaseBackend.options_spec,
        "port": Option((int,), minimum=0),
        "password": Option((str,), secret=True),
    }

    def connect(self) -> StoreConnection:
        connection = StoreConnection()
        self.connections.append(connection)
        return connection

    def command_keys(
        self, command: str, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> Sequence[Any]:
        return (args[0],) if args else ()
