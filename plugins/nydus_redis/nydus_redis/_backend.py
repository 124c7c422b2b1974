"""The Redis backend: one redis-py client per host."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from nydus_core import (
    BaseBackend,
    ConfigError,
    HostConnectionError,
    HostError,
    HostTimeoutError,
    Key,
    Option,
    SplitPlan,
)
from nydus_core._options import check_options
from nydus_redis._commands import TABLE, command_keys, learn_command
from nydus_redis._keyspecs import UnknownCommandError
from nydus_redis._packer import install_fast_packer
from nydus_redis._split import split_command

logger = logging.getLogger("nydus.redis")

DEFAULT_HOST = "localhost"
DEFAULT_PORT = 6379
#: Seconds a health check of a down host may take.
HEALTH_CHECK_TIMEOUT = 1.0

OWN_OPTIONS: dict[str, Option] = {
    **BaseBackend.options_spec,
    "host": Option((str,)),
    "port": Option((int,), minimum=1, maximum=65535),
    "db": Option((int,), minimum=0),
    "timeout": Option((int, float), minimum=0, nullable=True),
    "username": Option((str,), nullable=True),
    "password": Option((str,), nullable=True, secret=True),
    "unix_socket_path": Option((str,), nullable=True),
    "ssl": Option((bool,)),
}

#: redis-py client options passed through as they are, checked by type
#: only where it is obvious; redis-py checks the rest when it connects.
PASS_THROUGH = {
    name: Option((object,), nullable=True)
    for name in inspect.signature(redis.Redis.__init__).parameters
    if name not in ("self", "connection_pool", "password", "socket_timeout")
    and name not in OWN_OPTIONS
}
#: Pass-through options whose form is plain from redis-py's signature.
TYPED_PASS_THROUGH: dict[str, Option] = {
    "ssl_password": Option((str,), nullable=True, secret=True),
    "socket_connect_timeout": Option((int, float), minimum=0, nullable=True),
    "socket_keepalive": Option((bool,), nullable=True),
    "socket_read_size": Option((int,), minimum=1),
    "encoding": Option((str,)),
    "encoding_errors": Option((str,)),
    "decode_responses": Option((bool,)),
    "retry_on_timeout": Option((bool,)),
    "max_connections": Option((int,), minimum=1, nullable=True),
    "single_connection_client": Option((bool,)),
    "health_check_interval": Option((int, float), minimum=0),
    "client_name": Option((str,), nullable=True),
}
PASS_THROUGH.update(
    {
        name: option
        for name, option in TYPED_PASS_THROUGH.items()
        if name in PASS_THROUGH
    }
)
#: Timeouts for which 0 is invalid: redis-py would make the socket
#: non-blocking, and every command would fail.
POSITIVE_TIMEOUTS = ("timeout", "socket_connect_timeout")


class RedisBackend(BaseBackend):
    """A Redis host, reached through a redis-py client and its pool.

    Host options: ``host``, ``port``, ``db``, ``timeout`` (socket timeout in
    seconds), ``username``, ``password``, ``unix_socket_path``, ``ssl``,
    ``identifier``, ``weight``, and redis-py's other client options, passed
    through. The identifier is ``redis://host:port/db`` by default, as in
    Nydus 0.11, because consistent hashing places keys by it.

    redis-py's own retries are off unless ``retry`` is set: Nydus retries
    by the cluster's policy, which can move on to another host.
    """

    retryable_exceptions: ClassVar[tuple[type[BaseException], ...]] = (
        redis.ConnectionError,
        redis.TimeoutError,
    )
    supports_pipelines = True
    options_spec: ClassVar[Mapping[str, Option]] = OWN_OPTIONS

    @classmethod
    def check_options(cls, options: Mapping[str, Any], path: str) -> dict[str, Any]:
        checked = check_options(options, OWN_OPTIONS, path, extra=PASS_THROUGH)
        for name in POSITIVE_TIMEOUTS:
            if checked.get(name) == 0:
                raise ConfigError(
                    f"invalid value 0 for config key '{path}.{name}': expected a "
                    "number of seconds > 0, or None to wait without a limit",
                    f"{path}.{name}",
                )
        password = checked.get("password")
        identifier = checked.get("identifier")
        if password and identifier and password in identifier:
            raise ConfigError(
                f"invalid value for config key '{path}.identifier': it contains the "
                "password; identifiers appear in logs and errors, so choose one "
                "without secrets",
                f"{path}.identifier",
            )
        return checked

    def __init__(self, number: int, **options: Any) -> None:
        self.host = str(options.get("host", DEFAULT_HOST))
        self.port = int(options.get("port", DEFAULT_PORT))
        self.db = int(options.get("db", 0))
        self.unix_socket_path: str | None = options.get("unix_socket_path")
        super().__init__(number, **options)

    def default_identifier(self) -> str:
        if self.unix_socket_path:
            return f"unix://{self.unix_socket_path}?db={self.db}"
        return f"redis://{self.host}:{self.port}/{self.db}"

    @property
    def address(self) -> str | None:
        if self.unix_socket_path:
            return None
        return f"{self.host}:{self.port}"

    def client_options(self) -> dict[str, Any]:
        """Return the keyword arguments of this host's ``redis.Redis``."""
        options = dict(self.options)
        options.pop("identifier", None)
        options.pop("weight", None)
        options["host"] = self.host
        options["port"] = self.port
        options["db"] = self.db
        if "timeout" in options:
            options["socket_timeout"] = options.pop("timeout")
        options.setdefault("retry", Retry(NoBackoff(), 0))
        return options

    def connect(self) -> redis.Redis:
        client = redis.Redis(**self.client_options())
        # Same bytes on the wire as redis-py's packer, in fewer steps.
        install_fast_packer(client)
        return client

    def command_keys(
        self, command: str, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> Sequence[Key]:
        try:
            return command_keys(command, args, kwargs)
        except UnknownCommandError as exc:
            # A command newer than the built-in table: ask this host once.
            if not self._learn_command(exc.name):
                raise
        return command_keys(command, args, kwargs)

    def _learn_command(self, name: str) -> bool:
        try:
            return learn_command(self.connection, name)
        except self.retryable_exceptions as exc:
            logger.warning(
                "reading command %r from host %d (%s) failed: %s",
                name,
                self.number,
                self.identifier,
                self.map_error(exc),
            )
            return False

    def split_command(
        self,
        command: str,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        key_hosts: Sequence[int],
    ) -> SplitPlan | None:
        return split_command(command, args, kwargs, key_hosts)

    def execute(
        self, command: str, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> Any:
        target: Any = self._connection
        if target is None:
            target = self.connection
        # A dotted name reaches a nested method; most names have no dot.
        if "." in command:
            for part in command.split("."):
                target = getattr(target, part)
        else:
            target = getattr(target, command)
        try:
            return target(*args, **kwargs)
        except redis.AuthenticationError as exc:
            raise self.map_error(exc) from exc

    def pipeline(self) -> RedisPipeline:
        return RedisPipeline(self)

    def may_have_run(self, error: BaseException) -> bool:
        # redis-py words a failure to connect as "... connecting to ...": the
        # command was never sent then. Any other timeout or connection error
        # may have come after the server ran it.
        # NOTE: this reads redis-py's messages (checked with redis-py 8.2).
        return "connecting" not in str(error)

    def is_read_only(self, command: str) -> bool:
        cached = _READ_ONLY.get(command)
        if cached is None:
            cached = _READ_ONLY[command] = _command_is_read_only(command)
        return cached

    def ping(self) -> None:
        options = self.client_options()
        options["socket_timeout"] = HEALTH_CHECK_TIMEOUT
        options["socket_connect_timeout"] = HEALTH_CHECK_TIMEOUT
        options["single_connection_client"] = True
        client = redis.Redis(**options)
        try:
            client.ping()
        finally:
            client.close()

    def map_error(self, error: BaseException) -> HostError:
        where = f"host {self.number} ({self.identifier})"
        detail = f"{type(error).__name__}: {error}"
        if isinstance(error, redis.AuthenticationError):
            return HostConnectionError(
                f"authentication failed on {where}: {detail}; check the username "
                "and password of this host",
                self.number,
                self.identifier,
            )
        if isinstance(error, redis.TimeoutError):
            return HostTimeoutError(
                f"{where} timed out: {detail}", self.number, self.identifier
            )
        return HostConnectionError(
            f"connection to {where} failed: {detail}", self.number, self.identifier
        )


class RedisPipeline:
    """A redis-py pipeline without a transaction, for one host."""

    def __init__(self, backend: RedisBackend) -> None:
        self._backend = backend
        self._pipeline = backend.connection.pipeline(transaction=False)
        self._size = 0
        self._errors: dict[int, Exception] = {}

    def add(self, command: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        index = self._size
        self._size += 1
        try:
            method = getattr(self._pipeline, command)
            method(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - kept in place of the result
            self._errors[index] = exc

    def execute(self) -> list[Any]:
        try:
            sent = self._pipeline.execute(raise_on_error=False)
        except redis.AuthenticationError as exc:
            raise self._backend.map_error(exc) from exc
        finally:
            self._pipeline.reset()
        if not self._errors:
            return list(sent)
        results: list[Any] = []
        values = iter(sent)
        for index in range(self._size):
            error = self._errors.get(index)
            results.append(error if error is not None else next(values))
        return results


#: redis-py method name to whether its Redis command only reads.
_READ_ONLY: dict[str, bool] = {}
_METHOD_COMMANDS = {"delete": "del"}


def _command_is_read_only(method: str) -> bool:
    """Return whether a redis-py method sends a command flagged ``readonly``."""
    name = _METHOD_COMMANDS.get(method, method)
    try:
        spec = TABLE.spec([name])
    except Exception:  # noqa: BLE001 - an unknown command counts as a write
        return False
    return "readonly" in spec.flags
