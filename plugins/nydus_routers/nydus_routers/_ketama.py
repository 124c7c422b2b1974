"""Ketama rings: Nydus 0.11's and libketama's.

Both place 160 points per host at equal weight. A host with weight ``w``
of a total ``W`` over ``n`` hosts gets ``floor(40 * n * w / W)`` steps.
Each step hashes a name with MD5 and takes 4 points, the 4-byte
little-endian slices of the digest. They differ in what is hashed, in the
arithmetic of the step count and in how a key picks its point:

- ``nydus`` (Nydus 0.11's ``nydus.contrib.ketama``): steps hash
  ``"{identifier}-{i}-salt"``; the step count is computed in double
  precision; a key goes to the first point strictly above its hash.
- ``libketama`` (libketama's ``ketama_create_continuum``, with the server
  names of libmemcached's and twemproxy's ketama mode): steps hash
  ``"{host}:{port}-{i}"``, or ``"{host}-{i}"`` on memcached's port 11211;
  the step count is computed in single precision as libketama does, which
  gives 39 steps instead of 40 at some host counts (61, 122, ...); a key
  goes to the first point at or above its hash, wrapping to the first
  point.
"""

from __future__ import annotations

import hashlib
import math
import struct
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


#: Returns the number of steps of one host: (weight, total weight, host count).
StepCount = Callable[[float, float, int], int]


def nydus_steps(weight: float, total_weight: float, count: int) -> int:
    """Return Nydus 0.11's step count, computed in double precision."""
    return math.floor(STEPS_PER_HOST * count * weight / total_weight)


def libketama_steps(weight: float, total_weight: float, count: int) -> int:
    """Return libketama's step count, ``floorf(pct * 40.0 * (float)n)``.

    ``pct`` is the weight share as a C ``float``; the product is computed in
    ``double`` and rounded to ``float`` again when passed to ``floorf``.

    NOTE: libmemcached and twemproxy compute ``floorf(pct * 160 / 4 * n +
    1e-10)`` in ``float`` instead, which gives 39 steps at other host
    counts (25, 47, 50, ...) on x86-64; there their rings differ from
    libketama's and from this one.
    """
    share = _float32(_float32(weight) / _float32(total_weight))
    return math.floor(_float32(share * 40.0 * _float32(count)))


def _float32(value: float) -> float:
    """Round ``value`` to the nearest IEEE single-precision number."""
    rounded: float = struct.unpack("f", struct.pack("f", value))[0]
    return rounded


def _build(
    hosts: Sequence[HostSpec],
    step_name: Callable[[HostSpec, int], str],
    step_count: StepCount,
) -> Ring:
    by_point: dict[int, int] = {}
    total_weight = sum(host.weight for host in hosts)
    if total_weight <= 0:
        return Ring([], [])
    for host in hosts:
        for step in range(step_count(host.weight, total_weight, len(hosts))):
            name = step_name(host, step).encode("utf-8")
            digest = hashlib.md5(name, usedforsecurity=False).digest()
            for offset in range(0, 16, 4):
                point = int.from_bytes(digest[offset : offset + 4], "little")
                # On a collision the later host wins, as in Nydus 0.11's dict.
                # NOTE: libketama keeps both points and its unstable qsort
                # decides which wins; on 4 hosts a collision has a chance of
                # about 5 in 100,000.
                by_point[point] = host.number
    points = sorted(by_point)
    owners = [by_point[point] for point in points]
    if owners:
        owners.append(owners[0])
    return Ring(points, owners)


def build_nydus_ring(hosts: Sequence[HostSpec]) -> Ring:
    """Build Nydus 0.11's ring, keyed by host identifiers."""
    return _build(
        hosts, lambda host, step: f"{host.identifier}-{step}-salt", nydus_steps
    )


def libketama_name(host: HostSpec) -> str:
    """Return the server name libketama hashes for ``host``."""
    address = host.address or host.identifier
    name, _, port = address.rpartition(":")
    if name and port == MEMCACHED_DEFAULT_PORT:
        return name
    return address


def build_libketama_ring(hosts: Sequence[HostSpec]) -> Ring:
    """Build libketama's ring, keyed by ``host:port``."""
    return _build(
        hosts, lambda host, step: f"{libketama_name(host)}-{step}", libketama_steps
    )
