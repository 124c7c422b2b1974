"""The backend interface: one connection to one host of a cluster."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from nydus_core._errors import HostConnectionError, HostError
from nydus_core._keys import Key
from nydus_core._options import Option, check_options


class Pipeline(Protocol):
    """Commands queued for one host and sent together."""

    def add(self, command: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        """Queue one command."""

    def execute(self) -> list[Any]:
        """Send the queued commands and return their results in order.

        A command that failed on its own has its exception in place of its
        result. A connection failure raises, since no result is known.
        """


@dataclass(frozen=True)
class CommandPart:
    """One host's share of a command split across hosts."""

    host: int
    command: str
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]


@dataclass(frozen=True)
class SplitPlan:
    """How to run a command whose keys live on several hosts.

    :param parts: one command per host.
    :param merge: builds the caller's result from the parts' results, given
        in the order of ``parts``, so that it equals what one server holding
        every key would return.
    """

    parts: tuple[CommandPart, ...]
    merge: Callable[[list[Any]], Any]


class BaseBackend:
    """Base class of backends.

    A backend object stands for one host: it checks its options and computes
    its identifier without any I/O, and connects on first use.

    :param number: the host number.
    :param options: the host options, already checked by
        :meth:`check_options`.
    """

    #: Exceptions of the driver after which a call may be retried:
    #: connection failures and timeouts, never an error reply to a command.
    retryable_exceptions: ClassVar[tuple[type[BaseException], ...]] = ()
    #: Whether :meth:`pipeline` sends many commands in one round trip.
    supports_pipelines: ClassVar[bool] = False
    #: The accepted host options.
    options_spec: ClassVar[Mapping[str, Option]] = {
        "identifier": Option((str,)),
        "weight": Option((int, float), minimum=0),
    }
    #: Config keys beyond the core's that :meth:`prepare_config` consumes.
    config_keys: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, number: int, **options: Any) -> None:
        self.number = number
        self.options = options
        self.weight = float(options.get("weight", 1.0))
        self.identifier = str(options.get("identifier") or self.default_identifier())
        self._connection: Any = None
        self._connect_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.number}: {self.identifier}>"

    def __getattr__(self, name: str) -> Any:
        # Nydus 0.11 let ``cluster[0].get('key')`` reach the driver directly.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.connection, name)

    @classmethod
    def prepare_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """Rewrite a whole cluster config before the core checks it.

        Backends use this to accept the config forms of Nydus 0.11 that
        differ from the ``hosts`` dict, and to consume :attr:`config_keys`.
        """
        return config

    @classmethod
    def check_options(cls, options: Mapping[str, Any], path: str) -> dict[str, Any]:
        """Check the options of one host; ``path`` is their config key path."""
        return check_options(options, cls.options_spec, path)

    @property
    def address(self) -> str | None:
        """``host:port`` of a network host, or ``None``."""
        return None

    def default_identifier(self) -> str:
        """Return the identifier used when the host options set none."""
        return f"{type(self).__name__.lower()}-{self.number}"

    @property
    def connection(self) -> Any:
        """The driver's connection object, opened on first use."""
        connection = self._connection
        if connection is None:
            with self._connect_lock:
                if self._connection is None:
                    self._connection = self.connect()
                connection = self._connection
        return connection

    @property
    def is_connected(self) -> bool:
        """Whether a connection object exists."""
        return self._connection is not None

    def connect(self) -> Any:
        """Create the driver's connection object."""
        raise NotImplementedError

    def disconnect(self) -> None:
        """Close the connection, if one is open."""
        with self._connect_lock:
            connection, self._connection = self._connection, None
        if connection is not None:
            self.close_connection(connection)

    def close_connection(self, connection: Any) -> None:
        """Close a connection object created by :meth:`connect`."""
        close = getattr(connection, "close", None)
        if close is not None:
            close()

    def command_keys(
        self, command: str, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> Sequence[Key]:
        """Return the keys that route a command; empty when it has none.

        The default, Nydus 0.11's rule, routes by the first argument.
        """
        if args:
            return (args[0],)
        return ()

    def split_command(
        self,
        command: str,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        key_hosts: Sequence[int],
    ) -> SplitPlan | None:
        """Return how to split a command whose keys live on several hosts.

        ``key_hosts`` gives the host of each key that :meth:`command_keys`
        returned, in the same order. ``None``, the default, means the
        command cannot be split, and the cluster raises
        :class:`CrossShardError`.
        """
        return None

    def execute(
        self, command: str, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> Any:
        """Run one command; dotted names such as ``a.b`` reach nested methods."""
        target = self.connection
        for part in command.split("."):
            target = getattr(target, part)
        return target(*args, **kwargs)

    def pipeline(self) -> Pipeline:
        """Return a pipeline; backends without pipelines run commands one by one."""
        return SerialPipeline(self)

    def may_have_run(self, error: BaseException) -> bool:
        """Return whether a command that failed with ``error`` may have run.

        A timeout or a connection lost after the command was sent leaves it
        unknown; a refused connection does not. The default, ``False``, lets
        the cluster retry every command; a backend that can tell overrides
        this and :meth:`is_read_only`, so that writes are never repeated.
        """
        return False

    def is_read_only(self, command: str) -> bool:
        """Return whether ``command`` only reads, so running it twice is harmless."""
        return False

    def ping(self) -> None:
        """Send a health check to the host, raising a retryable error if it fails."""
        _ = self.connection

    def map_error(self, error: BaseException) -> HostError:
        """Map a retryable driver error to a Nydus error naming this host."""
        return HostConnectionError(
            f"host {self.number} ({self.identifier}) failed: "
            f"{type(error).__name__}: {error}",
            self.number,
            self.identifier,
        )


class SerialPipeline:
    """A pipeline that runs each command on its own, in order."""

    def __init__(self, backend: BaseBackend) -> None:
        self._backend = backend
        self._commands: list[tuple[str, Sequence[Any], Mapping[str, Any]]] = []

    def add(self, command: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        self._commands.append((command, args, kwargs))

    def execute(self) -> list[Any]:
        results: list[Any] = []
        retryable = self._backend.retryable_exceptions
        for command, args, kwargs in self._commands:
            try:
                results.append(self._backend.execute(command, args, kwargs))
            except retryable:
                raise
            except Exception as exc:  # noqa: BLE001 - kept in place of the result
                results.append(exc)
        return results
