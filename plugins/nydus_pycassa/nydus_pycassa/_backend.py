"""The Cassandra backend: one cassandra-driver cluster and session per host."""

from __future__ import annotations

import logging
import ssl
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Final

from cassandra import (
    AuthenticationFailed,
    ConsistencyLevel,
    DriverException,
    InvalidRequest,
    OperationTimedOut,
    ReadTimeout,
    Timeout,
    Unavailable,
    WriteTimeout,
)
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    NoHostAvailable,
    Session,
)
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from cassandra.protocol import ErrorMessage
from cassandra.query import PreparedStatement

from nydus_core import (
    BaseBackend,
    HostConnectionError,
    HostError,
    HostTimeoutError,
    Key,
    Option,
    RoutingError,
)
from nydus_pycassa import _config
from nydus_pycassa._config import (
    DEFAULT_CONTACT_POINT,
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_PORT,
    ContactPoint,
    format_contact_point,
    parse_contact_point,
)
from nydus_pycassa._pipeline import CassandraPipeline
from nydus_pycassa._statements import is_write, statement_verb

logger = logging.getLogger("nydus.pycassa")

#: The statement of a host's health check, and the seconds it may take.
HEALTH_CHECK_QUERY: Final = "SELECT release_version FROM system.local"
HEALTH_CHECK_TIMEOUT: Final = 2.0
#: Prepared statements kept per session; the least recently used goes first.
PREPARED_CACHE_SIZE: Final = 1000
#: Commands that run a statement, and so take ``prepare=`` and are checked
#: for a routing key.
STATEMENT_COMMANDS: Final = frozenset({"execute", "execute_async"})
#: Keyword arguments that Nydus consumes before calling the driver.
NYDUS_KEYWORDS: Final = ("routing_key", "prepare")


class PreparedCache:
    """The prepared statements of one driver session.

    Statements are cached by the session's keyspace and the query string,
    because Cassandra resolves unqualified table names when it prepares.
    Holds at most ``size`` statements and drops the least recently used.
    """

    def __init__(self, session: Session, size: int = PREPARED_CACHE_SIZE) -> None:
        self.session = session
        self.size = size
        self._statements: OrderedDict[tuple[str | None, str], PreparedStatement] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._statements)

    def get(self, query: str) -> PreparedStatement:
        """Return the prepared statement of ``query``, preparing it on a miss."""
        key = (self.session.keyspace, query)
        with self._lock:
            statement = self._statements.get(key)
            if statement is not None:
                self._statements.move_to_end(key)
                return statement

        # Two threads may prepare the same query at once; Cassandra returns
        # the same statement id to both, so either copy may be kept.
        statement = self.session.prepare(query)
        with self._lock:
            self._statements[key] = statement
            self._statements.move_to_end(key)
            while len(self._statements) > self.size:
                self._statements.popitem(last=False)
        return statement


