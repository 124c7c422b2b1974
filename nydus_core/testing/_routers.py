"""Contract test suites for routers.

A router maps keys or commands to host numbers and keeps the set of hosts
marked down. The cluster relies on the properties these tests check.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import pytest

from nydus_core._errors import ConfigError, HostDownError, RoutingError
from nydus_core._keys import Key
from nydus_core._router import BaseRouter, HostSpec


def contract_hosts(count: int) -> list[HostSpec]:
    """Return ``count`` hosts as a cluster of local Redis servers would have."""
    return [
        HostSpec(
            number,
            f"redis://127.0.0.1:{7000 + number}/0",
            address=f"127.0.0.1:{7000 + number}",
        )
        for number in range(count)
    ]


def sample_keys(count: int = 2000) -> list[Key]:
    """Return ``count`` keys of every kind a cluster passes to a router.

    They are ``str`` (ASCII and not), ``bytes`` (including non-UTF-8 bytes)
    and ``int`` keys, plus the empty key and a long one.
    """
    keys: list[Key] = ["", "x" * 1000, "ключ", b"\x00\xff\xfe", 0, -1, 2**64]
    for index in range(count - len(keys)):
        kind = index % 3
        if kind == 0:
            keys.append(f"user:{index}")
        elif kind == 1:
            keys.append(f"item:{index}".encode())
        else:
            keys.append(index * 7919)
    return keys


class RouterContract:
    """Tests that every router passes.

    Subclass it in a test module with a name that starts with ``Test`` and
    set :attr:`router_class`. Routers that route by key (their
    ``routes_by_key`` is true) use :class:`KeyRouterContract`, which adds
    the key tests.
    """

    #: The router under test.
    router_class: ClassVar[type[BaseRouter]]
    #: ``router_options`` passed to every router the tests build.
    router_options: ClassVar[Mapping[str, Any]] = {}
    #: The host counts each test runs with.
    host_counts: ClassVar[tuple[int, ...]] = (1, 2, 3, 5, 8)
    #: Commands without keys, which the cluster routes with ``get_hosts``.
    commands: ClassVar[tuple[str, ...]] = ("ping", "flushdb", "info")
    #: Threads of the thread-safety test.
    thread_count: ClassVar[int] = 8

    def make_router(
        self, count: int, options: Mapping[str, Any] | None = None
    ) -> BaseRouter:
        """Return a router over ``count`` hosts with :attr:`router_options`."""
        merged = {**self.router_options, **(options or {})}
        return self.router_class(contract_hosts(count), merged)

    def routes(self, router: BaseRouter) -> list[Any]:
        """Return what the router does with every command and sample key.

        For a command, that is the sorted hosts of as many calls as there
        are hosts, so that a router that rotates through its hosts gives
        the same result at any point of its rotation.
        """
        count = len(router.hosts)
        answers: list[Any] = [
            sorted(host for _ in range(count) for host in router.get_hosts(command))
            for command in self.commands
        ]
        if router.routes_by_key:
            answers.extend(router.get_host(key) for key in sample_keys(300))
        return answers

    def test_router_is_base_router(self) -> None:
        assert issubclass(self.router_class, BaseRouter)

    def test_router_suite_matches_kind(self) -> None:
        if self.router_class.routes_by_key:
            assert isinstance(self, KeyRouterContract), (
                f"{self.router_class.__name__} routes by key: subclass "
                "KeyRouterContract, which adds the key tests"
            )

    def test_get_hosts_in_range(self) -> None:
        for count in self.host_counts:
            router = self.make_router(count)
            for command in self.commands:
                for _ in range(2 * count):
                    hosts = router.get_hosts(command)
                    assert hosts, f"no host for {command!r} with {count} hosts"
                    assert len(set(hosts)) == len(hosts), f"repeated host: {hosts}"
                    for host in hosts:
                        assert isinstance(host, int)
                        assert 0 <= host < count, f"host {host} of {count} hosts"

    def test_peek_predicts_next_call(self) -> None:
        for count in self.host_counts:
            router = self.make_router(count)
            for command in self.commands:
                for _ in range(2 * count):
                    first = router.get_hosts(command, peek=True)
                    second = router.get_hosts(command, peek=True)
                    actual = router.get_hosts(command)
                    assert first == second, f"peek changed state for {command!r}"
                    assert actual == first, f"peek {first} but the call went {actual}"

    def test_unknown_option_rejected(self) -> None:
        with pytest.raises(ConfigError) as info:
            self.make_router(2, {"no_such_option": 1})
        assert "no_such_option" in str(info.value)
        assert "router_options" in str(info.value)

    def test_mark_down_and_up(self) -> None:
        router = self.make_router(3)
        router.mark_down(1)
        assert router.down == frozenset({1})
        router.mark_down(1)
        assert router.down == frozenset({1})
        router.mark_up(1)
        assert router.down == frozenset()
        router.mark_up(2)
        assert router.down == frozenset()

    def test_down_host_avoided_or_kept(self) -> None:
        for count in self.host_counts:
            if count < 2:
                continue
            for down in range(count):
                self._check_one_host_down(count, down)

    def _check_one_host_down(self, count: int, down: int) -> None:
        router = self.make_router(count)
        before = self.routes(router)
        router.mark_down(down)
        picks_hosts = router.remaps_down_hosts and not router.routes_by_key
        for command in self.commands:
            for _ in range(2 * count):
                hosts = router.get_hosts(command)
                assert hosts, f"no host for {command!r} with host {down} down"
                assert all(0 <= host < count for host in hosts), hosts
                if picks_hosts:
                    assert down not in hosts, (
                        f"{command!r} went to down host {down} of {count}; a router "
                        "that picks hosts by command and remaps down hosts must "
                        "skip them"
                    )
        if not router.remaps_down_hosts:
            assert self.routes(router) == before, (
                f"marking host {down} of {count} down changed routes; a router "
                "that does not remap down hosts keeps them, and the cluster "
                "raises HostDownError for the down host's keys"
            )
        router.mark_up(down)
        assert self.routes(router) == before, "routes differ after mark_up"

    def test_every_host_down(self) -> None:
        for count in self.host_counts:
            router = self.make_router(count)
            before = self.routes(router)
            for number in range(count):
                router.mark_down(number)
            if router.remaps_down_hosts and not router.routes_by_key:
                for command in self.commands:
                    with pytest.raises(HostDownError):
                        router.get_hosts(command)
            elif not router.remaps_down_hosts:
                assert self.routes(router) == before
            else:
                for command in self.commands:
                    hosts = router.get_hosts(command)
                    assert all(0 <= host < count for host in hosts), hosts

    def test_concurrent_calls(self) -> None:
        count = max(self.host_counts)
        router = self.make_router(count)
        errors = run_threads(
            self.thread_count, lambda index: self._call_many(router, count, index)
        )
        assert errors == []

    def test_concurrent_mark_down(self) -> None:
        count = max(self.host_counts)
        router = self.make_router(count)
        expected = self.routes(self.make_router(count))
        stop = threading.Event()

        def toggle() -> None:
            while not stop.is_set():
                router.mark_down(0)
                router.mark_up(0)

        toggler = threading.Thread(target=toggle)
        toggler.start()
        try:
            errors = run_threads(
                self.thread_count, lambda index: self._call_many(router, count, index)
            )
        finally:
            stop.set()
            toggler.join()
        assert errors == []
        assert router.down == frozenset()
        assert self.routes(router) == expected

    def _call_many(self, router: BaseRouter, count: int, index: int) -> None:
        for _ in range(200):
            for command in self.commands:
                for host in router.get_hosts(command):
                    assert 0 <= host < count, f"host {host} of {count} hosts"


class KeyRouterContract(RouterContract):
    """Tests that every router that routes by key passes, on top of
    :class:`RouterContract`."""

    #: Whether a router that remaps down hosts keeps the keys of the hosts
    #: that stay up where they are, as consistent hashing does.
    moves_only_down_keys: ClassVar[bool] = True
    #: The largest share of keys one host may get, as a multiple of an even
    #: share, with every host of weight 1.
    max_share: ClassVar[float] = 2.0
    #: Whether to check that other processes place keys the same way, which
    #: catches the salted ``hash()`` of ``str`` and ``bytes``. The router's
    #: module must be importable from ``sys.path`` in a new process.
    check_other_processes: ClassVar[bool] = True

    def test_routes_by_key(self) -> None:
        assert self.router_class.routes_by_key is True

    def test_get_host_in_range(self) -> None:
        for count in self.host_counts:
            router = self.make_router(count)
            for key in sample_keys():
                host = router.get_host(key)
                assert isinstance(host, int), f"{key!r} -> {host!r}"
                assert 0 <= host < count, f"{key!r} -> host {host} of {count}"

    def test_same_key_same_host(self) -> None:
        for count in self.host_counts:
            first, second = self.make_router(count), self.make_router(count)
            for key in sample_keys():
                host = first.get_host(key)
                assert first.get_host(key) == host, f"{key!r} moved between calls"
                assert second.get_host(key) == host, (
                    f"{key!r} went to host {host} in one router and "
                    f"{second.get_host(key)} in another with the same hosts"
                )

    def test_same_key_same_host_other_processes(self) -> None:
        if not self.check_other_processes:
            return
        expected = self.placements()
        for seed in ("1", "2"):
            assert self._placements_in_process(seed) == expected, (
                f"another process with PYTHONHASHSEED={seed} placed keys "
                "differently; hash keys with a fixed function such as CRC-32 "
                "or MD5, never with hash()"
            )

    def placements(self) -> dict[str, list[int]]:
        """Return the host of each sample key, by host count."""
        placements = {}
        for count in self.host_counts:
            router = self.make_router(count)
            placements[str(count)] = [router.get_host(key) for key in sample_keys(300)]
        return placements

    def _placements_in_process(self, seed: str) -> dict[str, list[int]]:
        cls = type(self)
        script = (
            "import importlib, json, sys\n"
            f"module = importlib.import_module({cls.__module__!r})\n"
            f"suite = getattr(module, {cls.__qualname__!r})()\n"
            "json.dump(suite.placements(), sys.stdout)\n"
        )
        environment = {
            **os.environ,
            "PYTHONHASHSEED": seed,
            "PYTHONPATH": os.pathsep.join(entry for entry in sys.path if entry),
        }
        result = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            env=environment,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, (
            f"importing {cls.__module__}.{cls.__qualname__} in a new process "
            f"failed:\n{result.stderr}\nset check_other_processes = False if "
            "the test module cannot be imported by name"
        )
        placements: dict[str, list[int]] = json.loads(result.stdout)
        return placements

    def test_str_bytes_int_keys_agree(self) -> None:
        for count in self.host_counts:
            router = self.make_router(count)
            for text in ("foo", "user:1000", "ключ", ""):
                data = text.encode("utf-8")
                host = router.get_host(text)
                assert router.get_host(data) == host, f"{text!r} and {data!r}"
                assert router.get_host(bytearray(data)) == host
                assert router.get_host(memoryview(data)) == host
            for number in (0, 42, -7, 2**70):
                host = router.get_host(number)
                assert router.get_host(str(number)) == host, f"{number} and str"
                assert router.get_host(str(number).encode()) == host

    def test_invalid_key_raises(self) -> None:
        router = self.make_router(3)
        for key in (True, None, object()):
            with pytest.raises(RoutingError):
                router.get_host(key)  # type: ignore[arg-type]

    def test_keys_spread_over_hosts(self) -> None:
        keys = sample_keys()
        for count in self.host_counts:
            router = self.make_router(count)
            shares = collections.Counter(router.get_host(key) for key in keys)
            even = len(keys) / count
            for host in range(count):
                assert shares[host] > 0, f"host {host} of {count} got no key"
                assert shares[host] <= self.max_share * even, (
                    f"host {host} of {count} got {shares[host]} of {len(keys)} keys"
                )

    def test_hash_tag(self) -> None:
        if "hash_tag" not in self.router_class.options_spec:
            with pytest.raises(ConfigError):
                self.make_router(3, {"hash_tag": "{}"})
            return
        for count in self.host_counts:
            router = self.make_router(count, {"hash_tag": "{}"})
            plain = self.make_router(count)
            for index in range(100):
                tag = f"user{index}"
                host = router.get_host(f"{{{tag}}}:profile")
                assert router.get_host(f"{{{tag}}}:friends") == host
                assert host == plain.get_host(tag)

    def test_down_host_keys(self) -> None:
        keys = sample_keys(500)
        for count in self.host_counts:
            if count < 2:
                continue
            router = self.make_router(count)
            owners = [router.get_host(key) for key in keys]
            router.mark_down(count - 1)
            for key, owner in zip(keys, owners, strict=True):
                host = router.get_host(key)
                if not router.remaps_down_hosts:
                    assert host == owner, f"{key!r} moved while its owner is down"
                elif owner == count - 1:
                    assert host != owner, f"{key!r} still goes to its down host"
                elif self.moves_only_down_keys:
                    assert host == owner, (
                        f"{key!r} moved from host {owner}, which is up, to {host}"
                    )

    def test_every_host_down_keys(self) -> None:
        for count in self.host_counts:
            router = self.make_router(count)
            owners = [router.get_host(key) for key in sample_keys(100)]
            for number in range(count):
                router.mark_down(number)
            for key, owner in zip(sample_keys(100), owners, strict=True):
                if router.remaps_down_hosts:
                    with pytest.raises(HostDownError):
                        router.get_host(key)
                else:
                    assert router.get_host(key) == owner

    def _call_many(self, router: BaseRouter, count: int, index: int) -> None:
        super()._call_many(router, count, index)
        for key in sample_keys(300):
            host = router.get_host(key)
            assert 0 <= host < count, f"{key!r} -> host {host} of {count}"


def run_threads(count: int, work: Callable[[int], None]) -> list[BaseException]:
    """Run ``work(index)`` on ``count`` threads at once; return their errors."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def run(index: int) -> None:
        try:
            barrier.wait()
            work(index)
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors
