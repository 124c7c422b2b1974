"""The cluster: routes each call to its hosts, retries, and tracks down hosts."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

import pluggy

from nydus_core._backend import BaseBackend, SplitPlan
from nydus_core._errors import CrossShardError, HostDownError, HostError, NydusError
from nydus_core._hooks import HookRunner, make_plugin_manager
from nydus_core._keys import Key
from nydus_core._router import BaseRouter, HostSpec

if TYPE_CHECKING:
    from nydus_core._map import MapContext

logger = logging.getLogger("nydus.cluster")

#: The ``host`` argument of hooks: the host number, identifier and weight.
HostInfo = HostSpec

DEFAULT_MAX_CONNECTION_RETRIES = 20
DEFAULT_RETRY_BACKOFF = 0.05
DEFAULT_RETRY_BACKOFF_MAX = 1.0
DEFAULT_RETRY_DEADLINE = 2.0
#: Seconds between two log records of the same message about the same host.
LOG_INTERVAL = 1.0


class Route:
    """The destination of one call: its hosts, or a plan that splits it."""

    __slots__ = ("hosts", "keys", "plan")

    def __init__(
        self, hosts: list[int], keys: Sequence[Key], plan: SplitPlan | None = None
    ) -> None:
        self.hosts = hosts
        self.keys = keys
        self.plan = plan


class CommandProxy:
    """A command name bound to a cluster; dotted names chain (``cluster.a.b()``)."""

    __slots__ = ("_cluster", "_name")

    def __init__(self, cluster: Cluster, name: str) -> None:
        self._cluster = cluster
        self._name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._cluster.execute(self._name, args, kwargs)

    def __getattr__(self, name: str) -> CommandProxy:
        if name.startswith("__"):
            raise AttributeError(name)
        return CommandProxy(self._cluster, f"{self._name}.{name}")

    def __repr__(self) -> str:
        return f"<CommandProxy {self._name!r} of {self._cluster!r}>"


class Cluster:
    """Hosts of one backend behind a router.

    Calling any other attribute runs that command: ``cluster.incr('foo')``
    goes to the host that owns ``'foo'`` and returns its value; a call that
    goes to several hosts returns a list of their values in host order.

    Prefer :func:`create_cluster`, which checks a config and builds this.

    :param hosts: the backends by host number, numbered from 0.
    :param router: the router, built for the same hosts.
    :param max_connection_retries: how many times a call is retried after a
        retryable error, when the router is retryable.
    :param retry_backoff: the first delay, in seconds, before retrying the
        same host; it doubles on each retry, with full jitter.
    :param retry_backoff_max: the largest such delay, in seconds.
    :param retry_deadline: the total seconds a call may spend retrying, or
        ``None`` for no limit beyond ``max_connection_retries``.
    :param workers: the threads that run :meth:`map` blocks; by default one
        per host, at most 32.
    :param plugin_manager: the hook plugins; by default the global ones.
    """

    def __init__(
        self,
        hosts: Mapping[int, BaseBackend],
        router: BaseRouter,
        *,
        max_connection_retries: int = DEFAULT_MAX_CONNECTION_RETRIES,
        retry_backoff: float = DEFAULT_RETRY_BACKOFF,
        retry_backoff_max: float = DEFAULT_RETRY_BACKOFF_MAX,
        retry_deadline: float | None = DEFAULT_RETRY_DEADLINE,
        workers: int | None = None,
        plugin_manager: pluggy.PluginManager | None = None,
    ) -> None:
        self.hosts: dict[int, BaseBackend] = dict(sorted(hosts.items()))
        self.router = router
        self.max_connection_retries = max_connection_retries
        self.retry_backoff = retry_backoff
        self.retry_backoff_max = retry_backoff_max
        self.retry_deadline = retry_deadline
        self.workers = workers or min(32, max(1, len(self.hosts)))
        self.plugin_manager = plugin_manager or make_plugin_manager()
        self.hooks = HookRunner(self.plugin_manager)

        self._first = next(iter(self.hosts.values()))
        self._infos = {host.number: host for host in router.hosts}
        self._down_since: dict[int, float] = {}
        self._state_lock = threading.Lock()
        self._readmitting: set[int] = set()
        self._last_log: dict[tuple[int, str], tuple[float, int]] = {}
        self._log_lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {type(self._first).__name__} "
            f"hosts={len(self.hosts)} router={type(self.router).__name__}>"
        )

    def __getattr__(self, name: str) -> CommandProxy:
        if name.startswith("_"):
            raise AttributeError(name)
        proxy = CommandProxy(self, name)
        # Cached on the instance, so the next lookup skips __getattr__.
        self.__dict__[name] = proxy
        return proxy

    def __len__(self) -> int:
        return len(self.hosts)

    def __iter__(self) -> Iterator[int]:
        return iter(self.hosts)

    def __getitem__(self, number: int) -> BaseBackend:
        try:
            return self.hosts[number]
        except KeyError:
            raise KeyError(
                f"no host {number!r} in this cluster; its hosts are "
                f"{', '.join(map(str, self.hosts))}"
            ) from None

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.disconnect()

    # Routing

    def hosts_for(self, command: str, *args: Any, **kwargs: Any) -> list[int]:
        """Return the host numbers a call would go to, without running it.

        Raises what the call would raise before reaching a host, such as
        :class:`CrossShardError` or :class:`HostDownError`.
        """
        route = self.route(command, args, kwargs, peek=True)
        if route.plan is not None:
            return sorted({part.host for part in route.plan.parts})
        return route.hosts

    def route_one(
        self, command: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> tuple[int | None, Sequence[Key] | None]:
        """Return the host and keys of a call that one key routes.

        This is :meth:`route`'s common case without building a
        :class:`Route`, and :meth:`execute` and :meth:`map` call it once per
        command. The host is ``None`` when a host is down, the router does
        not route by key, or the call has no key or several keys. Then
        :meth:`route` handles the call, given the keys found here (``None``
        when none were looked for), so they are not looked up twice. It
        raises what :meth:`route` raises for the same call.
        """
        router = self.router
        if self._down_since or router._down or not router.routes_by_key:
            return None, None
        keys = self._first.command_keys(command, args, kwargs)
        if len(keys) != 1:
            return None, keys
        return router.get_host(keys[0]), keys

    def route(
        self,
        command: str,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        *,
        peek: bool = False,
        keys: Sequence[Key] | None = None,
    ) -> Route:
        """Return where a call goes: its hosts, or how it is split.

        :param keys: the call's keys when the caller already found them.
        """
        if self._down_since and not peek:
            self._readmit_due()
        router = self.router
        if not router.routes_by_key:
            return Route(router.get_hosts(command, peek=peek), ())
        if keys is None:
            keys = self._first.command_keys(command, args, kwargs)
        if not keys:
            hosts = router.get_hosts(command, peek=peek)
            for host in hosts:
                # No other host can run a fan-out's command in its place.
                self._check_up(host, fan_out=True)
            return Route(hosts, ())
        if len(keys) == 1:
            host = router.get_host(keys[0])
            self._check_up(host)
            return Route([host], keys)
        return self._route_keys(command, args, kwargs, keys)

    def _route_keys(
        self,
        command: str,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        keys: Sequence[Key],
    ) -> Route:
        get_host = self.router.get_host
        key_hosts = [get_host(key) for key in keys]
        distinct = set(key_hosts)
        for host in distinct:
            self._check_up(host)
        if len(distinct) == 1:
            return Route([key_hosts[0]], keys)

        plan = self._first.split_command(command, args, kwargs, key_hosts)
        if plan is None:
            placement: dict[int, list[Any]] = {}
            for key, host in zip(keys, key_hosts, strict=True):
                placement.setdefault(host, []).append(key)
            raise CrossShardError(command, placement)
        return Route(sorted(distinct), keys, plan)

    def _check_up(self, host: int, *, fan_out: bool = False) -> None:
        router = self.router
        if host in router.down and (fan_out or not router.remaps_down_hosts):
            info = self._infos[host]
            reason = (
                "a command without keys goes to every host"
                if fan_out
                else "the router does not send its keys to another host"
            )
            raise HostDownError(
                f"host {host} ({info.identifier}) is marked down and {reason}; "
                f"the cluster checks it again {router.retry_timeout:g}s after it "
                "went down",
                host,
                info.identifier,
            )

    # Running commands

    def execute(
        self, command: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> Any:
        """Run ``command`` on the hosts its router picks and return the result."""
        host, keys = self.route_one(command, args, kwargs)
        if host is not None and keys is not None:
            return self.call_host(host, command, args, kwargs, keys)
        route = self.route(command, args, kwargs, keys=keys)
        if route.plan is not None:
            return self._run_plan(route.plan)
        if len(route.hosts) == 1:
            return self.call_host(route.hosts[0], command, args, kwargs, route.keys)
        return [
            self.call_host(host, command, args, kwargs, route.keys)
            for host in route.hosts
        ]

    def _run_plan(self, plan: SplitPlan) -> Any:
        # NOTE: parts are not atomic together. When one part's host fails, the
        # parts sent to the other hosts stay applied (half of a split MSET)
        # and the call raises that part's error.
        futures = [
            self.submit(
                self.call_host, part.host, part.command, part.args, part.kwargs, ()
            )
            for part in plan.parts[1:]
        ]
        first = plan.parts[0]
        try:
            results = [
                self.call_host(first.host, first.command, first.args, first.kwargs, ())
            ]
        finally:
            # Every part ends before the call returns or raises, so that no
            # part still in flight can overwrite what the caller writes next.
            wait(futures)
        results.extend(future.result() for future in futures)
        return plan.merge(results)

    def call_host(
        self,
        host: int,
        command: str,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        keys: Sequence[Key] = (),
    ) -> Any:
        """Run ``command`` on host ``host``, retrying as configured.

        When the router sends the keys of a down host elsewhere, a retry goes
        to the host the router picks then.
        """
        attempt = 0
        started = 0.0
        first_failure = 0.0
        while True:
            backend = self.hosts[host]
            hooks = self.hooks.command_hooks
            if hooks:
                self._before(host, command, args, kwargs)
                started = time.perf_counter()
            try:
                result = backend.execute(command, args, kwargs)
            except backend.retryable_exceptions as exc:
                if hooks:
                    self._error(host, command, args, kwargs, exc)
                if attempt == 0:
                    first_failure = time.monotonic()
                host = self._next_attempt(
                    host, command, keys, exc, attempt, first_failure
                )
                attempt += 1
                continue
            except Exception as exc:
                if hooks:
                    self._error(host, command, args, kwargs, exc)
                raise
            if hooks:
                duration = time.perf_counter() - started
                self._after(host, command, args, kwargs, result, duration)
            return result

    def _next_attempt(
        self,
        host: int,
        command: str,
        keys: Sequence[Key],
        error: BaseException,
        attempt: int,
        first_failure: float,
    ) -> int:
        """Pick the host of the next attempt after a retryable error, or raise."""
        backend = self.hosts[host]
        mapped = backend.map_error(error)
        router = self.router
        if not router.retryable:
            raise mapped from error
        if backend.may_have_run(error) and not backend.is_read_only(command):
            # A write that may have run is not repeated: a second INCR or
            # LPUSH would apply twice. The caller sees the error instead, and
            # a health check decides whether the host goes down.
            self.check_after_failure(host, mapped)
            raise mapped from error
        if attempt >= self.max_connection_retries or self._past_deadline(first_failure):
            self.mark_down(host, mapped)
            raise mapped from error

        delay = 0.0
        if router.remaps_down_hosts:
            self.mark_down(host, mapped)
            next_host = self._reroute(command, keys, mapped)
        else:
            next_host = host
            delay = self._backoff_delay(attempt, first_failure)

        self._log_limited(
            host,
            logging.DEBUG,
            "retrying %s on host %d (%s) in %.3fs, retry %d of at most %d, after %s",
            command,
            next_host,
            self._infos[next_host].identifier,
            delay,
            attempt + 1,
            self.max_connection_retries,
            mapped,
        )
        if delay > 0:
            time.sleep(delay)
        return next_host

    def check_after_failure(self, host: int, error: HostError) -> None:
        """Mark ``host`` down if it fails a health check after ``error``.

        Used when a failed write is not retried, so that a dead host is
        still ejected.
        """
        backend = self.hosts[host]
        try:
            backend.ping()
        except Exception:  # noqa: BLE001 - any failure means the host is down
            self.mark_down(host, error)

    def _reroute(self, command: str, keys: Sequence[Key], error: HostError) -> int:
        """Return the host that takes over a call from a host just marked down."""
        router = self.router
        if keys:
            hosts = {router.get_host(key) for key in keys}
            if len(hosts) > 1:
                # The keys of the down host now belong to several hosts.
                raise error
            return hosts.pop()
        if router.routes_by_key:
            # A call without keys, or one host's part of a split call, belongs
            # to the host that failed, and no other host can run it instead.
            raise error
        up = [host for host in router.get_hosts(command) if host not in router.down]
        if not up:
            raise error
        return up[0]

    def _past_deadline(self, first_failure: float) -> bool:
        deadline = self.retry_deadline
        return deadline is not None and time.monotonic() - first_failure >= deadline

    def _backoff_delay(self, attempt: int, first_failure: float) -> float:
        """Return the delay before retry ``attempt + 1``: full jitter, capped.

        The delay is uniform between 0 and ``retry_backoff * 2**attempt``,
        at most ``retry_backoff_max`` and at most the time left before the
        retry deadline.
        """
        # The exponent stops at 64 so that the product stays a finite float.
        growth = 2.0 ** min(attempt, 64)
        ceiling = min(self.retry_backoff_max, self.retry_backoff * growth)
        delay = random.uniform(0, ceiling)
        if self.retry_deadline is not None:
            left = first_failure + self.retry_deadline - time.monotonic()
            delay = min(delay, max(left, 0.0))
        return delay

    def _sleep_backoff(self, attempt: int, first_failure: float) -> None:
        time.sleep(self._backoff_delay(attempt, first_failure))

    # Hooks

    def _before(
        self, host: int, command: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> None:
        self.hooks.call(
            "nydus_before_command",
            cluster=self,
            host=self._infos[host],
            command=command,
            args=args,
            kwargs=kwargs,
        )

    def _after(
        self,
        host: int,
        command: str,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        result: Any,
        duration: float,
    ) -> None:
        self.hooks.call(
            "nydus_after_command",
            cluster=self,
            host=self._infos[host],
            command=command,
            args=args,
            kwargs=kwargs,
            result=result,
            duration=duration,
        )

    def _error(
        self,
        host: int,
        command: str,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        error: BaseException,
    ) -> None:
        self.hooks.call(
            "nydus_command_error",
            cluster=self,
            host=self._infos[host],
            command=command,
            args=args,
            kwargs=kwargs,
            error=error,
        )

    # Down hosts

    def mark_down(self, host: int, error: BaseException) -> None:
        """Mark ``host`` down after ``error``; it is checked again later."""
        with self._state_lock:
            if host in self._down_since:
                return
            self._down_since[host] = time.monotonic()
            self.router.mark_down(host)
        info = self._infos[host]
        self._log_limited(
            host,
            logging.WARNING,
            "host %d (%s) marked down, to be checked again in %gs, after: %s",
            host,
            info.identifier,
            self.router.retry_timeout,
            error,
        )
        if self.hooks.any_hooks:
            self.hooks.call("nydus_host_down", cluster=self, host=info, error=error)

    def mark_up(self, host: int) -> None:
        """Mark ``host`` up again."""
        with self._state_lock:
            if self._down_since.pop(host, None) is None:
                return
            self.router.mark_up(host)
        info = self._infos[host]
        self._log_limited(
            host, logging.INFO, "host %d (%s) is back", host, info.identifier
        )
        if self.hooks.any_hooks:
            self.hooks.call("nydus_host_up", cluster=self, host=info)

    def _readmit_due(self) -> None:
        """Health-check the down hosts whose retry timeout passed."""
        now = time.monotonic()
        timeout = self.router.retry_timeout
        with self._state_lock:
            due = [
                host
                for host, since in self._down_since.items()
                if now - since >= timeout and host not in self._readmitting
            ]
            self._readmitting.update(due)
        for host in due:
            try:
                self._health_check(host)
            finally:
                with self._state_lock:
                    self._readmitting.discard(host)

    def _health_check(self, host: int) -> None:
        backend = self.hosts[host]
        try:
            backend.ping()
        except Exception as exc:  # noqa: BLE001 - any failure keeps it down
            with self._state_lock:
                if host in self._down_since:
                    self._down_since[host] = time.monotonic()
            self._log_limited(
                host,
                logging.DEBUG,
                "host %d (%s) failed its health check: %s",
                host,
                self._infos[host].identifier,
                backend.map_error(exc)
                if isinstance(exc, backend.retryable_exceptions)
                else exc,
            )
            return
        self.mark_up(host)

    def _log_limited(self, host: int, level: int, message: str, *args: Any) -> None:
        """Log at most once a second per host and message.

        The next record of a message states how many repeats were dropped.
        """
        if not logger.isEnabledFor(level):
            return
        now = time.monotonic()
        marker = (host, message)
        with self._log_lock:
            last, dropped = self._last_log.get(marker, (None, 0))
            if last is not None and now - last < LOG_INTERVAL:
                self._last_log[marker] = (last, dropped + 1)
                return
            self._last_log[marker] = (now, 0)
        if dropped and last is not None:
            message += "; %d more like this in the last %gs were not logged"
            args = (*args, dropped, now - last)
        logger.log(level, message, *args)

    # Connections

    def get_conn(self, *args: Any, **kwargs: Any) -> Any:
        """Return the driver connection for a key, or every connection.

        As in Nydus 0.11, the arguments are routed like a command's: with a
        key, the owning host's connection; without, a list of all of them.
        """
        hosts = self.route("get_conn", args, kwargs).hosts
        connections = [self.hosts[host].connection for host in hosts]
        if len(connections) == 1:
            return connections[0]
        return connections

    def disconnect(self) -> None:
        """Close every connection and stop the map() threads.

        The cluster stays usable: the next call connects again.
        """
        # NOTE: sockets in use are closed too, so calls in flight on other
        # threads fail with connection errors and are retried, and may mark
        # hosts down. A socket that such a call opens meanwhile closes only
        # when the old client is garbage-collected. Call this at shutdown.
        with self._executor_lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        errors: list[tuple[int, Exception]] = []
        for number, backend in self.hosts.items():
            try:
                backend.disconnect()
            except Exception as exc:  # noqa: BLE001 - close the others first
                errors.append((number, exc))
        for number, error in errors:
            logger.warning(
                "closing host %d (%s) failed: %s",
                number,
                self._infos[number].identifier,
                error,
            )

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The thread pool of :meth:`map`, created on first use."""
        with self._executor_lock:
            return self._executor_locked()

    def _executor_locked(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=self.workers, thread_name_prefix="nydus-map"
            )
        return self._executor

    def submit(self, function: Any, *args: Any) -> Future[Any]:
        """Run ``function(*args)`` on the cluster's thread pool.

        The pool is fetched and used under one lock, so a concurrent
        :meth:`disconnect` cannot hand this call a pool that is shut down.
        """
        with self._executor_lock:
            return self._executor_locked().submit(function, *args)

    def map(
        self, workers: int | None = None, fail_silently: bool = False
    ) -> MapContext:
        """Return a context that queues commands and runs them on exit.

        All commands for one host go out in one pipeline, and hosts run in
        parallel on the cluster's thread pool.

        :param workers: the most hosts run at once for this block; by
            default the cluster's ``workers``.
        :param fail_silently: leave each exception in place of its result
            instead of raising :class:`CommandError`.
        """
        from nydus_core._map import MapContext

        if workers is not None and (
            isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
        ):
            raise ValueError(f"invalid workers {workers!r}: expected an int >= 1")
        return MapContext(self, workers or self.workers, fail_silently)


__all__ = ["Cluster", "CommandProxy", "HostInfo", "NydusError", "Route"]
