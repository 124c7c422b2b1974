"""Ketama rings: Nydus 0.11's and libketama's.

Both place 160 points per host at equal weight. Each point is a 4-byte
little-endian slice of an MD5 digest. They differ in what is hashed and in
how a key picks its point:

- ``nydus`` (Nydus 0.11's ``nydus.contrib.ketama``): steps hash
  ``"{identifier}-{i}-salt"``; a key goes to the first point strictly above
  its hash.
- ``libketama`` (libketama and libmemcached's ketama mode): steps hash
  ``"{host}:{port}-{i}"``, or ``"{host}-{i}"`` on memcached's port 11211; a
  key goes to the first point at or above its hash.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nydus_core import HostSpec

MEMCACHED_DEFAULT_PORT = "11211"
STEPS_PER_HOST = 40


@dataclass(frozen=True)
class Ring:
    """Sorted ring points and their host numbers.

    ``owners`` has one more entry than ``points``: the owner of the first
    point again, so that a position past the last point wraps without a
    branch.
    """

    points: list[int]
    owners: list[int]


def _steps(host: HostSpec, hosts: Sequence[HostSpec], total_weight: float) -> int:
    return math.floor(STEPS_PER_HOST * len(hosts) * host.weight / total_weight)


def _build(
    hosts: Sequence[HostSpec], step_name: Callable[[HostSpec, int], str]
) -> Ring:
    by_point: dict[int, int] = {}
    total_weight = sum(host.weight for host in hosts)
    if total_weight <= 0:
        return Ring([], [])
    for host in hosts:
        for step in range(_steps(host, hosts, total_weight)):
            name = step_name(host, step).encode("utf-8")
            digest = hashlib.md5(name, usedforsecurity=False).digest()
            for offset in range(0, 16, 4):
                point = int.from_bytes(digest[offset : offset + 4], "little")
                # On a collision the later host wins, as in Nydus 0.11's dict.
                by_point[point] = host.number
    points = sorted(by_point)
    owners = [by_point[point] for point in points]
    if owners:
        owners.append(owners[0])
    return Ring(points, owners)


def build_nydus_ring(hosts: Sequence[HostSpec]) -> Ring:
    """Build Nydus 0.11's ring, keyed by host identifiers."""
    return _build(hosts, lambda host, step: f"{host.identifier}-{step}-salt")


def libketama_name(host: HostSpec) -> str:
    """Return the server name libketama hashes for ``host``."""
    address = host.address or host.identifier
    name, _, port = address.rpartition(":")
    if name and port == MEMCACHED_DEFAULT_PORT:
        return name
    return address


def build_libketama_ring(hosts: Sequence[HostSpec]) -> Ring:
    """Build libketama's ring, keyed by ``host:port``."""
    return _build(hosts, lambda host, step: f"{libketama_name(host)}-{step}")
