"""``Cluster.map()``: queue commands, then run them per host in pipelines."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from nydus_core._errors import CommandError, CommandFailure, HostError

if TYPE_CHECKING:
    from nydus_core._cluster import Cluster

_PENDING = object()


class EventualResult:
    """The placeholder a command returns inside a ``map()`` block.

    It holds the command's value once the block exits: read it with
    :attr:`value`, or use the placeholder itself, which compares, hashes,
    converts and iterates as its value does.
    """

    __slots__ = ("_error", "_value")

    def __init__(self) -> None:
        self._value: Any = _PENDING
        self._error: BaseException | None = None

    @property
    def value(self) -> Any:
        """The command's result, or its exception when the command failed."""
        if self._value is _PENDING:
            raise RuntimeError(
                "result is not ready: read it after the map() block has exited"
            )
        return self._value

    @property
    def error(self) -> BaseException | None:
        """The command's exception, or ``None`` if it succeeded."""
        return self._error

    @property
    def is_ready(self) -> bool:
        """Whether the block has exited and the result is set."""
        return self._value is not _PENDING

    def __repr__(self) -> str:
        if self._value is _PENDING:
            return "<EventualResult pending>"
        return repr(self._value)

    def __str__(self) -> str:
        return str(self.value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EventualResult):
            other = other.value
        return bool(self.value == other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __lt__(self, other: Any) -> bool:
        return bool(self.value < other)

    def __le__(self, other: Any) -> bool:
        return bool(self.value <= other)

    def __gt__(self, other: Any) -> bool:
        return bool(self.value > other)

    def __ge__(self, other: Any) -> bool:
        return bool(self.value >= other)

    def __hash__(self) -> int:
        return hash(self.value)

    def __bool__(self) -> bool:
        return bool(self.value)

    def __int__(self) -> int:
        return int(self.value)

    def __float__(self) -> float:
        return float(self.value)

    def __bytes__(self) -> bytes:
        return bytes(self.value)

    def __len__(self) -> int:
        return len(self.value)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.value)

    def __getitem__(self, index: Any) -> Any:
        return self.value[index]

    def __contains__(self, item: object) -> bool:
        return item in self.value


