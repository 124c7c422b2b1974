"""Exceptions raised by Nydus.

Backends map their driver's connection and timeout errors to
:class:`HostConnectionError` and :class:`HostTimeoutError` in one place
(``BaseBackend.map_error``). An error reply to a command (a wrong type, a
syntax error) is not mapped: it reaches the caller as the driver raised it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class NydusError(Exception):
    """Base class of every exception Nydus raises."""


class ConfigError(NydusError, ValueError):
    """A cluster configuration is invalid.

    Raised before any connection is opened. ``path`` is the config key path
    of the bad value, such as ``hosts.1.port``.
    """

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path


class PluginError(ConfigError):
    """A backend, router or hook plugin cannot be found or loaded."""


class RoutingError(NydusError, ValueError):
    """A key cannot be routed, for example because of its type."""


class HostError(NydusError):
    """A failure that concerns one host of a cluster.

    ``host`` is the host number and ``identifier`` the host identifier, which
    never contains a password.
    """

    def __init__(self, message: str, host: int, identifier: str) -> None:
        super().__init__(message)
        self.host = host
        self.identifier = identifier


class HostConnectionError(HostError, ConnectionError):
    """The connection to a host failed or was lost."""


class HostTimeoutError(HostError, TimeoutError):
    """A request to a host timed out."""


class HostDownError(HostError, ConnectionError):
    """A host is marked down, and the router does not send its keys elsewhere."""


class CrossShardError(NydusError, ValueError):
    """A command whose keys live on several hosts cannot be split.

    ``hosts`` maps each host number to the keys that live there.
    """

    def __init__(self, command: str, hosts: dict[int, list[Any]]) -> None:
        placement = "; ".join(
            f"host {host}: {', '.join(dict.fromkeys(repr(key) for key in keys))}"
            for host, keys in sorted(hosts.items())
        )
        super().__init__(
            f"command {command!r} has keys on {len(hosts)} hosts ({placement}) and "
            "cannot be split across hosts; keep these keys on one host, for example "
            "with a hash tag (router_options 'hash_tag')"
        )
        self.command = command
        self.hosts = hosts


class CommandFailure:
    """One failed command of a :meth:`Cluster.map` block."""

    __slots__ = ("args", "command", "error", "host", "identifier", "index")

    def __init__(
        self,
        index: int,
        command: str,
        args: Sequence[Any],
        host: int | None,
        identifier: str | None,
        error: BaseException,
    ) -> None:
        self.index = index
        self.command = command
        self.args = tuple(args)
        self.host = host
        self.identifier = identifier
        self.error = error

    def __repr__(self) -> str:
        where = f"host {self.host} ({self.identifier})" if self.host is not None else ""
        return (
            f"<CommandFailure #{self.index} {self.command}{self.args!r} "
            f"{where}: {type(self.error).__name__}: {self.error}>"
        )


class CommandError(NydusError):
    """One or more commands of a :meth:`Cluster.map` block failed.

    ``failures`` lists each failed command with its host and error, in call
    order. The results of the commands that succeeded stay in their
    placeholders.
    """

    def __init__(self, failures: Sequence[CommandFailure]) -> None:
        self.failures = list(failures)
        lines = [f"{len(self.failures)} command(s) failed:"]
        for failure in self.failures[:20]:
            where = (
                f"on host {failure.host} ({failure.identifier})"
                if failure.host is not None
                else "before it reached a host"
            )
            lines.append(
                f"  #{failure.index} {failure.command} {where}: "
                f"{type(failure.error).__name__}: {failure.error}"
            )
        if len(self.failures) > 20:
            lines.append(f"  ... and {len(self.failures) - 20} more")
        super().__init__("\n".join(lines))

    @property
    def errors(self) -> list[BaseException]:
        """The exceptions, in call order."""
        return [failure.error for failure in self.failures]
