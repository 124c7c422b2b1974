"""The router interface, the key-hashing base class and the ``all`` router.

Routers are pure: they map keys to host numbers and keep the set of hosts
marked down, and never open a connection or read the clock. The cluster
decides when a host goes down or comes back, and calls the router's
``mark_down`` and ``mark_up``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from nydus_core._errors import ConfigError, HostDownError
from nydus_core._keys import Key, hash_tag_part, key_bytes
from nydus_core._options import Option, check_options

#: Seconds a host stays marked down before the cluster checks it again.
DEFAULT_RETRY_TIMEOUT = 30.0


@dataclass(frozen=True)
class HostSpec:
    """The description of one host that a router receives.

    :param number: the host number, from 0 to the host count minus one.
    :param identifier: a stable name without secrets, such as
        ``redis://localhost:6379/0``; consistent hashing places keys by it.
    :param weight: the host's relative share of keys, for routers that
        weigh hosts.
    :param address: ``host:port`` for network hosts, or ``None``; the
        ``libketama`` placement profile names servers by it.
    """

    number: int
    identifier: str
    weight: float = 1.0
    address: str | None = None


class BaseRouter:
    """Base class of routers; as a router of its own, it sends every call to
    every host (Nydus 0.11's ``BaseRouter``).

    Subclasses set :attr:`routes_by_key` and implement :meth:`get_host` to
    route by key, or override :meth:`get_hosts` to choose hosts otherwise.

    :param hosts: the hosts, in host-number order.
    :param options: the ``router_options`` of the config, checked against
        :attr:`options_spec`.
    """

    #: Whether a call that failed with a retryable error is retried.
    retryable: ClassVar[bool] = False
    #: Whether the cluster passes a command's keys to :meth:`get_host`.
    routes_by_key: ClassVar[bool] = False
    #: Whether the cluster may send the keys of a down host elsewhere.
    remaps_down_hosts: bool = False
    #: The accepted ``router_options``.
    options_spec: ClassVar[Mapping[str, Option]] = {
        "retry_timeout": Option((int, float), minimum=0),
    }

    def __init__(
        self, hosts: Sequence[HostSpec], options: Mapping[str, Any] | None = None
    ) -> None:
        self.hosts = tuple(hosts)
        self.options = check_options(options or {}, self.options_spec, "router_options")
        self.retry_timeout = float(
            self.options.get("retry_timeout", DEFAULT_RETRY_TIMEOUT)
        )
        self._lock = threading.Lock()
        self._down: frozenset[int] = frozenset()
        self._all = [host.number for host in self.hosts]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} hosts={len(self.hosts)}>"

    @property
    def down(self) -> frozenset[int]:
        """The numbers of the hosts marked down."""
        return self._down

    def get_host(self, key: Key) -> int:
        """Return the number of the host that owns ``key``."""
        raise NotImplementedError(
            f"{type(self).__name__} does not route by key; call get_hosts()"
        )

    def get_hosts(self, command: str, *, peek: bool = False) -> list[int]:
        """Return the host numbers for a call that is not routed by key.

        :param peek: only look, without changing state such as a round-robin
            position; :meth:`Cluster.hosts_for` uses it.
        """
        return list(self._all)

    def mark_down(self, number: int) -> None:
        """Mark host ``number`` down."""
        with self._lock:
            self._down = self._down | {number}
            self.on_down_changed()

    def mark_up(self, number: int) -> None:
        """Mark host ``number`` up again."""
        with self._lock:
            if number in self._down:
                self._down = self._down - {number}
                self.on_down_changed()

    def on_down_changed(self) -> None:
        """Update routing state after the down set changed; called under a lock."""


class KeyRouter(BaseRouter):
    """Base class of routers that place each key on one host by its hash.

    Subclasses implement :meth:`place`, which maps the bytes to hash to a
    host number. This class adds the hash-tag option and the ejection
    policy:

    - ``'fail'``: the keys of a down host raise :class:`HostDownError` until
      the host is back, and are never sent elsewhere.
    - ``'remap'``: a down host leaves the placement and its keys go to other
      hosts (Nydus 0.11's consistent hashing), for caches that can refill.
    """

    routes_by_key = True
    options_spec: ClassVar[Mapping[str, Option]] = {
        **BaseRouter.options_spec,
        "hash_tag": Option((str,)),
        "ejection": Option((str,), choices=("fail", "remap")),
    }
    #: The ejection policy used when ``router_options`` names none.
    default_ejection: ClassVar[str] = "fail"

    def __init__(
        self, hosts: Sequence[HostSpec], options: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(hosts, options)
        self.hash_tag = self._parse_hash_tag(self.options.get("hash_tag"))
        self.ejection = str(self.options.get("ejection", self.default_ejection))
        self.remaps_down_hosts = self.ejection == "remap"
        self._numbers = tuple(host.number for host in self.hosts)

    @staticmethod
    def _parse_hash_tag(value: str | None) -> tuple[bytes, bytes] | None:
        if value is None or value == "":
            return None
        if len(value) != 2:
            raise ConfigError(
                f"invalid value {value!r} for config key 'router_options.hash_tag': "
                "expected two characters, the opening and the closing one, such "
                "as '{}'",
                "router_options.hash_tag",
            )
        return value[0].encode("utf-8"), value[1].encode("utf-8")

    def hashed_part(self, key: Key) -> bytes:
        """Return the bytes of ``key`` that are hashed, after any hash tag."""
        data = key_bytes(key)
        if self.hash_tag is None:
            return data
        return hash_tag_part(data, self.hash_tag[0], self.hash_tag[1])

    def get_host(self, key: Key) -> int:
        # key_bytes() of a str, inlined: this runs once per routed command.
        data = key.encode() if type(key) is str else key_bytes(key)
        if self.hash_tag is not None:
            data = hash_tag_part(data, self.hash_tag[0], self.hash_tag[1])
        return self.place(data)

    def place(self, data: bytes) -> int:
        """Return the host number for the hashed bytes ``data``."""
        raise NotImplementedError

    def owner(self, key: Key) -> int:
        """Return the host that owns ``key`` when every host is up."""
        return self.get_host(key)

    def check_up(self, number: int) -> None:
        """Raise :class:`HostDownError` if host ``number`` is marked down."""
        if number in self._down:
            host = self.hosts[number]
            raise HostDownError(
                f"host {number} ({host.identifier}) is marked down and the "
                f"ejection policy is {self.ejection!r}: its keys are not sent to "
                "another host; the cluster checks it again after "
                f"{self.retry_timeout:g}s",
                number,
                host.identifier,
            )


class AllRouter(BaseRouter):
    """Send every call to every host: the default router."""