class _Call(EventualResult):
    """One queued command, which is also the placeholder returned to its caller.

    Being the placeholder saves an object per command, and map() blocks
    queue tens of thousands. A call that one host runs whole is its own
    item.

    Like every placeholder, a call compares, hashes and converts as its
    value, so this module never tests one for truth, compares it, or keys a
    dict or set with it.
    """

    __slots__ = (
        "args",
        "command",
        "failure",
        "index",
        "keys",
        "kwargs",
        "merge",
        "parts",
    )

    def __init__(
        self, index: int, command: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self._value = _PENDING
        self._error = None
        self.index = index
        self.command = command
        self.args = args
        self.kwargs = kwargs
        self.keys: tuple[Any, ...] = ()
        self.parts: list[Any] | None = None
        self.merge: Callable[[list[Any]], Any] | None = None
        self.failure: CommandFailure | None = None

    # The item interface of _Item, for a call sent whole to one host: no
    # _Item is allocated for the common case.
    slot: ClassVar[None] = None

    @property
    def call(self) -> _Call:
        return self

    @property
    def result(self) -> EventualResult:
        return self


class _Item:
    """One command sent to one host: a whole call, or one part of it."""

    __slots__ = ("args", "call", "command", "kwargs", "slot")

    def __init__(
        self,
        call: _Call,
        slot: int | None,
        command: str,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
    ) -> None:
        self.call = call
        self.slot = slot
        self.command = command
        self.args = args
        self.kwargs = kwargs


class _MapProxy:
    __slots__ = ("_context", "_name")

    def __init__(self, context: MapContext, name: str) -> None:
        self._context = context
        self._name = name

    def __call__(self, *args: Any, **kwargs: Any) -> EventualResult:
        # MapContext.queue(), inlined: this runs once per queued command.
        context = self._context
        if context._done:
            raise RuntimeError("this map() block has already run its commands")
        calls = context._calls
        call = _Call(len(calls), self._name, args, kwargs)
        calls.append(call)
        return call

    def __getattr__(self, name: str) -> _MapProxy:
        if name.startswith("__"):
            raise AttributeError(name)
        return _MapProxy(self._context, f"{self._name}.{name}")


#: An entry of a host's pipeline: a part of a call, or a whole call.
BatchItem = _Item | _Call
Batches = dict[int, list[BatchItem]]


class MapContext:
    """Commands queued inside ``with cluster.map() as conn:``.

    On exit, every command is routed, the commands of each host go out in
    one pipeline, and hosts run in parallel. If any command failed,
    :class:`CommandError` lists each failure, unless ``fail_silently`` was
    set.
    """

    def __init__(self, cluster: Cluster, workers: int, fail_silently: bool) -> None:
        self._cluster = cluster
        self._workers = workers
        self._fail_silently = fail_silently
        self._calls: list[_Call] = []
        self._done = False

    def __getattr__(self, name: str) -> _MapProxy:
        if name.startswith("_"):
            raise AttributeError(name)
        proxy = _MapProxy(self, name)
        # Cached on the instance, so the next lookup skips __getattr__.
        self.__dict__[name] = proxy
        return proxy

    def __enter__(self) -> MapContext:
        return self

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        if exc_type is not None:
            # The block raised: nothing queued is sent.
            self._calls.clear()
            return
        self.resolve()

    def queue(
        self, command: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> EventualResult:
        """Queue one command and return its placeholder."""
        if self._done:
            raise RuntimeError("this map() block has already run its commands")
        call = _Call(len(self._calls), command, args, kwargs)
        self._calls.append(call)
        return call

    def resolve(self) -> None:
        """Run the queued commands and fill in their placeholders."""
        if self._done:
            return
        self._done = True
        batches = self._route_all()
        attempt = 0
        first_failure = time.monotonic()
        while batches:
            batches = self._run_round(batches, attempt, first_failure)
            attempt += 1
        self._finish()

    def _route_all(self) -> Batches:
        cluster = self._cluster
        route_one = cluster.route_one
        batches: Batches = {}
        for call in self._calls:
            try:
                host, keys = route_one(call.command, call.args, call.kwargs)
                if host is not None and keys is not None:
                    call.keys = tuple(keys)
                    batches.setdefault(host, []).append(call)
                    continue
                route = cluster.route(call.command, call.args, call.kwargs, keys=keys)
            except HostError as exc:
                self._fail(call, exc.host, exc)
                continue
            except Exception as exc:  # noqa: BLE001 - reported with the others
                self._fail(call, None, exc)
                continue
            call.keys = tuple(route.keys)
            if route.plan is not None:
                call.parts = [None] * len(route.plan.parts)
                call.merge = route.plan.merge
                for slot, part in enumerate(route.plan.parts):
                    item = _Item(call, slot, part.command, part.args, part.kwargs)
                    batches.setdefault(part.host, []).append(item)
            elif len(route.hosts) == 1:
                batches.setdefault(route.hosts[0], []).append(call)
            else:
                call.parts = [None] * len(route.hosts)
                call.merge = list
                for slot, host in enumerate(route.hosts):
                    item = _Item(call, slot, call.command, call.args, call.kwargs)
                    batches.setdefault(host, []).append(item)
        return batches

    def _run_round(
        self, batches: Batches, attempt: int, first_failure: float
    ) -> Batches:
        outcomes = self._run_hosts(batches)
        retry: Batches = {}
        same_host_retry = False
        for host, outcome in outcomes.items():
            items = batches[host]
            if isinstance(outcome, BaseException):
                same_host_retry |= self._host_failed(
                    host, items, outcome, attempt, first_failure, retry
                )
                continue
            for item, value in zip(items, outcome, strict=True):
                if type(item) is _Call and not isinstance(value, Exception):
                    # _store()'s common case, inlined: a whole call succeeded.
                    item._value = value
                else:
                    self._store(item, host, value)
        if same_host_retry:
            self._cluster._sleep_backoff(attempt, first_failure)
        return retry

    def _run_hosts(self, batches: Batches) -> dict[int, list[Any] | BaseException]:
        hosts = list(batches)
        if len(hosts) == 1:
            return {hosts[0]: self._run_batch(hosts[0], batches[hosts[0]])}
        workers = min(self._workers, len(hosts))
        groups = [hosts[start::workers] for start in range(workers)]
        futures = [
            self._cluster.submit(self._run_group, group, batches) for group in groups
        ]
        outcomes: dict[int, list[Any] | BaseException] = {}
        for future in futures:
            outcomes.update(future.result())
        return outcomes

    def _run_group(
        self, hosts: list[int], batches: Batches
    ) -> dict[int, list[Any] | BaseException]:
        return {host: self._run_batch(host, batches[host]) for host in hosts}

    def _run_batch(
        self, host: int, items: list[BatchItem]
    ) -> list[Any] | BaseException:
        cluster = self._cluster
        backend = cluster.hosts[host]
        hooks = cluster.hooks.command_hooks
        pipeline = backend.pipeline()
        for item in items:
            if hooks:
                cluster._before(host, item.command, item.args, item.kwargs)
            pipeline.add(item.command, item.args, item.kwargs)

        started = time.perf_counter()
        try:
            results = pipeline.execute()
        except Exception as exc:  # noqa: BLE001 - handled per host by the caller
            if hooks:
                for item in items:
                    cluster._error(host, item.command, item.args, item.kwargs, exc)
            return exc
        if hooks:
            self._report(host, items, results, time.perf_counter() - started)
        return results

    def _report(
        self, host: int, items: list[BatchItem], results: list[Any], duration: float
    ) -> None:
        cluster = self._cluster
        for item, value in zip(items, results, strict=True):
            if isinstance(value, Exception):
                cluster._error(host, item.command, item.args, item.kwargs, value)
            else:
                cluster._after(
                    host, item.command, item.args, item.kwargs, value, duration
                )

    def _host_failed(
        self,
        host: int,
        items: list[BatchItem],
        error: BaseException,
        attempt: int,
        first_failure: float,
        retry: Batches,
    ) -> bool:
        """Handle a host whose whole pipeline failed; return whether it retries."""
        cluster = self._cluster
        backend = cluster.hosts[host]
        router = cluster.router
        if not isinstance(error, backend.retryable_exceptions):
            for item in items:
                self._fail(item.call, host, error)
            return False

        mapped = backend.map_error(error)
        mapped.__cause__ = error
        if backend.may_have_run(error):
            # Writes that may have run are not repeated; reads are.
            unsafe = [item for item in items if not backend.is_read_only(item.command)]
            for item in unsafe:
                self._fail(item.call, host, mapped)
            if unsafe and router.retryable:
                cluster.check_after_failure(host, mapped)
            items = [item for item in items if backend.is_read_only(item.command)]
            if not items:
                return False
        can_retry = (
            router.retryable
            and attempt < cluster.max_connection_retries
            and not cluster._past_deadline(first_failure)
        )
        if router.retryable and (not can_retry or router.remaps_down_hosts):
            cluster.mark_down(host, mapped)
        if not can_retry:
            for item in items:
                self._fail(item.call, host, mapped)
            return False
        if not router.remaps_down_hosts:
            retry[host] = items
            return True
        for item in items:
            self._reroute(item, host, mapped, retry)
        return False

    def _reroute(
        self, item: BatchItem, host: int, error: BaseException, retry: Batches
    ) -> None:
        """Send an item of a down host to the host its router picks now."""
        call = self._cluster
        router = call.router
        if item.slot is not None or not item.call.keys:
            # A part of a fanned-out or split call belongs to this host only.
            if not router.routes_by_key and item.slot is None:
                try:
                    hosts = router.get_hosts(item.command)
                except HostError:
                    hosts = []
                up = [h for h in hosts if h not in router.down]
                if up:
                    retry.setdefault(up[0], []).append(item)
                    return
            self._fail(item.call, host, error)
            return
        try:
            new_hosts = {router.get_host(key) for key in item.call.keys}
        except HostError:
            new_hosts = set()
        if len(new_hosts) != 1 or new_hosts & router.down:
            # Every host is down, or the keys now belong to several hosts.
            self._fail(item.call, host, error)
            return
        retry.setdefault(new_hosts.pop(), []).append(item)

    def _store(self, item: BatchItem, host: int, value: Any) -> None:
        call = item.call
        if isinstance(value, Exception):
            self._fail(call, host, value)
        elif item.slot is None:
            call._value = value
        else:
            assert call.parts is not None
            call.parts[item.slot] = value

    def _fail(self, call: _Call, host: int | None, error: BaseException) -> None:
        if call.failure is not None:
            return
        identifier = None
        if host is not None:
            identifier = self._cluster.hosts[host].identifier
        call.failure = CommandFailure(
            call.index, call.command, call.args, host, identifier, error
        )

    def _finish(self) -> None:
        failures: list[CommandFailure] = []
        for call in self._calls:
            result: EventualResult = call
            if call.failure is None and call.merge is not None:
                assert call.parts is not None
                try:
                    result._value = call.merge(call.parts)
                except Exception as exc:  # noqa: BLE001 - reported with the others
                    self._fail(call, None, exc)
            if call.failure is not None:
                failures.append(call.failure)
                result._value = call.failure.error
                result._error = call.failure.error
        if failures and not self._fail_silently:
            raise CommandError(failures)
