"""The round-robin router, for hosts that hold the same data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nydus_core import BaseRouter, HostDownError, HostSpec


class RoundRobinRouter(BaseRouter):
    """Send each call to the next host in turn, skipping hosts marked down.

    Meant for replicas: a call whose host fails is retried on the next one.
    """

    retryable = True
    remaps_down_hosts = True

    def __init__(
        self, hosts: Sequence[HostSpec], options: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(hosts, options)
        self._position = 0

    def get_hosts(self, command: str, *, peek: bool = False) -> list[int]:
        count = len(self._all)
        down = self._down
        with self._lock:
            start = self._position
            for offset in range(count):
                number = self._all[(start + offset) % count]
                if number not in down:
                    if not peek:
                        self._position = (start + offset + 1) % count
                    return [number]
        identifiers = ", ".join(host.identifier for host in self.hosts)
        raise HostDownError(
            f"every host is marked down ({identifiers}); the cluster checks "
            f"them again {self.retry_timeout:g}s after each went down",
            self._all[start % count],
            self.hosts[start % count].identifier,
        )
