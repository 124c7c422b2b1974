"""A hook plugin that records every hook call, for tests."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from nydus_core._cluster import Cluster, HostInfo
from nydus_core._hooks import hookimpl


@dataclass(frozen=True)
class HookCall:
    """One call of one hook: its name and its arguments."""

    name: str
    arguments: dict[str, Any]

    def __getitem__(self, argument: str) -> Any:
        return self.arguments[argument]


class HookRecorder:
    """A hook plugin that implements every Nydus hook and records the calls.

    Register it with :func:`nydus_core.register_plugin` or list it in a
    config's ``plugins``. Calls from the threads of ``map()`` are recorded
    too, in the order they happen.
    """

    def __init__(self) -> None:
        self._calls: list[HookCall] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<HookRecorder {len(self._calls)} calls>"

    @property
    def calls(self) -> list[HookCall]:
        """Every recorded call, oldest first."""
        with self._lock:
            return list(self._calls)

    def named(self, name: str) -> list[HookCall]:
        """Return the recorded calls of hook ``name``, such as
        ``'nydus_after_command'``."""
        return [call for call in self.calls if call.name == name]

    def clear(self) -> None:
        """Forget the recorded calls."""
        with self._lock:
            self._calls.clear()

    def _record(self, name: str, **arguments: Any) -> None:
        with self._lock:
            self._calls.append(HookCall(name, arguments))

    @hookimpl
    def nydus_cluster_created(self, cluster: Cluster) -> None:
        self._record("nydus_cluster_created", cluster=cluster)

    @hookimpl
    def nydus_before_command(
        self,
        cluster: Cluster,
        host: HostInfo,
        command: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        self._record(
            "nydus_before_command",
            cluster=cluster,
            host=host,
            command=command,
            args=args,
            kwargs=kwargs,
        )

    @hookimpl
    def nydus_after_command(
        self,
        cluster: Cluster,
        host: HostInfo,
        command: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        result: Any,
        duration: float,
    ) -> None:
        self._record(
            "nydus_after_command",
            cluster=cluster,
            host=host,
            command=command,
            args=args,
            kwargs=kwargs,
            result=result,
            duration=duration,
        )

    @hookimpl
    def nydus_command_error(
        self,
        cluster: Cluster,
        host: HostInfo,
        command: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        error: BaseException,
    ) -> None:
        self._record(
            "nydus_command_error",
            cluster=cluster,
            host=host,
            command=command,
            args=args,
            kwargs=kwargs,
            error=error,
        )

    @hookimpl
    def nydus_host_down(
        self, cluster: Cluster, host: HostInfo, error: BaseException
    ) -> None:
        self._record("nydus_host_down", cluster=cluster, host=host, error=error)

    @hookimpl
    def nydus_host_up(self, cluster: Cluster, host: HostInfo) -> None:
        self._record("nydus_host_up", cluster=cluster, host=host)