class CassandraBackend(BaseBackend):
    """A Cassandra cluster (and keyspace), reached through cassandra-driver.

    Host options: ``contact_points``, ``keyspace``, ``port``, ``username``,
    ``password``, ``local_dc``, ``protocol_version``, ``consistency``,
    ``connect_timeout``, ``request_timeout``, ``ssl``, ``max_in_flight``,
    ``identifier`` and ``weight``. The identifier is
    ``cassandra://host:port/keyspace`` by default.

    The driver routes inside one Cassandra cluster with its token-aware
    policy. Nydus routes between hosts only by the ``routing_key=`` keyword
    of a call, because a CQL string has no key of its own.
    """

    retryable_exceptions: ClassVar[tuple[type[BaseException], ...]] = (
        NoHostAvailable,
        OperationTimedOut,
        ReadTimeout,
        WriteTimeout,
        Unavailable,
    )
    supports_pipelines = True
    options_spec: ClassVar[Mapping[str, Option]] = _config.OPTIONS
    config_keys: ClassVar[frozenset[str]] = frozenset({"keyspace"})

    @classmethod
    def prepare_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        from nydus_pycassa._cluster import CassandraCluster

        return _config.prepare_config(config, CassandraCluster)

    @classmethod
    def check_options(cls, options: Mapping[str, Any], path: str) -> dict[str, Any]:
        return _config.check_host_options(options, path)

    def __init__(self, number: int, **options: Any) -> None:
        points = options.get("contact_points") or [DEFAULT_CONTACT_POINT]
        self.contact_points: list[ContactPoint] = [
            parse_contact_point(point, f"hosts.{number}.contact_points")
            for point in points
        ]
        self.port = int(options.get("port", DEFAULT_PORT))
        self.keyspace: str | None = options.get("keyspace")
        self.max_in_flight = int(options.get("max_in_flight", DEFAULT_MAX_IN_FLIGHT))
        self._prepared: PreparedCache | None = None
        self._prepared_lock = threading.Lock()
        super().__init__(number, **options)

    def default_identifier(self) -> str:
        nodes = ",".join(
            format_contact_point(point, self.port) for point in self.contact_points
        )
        return f"cassandra://{nodes}/{self.keyspace or ''}"

    @property
    def address(self) -> str | None:
        return format_contact_point(self.contact_points[0], self.port)

    # Connecting

    def cluster_options(self) -> dict[str, Any]:
        """Return the keyword arguments of this host's driver ``Cluster``."""
        options = self.options
        contact_points: list[Any] = [
            host if port is None else (host, port) for host, port in self.contact_points
        ]
        settings: dict[str, Any] = {
            "contact_points": contact_points,
            "port": self.port,
            "execution_profiles": {EXEC_PROFILE_DEFAULT: self.execution_profile()},
        }
        if options.get("username"):
            settings["auth_provider"] = PlainTextAuthProvider(
                username=options["username"], password=options["password"]
            )
        if options.get("protocol_version") is not None:
            settings["protocol_version"] = options["protocol_version"]
        if "connect_timeout" in options:
            settings["connect_timeout"] = options["connect_timeout"]
            settings["control_connection_timeout"] = options["connect_timeout"]
        context = options.get("ssl")
        if context is True:
            settings["ssl_context"] = ssl.create_default_context()
        elif isinstance(context, ssl.SSLContext):
            settings["ssl_context"] = context
        return settings

    def execution_profile(self) -> ExecutionProfile:
        """Return the default execution profile: load balancing, consistency and
        request timeout."""
        options = self.options
        local_dc = options.get("local_dc") or ""
        settings: dict[str, Any] = {
            "load_balancing_policy": TokenAwarePolicy(
                DCAwareRoundRobinPolicy(local_dc=local_dc)
            ),
        }
        if options.get("consistency") is not None:
            level = ConsistencyLevel.name_to_value[options["consistency"]]
            settings["consistency_level"] = level
        if "request_timeout" in options:
            settings["request_timeout"] = options["request_timeout"]
        return ExecutionProfile(**settings)

    def connect(self) -> Session:
        started = time.perf_counter()
        cluster = Cluster(**self.cluster_options())
        try:
            session = cluster.connect()
            if self.keyspace:
                self._use_keyspace(session)
        except NoHostAvailable as exc:
            cluster.shutdown()
            if _failed_authentication(exc):
                raise self.map_error(exc) from exc
            raise
        except BaseException:
            cluster.shutdown()
            raise
        logger.debug(
            "connected to host %d (%s) in %.3fs",
            self.number,
            self.identifier,
            time.perf_counter() - started,
        )
        return session

    def _use_keyspace(self, session: Session) -> None:
        try:
            session.set_keyspace(self.keyspace)
        except InvalidRequest as exc:
            raise HostError(
                f"cannot use keyspace {self.keyspace!r} on host {self.number} "
                f"({self.identifier}): {exc}; create the keyspace or fix the "
                f"option 'keyspace' of config key 'hosts.{self.number}'",
                self.number,
                self.identifier,
            ) from exc

    def close_connection(self, connection: Any) -> None:
        connection.cluster.shutdown()

    @property
    def session(self) -> Session:
        """The driver session, connected on first use."""
        session: Session = self.connection
        return session

    # Routing

    def command_keys(
        self, command: str, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> Sequence[Key]:
        """Return the ``routing_key=`` keyword of a call, or no key.

        A statement that writes rows and has no routing key raises
        :class:`RoutingError`, because the router routes by key and the write
        would otherwise go to every host. ``get_conn(key)`` routes by ``key``.
        """
        key = kwargs.get("routing_key")
        if key is not None:
            return (str(key) if isinstance(key, uuid.UUID) else key,)
        if command == "get_conn" and args:
            return (args[0],)
        if command in STATEMENT_COMMANDS and args and is_write(args[0]):
            raise RoutingError(
                f"{statement_verb(args[0])} statement without routing_key: the "
                "router places keys on hosts, and a write without a key would go "
                "to every host; pass routing_key=, for example "
                "cluster.execute(query, parameters, routing_key=tenant_id)"
            )
        return ()

    # Running statements

    def execute(
        self, command: str, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> Any:
        options = dict(kwargs)
        for name in NYDUS_KEYWORDS:
            options.pop(name, None)
        try:
            if command in STATEMENT_COMMANDS:
                return self.run_statement(command, args, kwargs)
            if command == "prepare":
                return self.prepare(*args, **options)
            target: Any = self.session
            for part in command.split("."):
                target = getattr(target, part)
            return target(*args, **options)
        except NoHostAvailable as exc:
            if _failed_authentication(exc):
                raise self.map_error(exc) from exc
            raise
        except self.retryable_exceptions:
            raise
        except (DriverException, ErrorMessage) as exc:
            self.name_host(exc)
            raise

    def run_statement(
        self, command: str, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> Any:
        """Run ``execute`` or ``execute_async`` on the session.

        ``prepare=True`` prepares the query string first, once per session.
        Its markers are then ``?`` or ``:name`` instead of ``%s``.
        """
        if not args:
            raise TypeError(f"{command}() needs a query as its first argument")
        options = dict(kwargs)
        options.pop("routing_key", None)
        query: Any = args[0]
        if options.pop("prepare", False):
            if not isinstance(query, str):
                raise TypeError(
                    f"prepare=True needs a query string, got {type(query).__name__}"
                )
            query = self.prepare(query)
        method = getattr(self.session, command)
        return method(query, *args[1:], **options)

    def prepare(self, query: str) -> PreparedStatement:
        """Return the prepared statement of ``query`` on this host's session.

        Each query is prepared once per session and keyspace. The cache is
        dropped with the session, since the driver does not share prepared
        statements between its ``Cluster`` objects.
        """
        session = self.session
        cache = self._prepared
        if cache is None or cache.session is not session:
            with self._prepared_lock:
                if self._prepared is None or self._prepared.session is not session:
                    self._prepared = PreparedCache(session)
                cache = self._prepared
        return cache.get(query)

    @property
    def prepared_count(self) -> int:
        """The number of prepared statements cached for the current session."""
        cache = self._prepared
        return len(cache) if cache is not None else 0

    def pipeline(self) -> CassandraPipeline:
        return CassandraPipeline(self)

    def ping(self) -> None:
        self.session.execute(HEALTH_CHECK_QUERY, timeout=HEALTH_CHECK_TIMEOUT)

    # Errors

    def is_retryable(self, error: BaseException) -> bool:
        """Return whether a driver error allows a retry: a timeout, too few
        replicas, or nodes unreachable for a reason other than credentials."""
        if not isinstance(error, self.retryable_exceptions):
            return False
        if isinstance(error, NoHostAvailable):
            return not _failed_authentication(error)
        return True

    def name_host(self, error: BaseException) -> BaseException:
        """Add a note naming this host to a driver error, and return it.

        The error keeps its type, so ``except cassandra.InvalidRequest`` and
        the like still match. The note shows in its traceback.
        """
        note = f"on host {self.number} ({self.identifier})"
        if note not in getattr(error, "__notes__", ()):
            error.add_note(note)
        return error

    def map_error(self, error: BaseException) -> HostError:
        where = f"host {self.number} ({self.identifier})"
        detail = f"{type(error).__name__}: {error}"
        if isinstance(error, NoHostAvailable) and _failed_authentication(error):
            return HostConnectionError(
                f"authentication failed on {where}: {detail}; check the username "
                "and password of this host",
                self.number,
                self.identifier,
            )
        if isinstance(error, (OperationTimedOut, Timeout)):
            return HostTimeoutError(
                f"{where} timed out: {detail}", self.number, self.identifier
            )
        if isinstance(error, Unavailable):
            return HostConnectionError(
                f"{where} has too few live replicas: {detail}",
                self.number,
                self.identifier,
            )
        return HostConnectionError(
            f"connection to {where} failed: {detail}", self.number, self.identifier
        )


def _failed_authentication(error: NoHostAvailable) -> bool:
    """Return whether the driver gave up on every node because of credentials."""
    errors = error.errors
    if not isinstance(errors, Mapping) or not errors:
        return False
    return any(isinstance(cause, AuthenticationFailed) for cause in errors.values())
