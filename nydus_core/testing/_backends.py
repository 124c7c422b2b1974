"""The contract test suite for backends.

A backend stands for one host. The cluster relies on it to connect on
first use and to reconnect after a close. Only connection failures may
raise its ``retryable_exceptions``, never an error reply. Pipeline results
come in order, and no identifier contains a secret.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import pytest

from nydus_core._backend import BaseBackend, SerialPipeline
from nydus_core._config import create_cluster
from nydus_core._errors import ConfigError, HostError
from nydus_core.testing._recorder import HookRecorder
from nydus_core.testing._routers import run_threads

#: A command name, its positional arguments and its keyword arguments.
Command = tuple[str, tuple[Any, ...], dict[str, Any]]


class BackendContract:
    """Tests that every backend passes, against a live server.

    Subclass it in a test module with a name that starts with ``Test``, set
    the class attributes, and override the fixtures :meth:`host_options`
    and :meth:`unreachable_host_options`::

        class TestMyBackend(BackendContract):
            backend_class = MyBackend
            write_command = ("set", ("contract:key", "value"), {})
            read_command = ("get", ("contract:key",), {})
            read_result = b"value"
            error_command = ("incr", ("contract:key",), {})
            secret_options = {"password": "contract-secret"}

            @pytest.fixture
            def host_options(self, my_server):
                return {"host": my_server.host, "port": my_server.port}

            @pytest.fixture
            def unreachable_host_options(self):
                return {"host": "127.0.0.1", "port": 1}
    """

    #: The backend under test.
    backend_class: ClassVar[type[BaseBackend]]
    #: A command that stores a value; it runs before :attr:`read_command`.
    write_command: ClassVar[Command]
    #: A command that reads the stored value back.
    read_command: ClassVar[Command]
    #: The result of :attr:`read_command` after :attr:`write_command`.
    read_result: ClassVar[Any]
    #: A command that the server rejects with an error reply once
    #: :attr:`write_command` has run, such as an increment of a string.
    error_command: ClassVar[Command]
    #: Host options whose values must never appear in an identifier, a
    #: ``repr`` or an error message, such as a password.
    secret_options: ClassVar[Mapping[str, Any]] = {}
    #: Threads of the concurrency test.
    thread_count: ClassVar[int] = 8

    @pytest.fixture
    def host_options(self) -> dict[str, Any]:
        """Host options of a live server; subclasses override this fixture."""
        pytest.fail(
            f"{type(self).__name__} must override the host_options fixture with "
            "the host options of a running server"
        )

    @pytest.fixture
    def unreachable_host_options(self) -> dict[str, Any]:
        """Host options of an address where no server listens; subclasses
        override this fixture."""
        pytest.fail(
            f"{type(self).__name__} must override the unreachable_host_options "
            "fixture with the options of an address that refuses connections"
        )

    @pytest.fixture
    def backend(self, host_options: dict[str, Any]) -> Iterator[BaseBackend]:
        """A backend of host 0 on the live server, closed after the test."""
        backend = self.make_backend(0, host_options)
        yield backend
        backend.disconnect()

    @pytest.fixture
    def unreachable_backend(
        self, unreachable_host_options: dict[str, Any]
    ) -> Iterator[BaseBackend]:
        """A backend of host 0 on the unreachable address."""
        backend = self.make_backend(0, unreachable_host_options)
        yield backend
        backend.disconnect()

    def make_backend(self, number: int, options: Mapping[str, Any]) -> BaseBackend:
        """Check ``options`` as a config would and return the backend."""
        checked = self.backend_class.check_options(options, f"hosts.{number}")
        return self.backend_class(number, **checked)

    def run(self, backend: BaseBackend, command: Command) -> Any:
        """Run one command on ``backend`` and return its result."""
        name, args, kwargs = command
        return backend.execute(name, args, kwargs)

    def test_no_connection_before_first_command(self, backend: BaseBackend) -> None:
        assert backend.is_connected is False
        assert isinstance(backend.identifier, str)
        assert backend.identifier != ""

    def test_connect_and_run(self, backend: BaseBackend) -> None:
        self.run(backend, self.write_command)
        assert backend.is_connected is True
        assert self.run(backend, self.read_command) == self.read_result

    def test_ping_live_host(self, backend: BaseBackend) -> None:
        backend.ping()
        self.run(backend, self.write_command)
        assert self.run(backend, self.read_command) == self.read_result

    def test_disconnect_and_reconnect(self, backend: BaseBackend) -> None:
        self.run(backend, self.write_command)
        backend.disconnect()
        assert backend.is_connected is False
        backend.disconnect()
        assert backend.is_connected is False
        assert self.run(backend, self.read_command) == self.read_result
        assert backend.is_connected is True

    def test_unreachable_host_raises_retryable(
        self, unreachable_backend: BaseBackend
    ) -> None:
        retryable = self.backend_class.retryable_exceptions
        assert retryable, "retryable_exceptions is empty"
        with pytest.raises(retryable):
            self.run(unreachable_backend, self.read_command)

    def test_unreachable_host_fails_ping(
        self, unreachable_backend: BaseBackend
    ) -> None:
        with pytest.raises(self.backend_class.retryable_exceptions):
            unreachable_backend.ping()

    def test_map_error_names_host(self, unreachable_backend: BaseBackend) -> None:
        with pytest.raises(self.backend_class.retryable_exceptions) as info:
            self.run(unreachable_backend, self.read_command)
        mapped = unreachable_backend.map_error(info.value)
        assert isinstance(mapped, HostError)
        assert mapped.host == 0
        assert mapped.identifier == unreachable_backend.identifier
        assert unreachable_backend.identifier in str(mapped)

    def test_error_reply_not_retryable(self, backend: BaseBackend) -> None:
        self.run(backend, self.write_command)
        with pytest.raises(Exception) as info:
            self.run(backend, self.error_command)
        assert not isinstance(info.value, self.backend_class.retryable_exceptions), (
            f"an error reply raised {type(info.value).__name__}, one of the "
            "retryable_exceptions; the cluster would retry it and mark the "
            "host down"
        )

    def test_pipeline_results_in_order(self, backend: BaseBackend) -> None:
        pipeline = backend.pipeline()
        for name, args, kwargs in (
            self.write_command,
            self.read_command,
            self.error_command,
            self.read_command,
        ):
            pipeline.add(name, args, kwargs)
        results = pipeline.execute()
        assert len(results) == 4
        assert results[1] == self.read_result
        assert isinstance(results[2], Exception)
        assert not isinstance(results[2], self.backend_class.retryable_exceptions)
        assert results[3] == self.read_result

    def test_pipeline_kind_matches_claim(self, backend: BaseBackend) -> None:
        serial = isinstance(backend.pipeline(), SerialPipeline)
        assert serial is not self.backend_class.supports_pipelines, (
            f"supports_pipelines is {self.backend_class.supports_pipelines} but "
            f"pipeline() returns {'a' if serial else 'no'} SerialPipeline"
        )

    def test_pipeline_unreachable_raises_retryable(
        self, unreachable_backend: BaseBackend
    ) -> None:
        name, args, kwargs = self.read_command
        with pytest.raises(self.backend_class.retryable_exceptions):
            pipeline = unreachable_backend.pipeline()
            pipeline.add(name, args, kwargs)
            pipeline.execute()

    def test_identifier_without_secrets(
        self,
        host_options: dict[str, Any],
        unreachable_host_options: dict[str, Any],
    ) -> None:
        secrets = [str(value) for value in self.secret_options.values()]
        for options in (host_options, unreachable_host_options):
            backend = self.make_backend(3, {**options, **self.secret_options})
            for secret in secrets:
                assert secret not in backend.identifier
                assert secret not in repr(backend)
        backend = self.make_backend(
            3, {**unreachable_host_options, **self.secret_options}
        )
        with pytest.raises(self.backend_class.retryable_exceptions) as info:
            self.run(backend, self.read_command)
        message = str(backend.map_error(info.value))
        for secret in secrets:
            assert secret not in message

    def test_identifier_option_used(self, host_options: dict[str, Any]) -> None:
        backend = self.make_backend(0, {**host_options, "identifier": "contract-a"})
        assert backend.identifier == "contract-a"
        same = self.make_backend(0, host_options)
        again = self.make_backend(0, host_options)
        assert same.identifier == again.identifier

    def test_unknown_option_rejected(self, host_options: dict[str, Any]) -> None:
        with pytest.raises(ConfigError) as info:
            self.make_backend(0, {**host_options, "no_such_option": 1})
        assert "no_such_option" in str(info.value)
        assert "hosts.0" in str(info.value)

    def test_concurrent_commands(self, backend: BaseBackend) -> None:
        self.run(backend, self.write_command)
        results: list[Any] = []

        def read_many(index: int) -> None:
            for _ in range(50):
                results.append(self.run(backend, self.read_command))

        errors = run_threads(self.thread_count, read_many)
        assert errors == []
        assert results == [self.read_result] * (50 * self.thread_count)

    def test_cluster_runs_commands(self, host_options: dict[str, Any]) -> None:
        recorder = HookRecorder()
        cluster = create_cluster(
            {
                "backend": self.backend_class,
                "hosts": {0: host_options},
                "plugins": [recorder],
            }
        )
        try:
            name, args, kwargs = self.write_command
            cluster.execute(name, args, kwargs)
            name, args, kwargs = self.read_command
            assert cluster.execute(name, args, kwargs) == self.read_result
        finally:
            cluster.disconnect()
        after = recorder.named("nydus_after_command")
        assert [call["command"] for call in after] == [
            self.write_command[0],
            self.read_command[0],
        ]
        assert after[1]["result"] == self.read_result
        assert after[1]["host"].number == 0
        assert after[1]["host"].identifier == cluster[0].identifier
