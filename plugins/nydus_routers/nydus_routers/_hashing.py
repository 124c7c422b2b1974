"""Routers that place each key on one host by a hash of the key."""

from __future__ import annotations

import functools
import hashlib
import struct
import zlib
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from nydus_core import (
    ConfigError,
    HostDownError,
    HostSpec,
    Key,
    KeyRouter,
    Option,
)
from nydus_routers._ketama import Ring, build_libketama_ring, build_nydus_ring

_md5: Callable[[bytes], Any]
try:
    # CPython's built-in MD5 hashes a short key in about half the time of
    # hashlib's OpenSSL one, whose per-call setup dominates; digests are equal.
    from _md5 import md5 as _md5  # type: ignore[import-not-found,no-redef]
except ImportError:  # pragma: no cover - CPython built without it
    _md5 = functools.partial(hashlib.md5, usedforsecurity=False)

_unpack_position = struct.Struct("<I").unpack_from
#: Ring positions are 32 bits; the bucket table indexes their top 16 bits.
BUCKET_SHIFT = 16
_POSITIONS = 1 << 32
_BUCKET_WIDTH = 1 << BUCKET_SHIFT
#: A bucket table entry for a bucket that a ring point splits.
_SPLIT = -1

#: A ring ready for lookups: the owner of each bucket of positions, or
#: ``_SPLIT``, then the ring's points and owners for the split buckets.
Lookup = tuple[list[int], list[int], list[int]]


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
        # 1 when a position equal to a point belongs to that point.
        self._split_offset = 1 if self._search is bisect_left else 0
        self._ring = self._build(self.hosts)
        if not self._ring.points:
            raise ConfigError(
                "invalid weights in config key 'hosts': every host has weight 0, so "
                "the consistent hashing ring would have no points; give at least one "
                "host a weight > 0 (host option 'weight')",
                "hosts",
            )
        self._full_ring = self._ring
        self._lookup = self._make_lookup(self._ring)
        self._full_lookup = self._lookup

    @property
    def ring(self) -> Ring:
        """The ring in use: without down hosts under the ``remap`` policy."""
        return self._ring

    def get_host(self, key: Key) -> int:
        # KeyRouter.get_host() with key_bytes() and the bucket lookup of
        # place() inlined, because this runs once per routed command.
        if type(key) is str and self.hash_tag is None:
            data = key.encode()
        else:
            data = self.hashed_part(key)
        position: int = _unpack_position(_md5(data).digest())[0]
        owner = self._lookup[0][position >> BUCKET_SHIFT]
        if owner >= 0:
            return owner
        return self.place(data)

    def place(self, data: bytes) -> int:
        buckets, points, owners = self._lookup
        position: int = _unpack_position(_md5(data).digest())[0]
        owner = buckets[position >> BUCKET_SHIFT]
        if owner >= 0:
            return owner
        try:
            return owners[self._search(points, position)]
        except IndexError:
            raise self._empty_ring_error() from None

    def _empty_ring_error(self) -> HostDownError:
        # Only a ring without points has no owner for a position.
        first = self.hosts[0]
        return HostDownError(
            "no host can take the key: every host of the consistent hashing ring "
            "is marked down or has weight 0; the cluster checks down hosts again "
            f"{self.retry_timeout:g}s after each went down",
            first.number,
            first.identifier,
        )

    def on_down_changed(self) -> None:
        if not self.remaps_down_hosts:
            return
        down = self._down
        up = [host for host in self.hosts if host.number not in down]
        if down:
            ring = self._build(up)
            lookup = self._make_lookup(ring)
        else:
            ring, lookup = self._full_ring, self._full_lookup
        # place() reads only _lookup, so a lookup racing this sees one ring.
        self._ring, self._lookup = ring, lookup

    def _make_lookup(self, ring: Ring) -> Lookup:
        buckets = bucket_table(ring, self._split_offset)
        return buckets, ring.points, ring.owners


def bucket_table(ring: Ring, offset: int) -> list[int]:
    """Return the owner of every bucket of ``2**16`` ring positions.

    A bucket that a ring point splits between two owners is ``-1``, and its
    positions need a binary search. With 160 points per host, fewer than
    1% of the buckets of a 4-host ring are split. ``offset`` is 0 when a
    position on a point belongs to the next point (``bisect_right``), 1 when
    it belongs to that point (``bisect_left``).
    """
    table = [_SPLIT] * (_POSITIONS >> BUCKET_SHIFT)
    points = ring.points
    previous = -offset
    for index, owner in enumerate(ring.owners):
        # Positions from start to end, inclusive, go to owners[index].
        start = previous + offset
        end = points[index] - 1 + offset if index < len(points) else _POSITIONS - 1
        first = -(-start // _BUCKET_WIDTH)
        stop = (end + 1) // _BUCKET_WIDTH
        if stop > first:
            table[first:stop] = [owner] * (stop - first)
        if index < len(points):
            previous = points[index]
    return table
