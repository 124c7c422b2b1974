"""Routers that place each key on one host by a hash of the key."""

from __future__ import annotations

import hashlib
import zlib
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from nydus_core import HostSpec, KeyRouter, Option
from nydus_routers._ketama import Ring, build_libketama_ring, build_nydus_ring


def signed_crc32(data: bytes) -> int:
    """Return CRC-32 as Python 2 returned it: a signed 32-bit integer."""
    value = zlib.crc32(data)
    return value - 0x100000000 if value & 0x80000000 else value


class PartitionRouter(KeyRouter):
    """Place a key on host ``crc32(key) % host_count``, as Nydus 0.11 did.

    The CRC-32 is the signed value of Python 2, so every key lands where
    Nydus 0.11 put it. A down host's keys are never sent elsewhere, because
    modulo placement has no next host that owns them.
    """

    retryable = True
    options_spec: ClassVar[Mapping[str, Option]] = {
        **KeyRouter.options_spec,
        "ejection": Option((str,), choices=("fail",)),
    }

    def __init__(
        self, hosts: Sequence[HostSpec], options: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(hosts, options)
        self._count = len(self.hosts)

    def place(self, data: bytes) -> int:
        value = zlib.crc32(data)
        if value & 0x80000000:
            value -= 0x100000000
        return value % self._count


class ConsistentHashingRouter(KeyRouter):
    """Place keys on a Ketama ring, so that adding a host moves few keys.

    Options (``router_options``):

    - ``profile``: ``'nydus'`` (default), Nydus 0.11's ring keyed by host
      identifiers; or ``'libketama'``, the ring of libketama and
      libmemcached, keyed by ``host:port``, to share shards with other
      memcached and twemproxy clients.
    - ``ejection``: ``'fail'`` (default) or ``'remap'``; see
      :class:`nydus_core.KeyRouter`.
    - ``hash_tag``, ``retry_timeout``: see :class:`nydus_core.KeyRouter`.

    Host option ``weight`` sets a host's share of ring points:
    ``floor(40 * host_count * weight / total_weight)`` steps of 4 points.
    """

    retryable = True
    options_spec: ClassVar[Mapping[str, Option]] = {
        **KeyRouter.options_spec,
        "profile": Option((str,), choices=("nydus", "libketama")),
    }

    def __init__(
        self, hosts: Sequence[HostSpec], options: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(hosts, options)
        self.profile = str(self.options.get("profile", "nydus"))
        if self.profile == "libketama":
            self._build = build_libketama_ring
            self._search = bisect_left
        else:
            self._build = build_nydus_ring
            self._search = bisect_right
        self._ring = self._build(self.hosts)
        self._full_ring = self._ring

    @property
    def ring(self) -> Ring:
        """The ring in use: without down hosts under the ``remap`` policy."""
        return self._ring

    def place(self, data: bytes) -> int:
        ring = self._ring
        position = int.from_bytes(
            hashlib.md5(data, usedforsecurity=False).digest()[:4], "little"
        )
        return ring.owners[self._search(ring.points, position)]

    def on_down_changed(self) -> None:
        if not self.remaps_down_hosts:
            return
        down = self._down
        up = [host for host in self.hosts if host.number not in down]
        self._ring = self._build(up) if down else self._full_ring
