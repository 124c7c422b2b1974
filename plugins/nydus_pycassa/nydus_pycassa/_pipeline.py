"""The statements of one ``map()`` block for one host, run concurrently."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cassandra import DriverException
from cassandra.cluster import ResponseFuture
from cassandra.protocol import ErrorMessage

if TYPE_CHECKING:
    from nydus_pycassa._backend import CassandraBackend


class _Outcome:
    """The result or the error of one command."""

    __slots__ = ("error", "value")

    def __init__(self, value: Any = None, error: BaseException | None = None) -> None:
        self.value = value
        self.error = error


class CassandraPipeline:
    """The commands of one host in a ``map()`` block.

    Each ``execute`` is sent with the driver's ``execute_async``. At most
    the host's ``max_in_flight`` requests of this pipeline are in flight,
    and the calling thread waits for a free slot before sending more.
    Other commands run in the calling thread, in the order they were added.
    Results come back in call order. The statements of one block run
    concurrently, so none of them may depend on another having run.
    """

    def __init__(self, backend: CassandraBackend) -> None:
        self._backend = backend
        self._commands: list[tuple[str, Sequence[Any], Mapping[str, Any]]] = []

    def add(self, command: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        self._commands.append((command, args, kwargs))

    def execute(self) -> list[Any]:
        """Run the commands; each failure is kept in place of its result.

        Raises instead when the session cannot be opened, or when every
        command failed with a retryable error such as a timeout or a lost
        connection. No command then took effect for certain, so the cluster
        retries the host or marks it down by its policy.
        """
        # Connect first, so that a host that cannot be reached fails as a
        # whole and the cluster can retry it.
        _ = self._backend.session
        in_flight = threading.Semaphore(self._backend.max_in_flight)
        started = [
            self._start(command, args, kwargs, in_flight)
            for command, args, kwargs in self._commands
        ]
        outcomes = [_wait(item) for item in started]
        self._raise_if_host_failed(outcomes)
        return [
            outcome.value if outcome.error is None else self._in_place(outcome.error)
            for outcome in outcomes
        ]

    def _start(
        self,
        command: str,
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        in_flight: threading.Semaphore,
    ) -> ResponseFuture | _Outcome:
        backend = self._backend
        if command != "execute":
            try:
                return _Outcome(backend.execute(command, args, kwargs))
            except Exception as exc:  # noqa: BLE001 - kept in place of the result
                return _Outcome(error=exc)

        in_flight.acquire()
        try:
            future = backend.run_statement("execute_async", args, kwargs)
        except Exception as exc:  # noqa: BLE001 - kept in place of the result
            in_flight.release()
            return _Outcome(error=exc)
        _release_when_done(future, in_flight)
        return future

    def _raise_if_host_failed(self, outcomes: list[_Outcome]) -> None:
        errors = [outcome.error for outcome in outcomes]
        is_retryable = self._backend.is_retryable
        if errors and all(
            error is not None and is_retryable(error) for error in errors
        ):
            first = errors[0]
            assert first is not None
            raise first

    def _in_place(self, error: BaseException) -> BaseException:
        """Return the error to store in place of a result, naming the host."""
        backend = self._backend
        if isinstance(error, backend.retryable_exceptions):
            mapped = backend.map_error(error)
            mapped.__cause__ = error
            return mapped
        if isinstance(error, (DriverException, ErrorMessage)):
            return backend.name_host(error)
        return error


def _release_when_done(future: ResponseFuture, in_flight: threading.Semaphore) -> None:
    """Free a slot of ``in_flight`` once ``future`` has its first result or error."""

    def release(_: Any) -> None:
        # Fetching a further page later runs the callbacks again, so they
        # are removed after the first run.
        future.clear_callbacks()
        in_flight.release()

    future.add_callbacks(release, release)


def _wait(item: ResponseFuture | _Outcome) -> _Outcome:
    if isinstance(item, _Outcome):
        return item
    try:
        return _Outcome(item.result())
    except Exception as exc:  # noqa: BLE001 - kept in place of the result
        return _Outcome(error=exc)
