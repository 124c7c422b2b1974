"""The ``libketama`` profile of the consistent hashing router.

The reference below is written from the published description of
libketama (``ketama_create_continuum`` and ``ketama_get_server`` in
libketama's ``ketama.c``), with the server names of libmemcached and
twemproxy:

- a server is named ``host:port``, or ``host`` alone on port 11211;
- each server gets ``floorf(pct * 40.0 * n)`` steps, where ``pct`` is its
  weight share as a C float: 40 at equal weight;
- step ``i`` hashes ``"{name}-{i}"`` with MD5, and the four 4-byte
  little-endian words of the digest are four points on the ring;
- a key's MD5, first 4 bytes little-endian, goes to the first point at or
  after it, wrapping to the lowest point.

The fixed vectors were also checked against uhashring 2.5's ketama ring, an
independent implementation, which placed 20,000 keys the same way.
"""

from __future__ import annotations

import ctypes
import hashlib
import math

import pytest

from nydus_core import HostSpec
from nydus_routers import ConsistentHashingRouter, build_libketama_ring

SERVERS = [
    ("10.0.1.1", 11211),
    ("10.0.1.2", 11211),
    ("10.0.1.3", 6379),
    ("cache-4.example", 11311),
]


def server_name(host: str, port: int) -> str:
    return host if port == 11211 else f"{host}:{port}"


def reference_steps(weight: int, total: int, count: int) -> int:
    share = ctypes.c_float(ctypes.c_float(weight).value / ctypes.c_float(total).value)
    product = share.value * 40.0 * ctypes.c_float(count).value
    return math.floor(ctypes.c_float(product).value)


def reference_ring(
    servers: list[tuple[str, int]], weights: list[int] | None = None
) -> list[tuple[int, int]]:
    """Return the sorted (point, server index) pairs of libketama's ring."""
    weights = weights or [1] * len(servers)
    total = sum(weights)
    ring: list[tuple[int, int]] = []
    for index, (host, port) in enumerate(servers):
        name = server_name(host, port)
        for step in range(reference_steps(weights[index], total, len(servers))):
            digest = hashlib.md5(f"{name}-{step}".encode()).digest()
            for word in range(4):
                chunk = digest[4 * word : 4 * word + 4]
                point = chunk[0] | chunk[1] << 8 | chunk[2] << 16 | chunk[3] << 24
                ring.append((point, index))
    ring.sort()
    return ring


def reference_server(ring: list[tuple[int, int]], key: str) -> int:
    digest = hashlib.md5(key.encode()).digest()
    position = digest[0] | digest[1] << 8 | digest[2] << 16 | digest[3] << 24
    for point, index in ring:
        if point >= position:
            return index
    return ring[0][1]


def make_router(
    servers: list[tuple[str, int]], weights: list[int] | None = None
) -> ConsistentHashingRouter:
    weights = weights or [1] * len(servers)
    hosts = [
        HostSpec(number, f"redis://{host}:{port}/0", float(weight), f"{host}:{port}")
        for number, ((host, port), weight) in enumerate(
            zip(servers, weights, strict=True)
        )
    ]
    return ConsistentHashingRouter(hosts, {"profile": "libketama"})


@pytest.mark.parametrize(
    "key, server",
    [
        ("user:0", "10.0.1.1"),
        ("user:1", "10.0.1.1"),
        ("user:4", "10.0.1.1"),
        ("user:6", "10.0.1.2"),
        ("user:9", "10.0.1.2"),
        ("user:19", "10.0.1.3:6379"),
        ("user:20", "10.0.1.3:6379"),
        ("user:2", "cache-4.example:11311"),
        ("foo", "cache-4.example:11311"),
        ("bar", "cache-4.example:11311"),
        ("session:abc", "10.0.1.2"),
        ("\u00e9t\u00e9", "10.0.1.2"),
    ],
)
def test_libketama_vectors(key: str, server: str) -> None:
    router = make_router(SERVERS)
    names = [server_name(host, port) for host, port in SERVERS]
    assert names[router.get_host(key)] == server


def test_libketama_first_points_of_step_zero() -> None:
    # MD5("10.0.1.1-0"): 10.0.1.1 is on port 11211, so its name has no port.
    digest = hashlib.md5(b"10.0.1.1-0").digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    ring = build_libketama_ring(make_router(SERVERS).hosts)
    assert words == [2383802539, 488362977, 2185284489, 383925769]
    for word in words:
        assert ring.owners[ring.points.index(word)] == 0


def test_libketama_matches_reference_equal_weights() -> None:
    router = make_router(SERVERS)
    ring = reference_ring(SERVERS)
    keys = [f"key:{index}" for index in range(5000)]
    wrong = [key for key in keys if router.get_host(key) != reference_server(ring, key)]
    assert wrong == []


def test_libketama_matches_reference_weighted() -> None:
    weights = [1, 2, 3, 4]
    router = make_router(SERVERS, weights)
    ring = reference_ring(SERVERS, weights)
    keys = [f"item-{index}" for index in range(5000)]
    wrong = [key for key in keys if router.get_host(key) != reference_server(ring, key)]
    assert wrong == []


def test_libketama_ring_points_match_reference() -> None:
    router = make_router(SERVERS, [1, 2, 3, 4])
    ring = reference_ring(SERVERS, [1, 2, 3, 4])
    assert router.ring.points == [point for point, _ in ring]
    assert router.ring.owners[:-1] == [index for _, index in ring]


def test_libketama_160_points_at_equal_weight() -> None:
    ring = make_router(SERVERS).ring
    counts = [ring.owners[:-1].count(number) for number in range(4)]
    assert counts == [160, 160, 160, 160]


def test_libketama_weighted_points() -> None:
    ring = make_router(SERVERS, [1, 2, 3, 4]).ring
    counts = [ring.owners[:-1].count(number) for number in range(4)]
    # floorf(pct * 160) steps of 4 points: pct 0.1, 0.2, 0.3, 0.4.
    assert counts == [64, 128, 192, 256]


def test_libketama_single_precision_step_count() -> None:
    # At 61 equal servers, (float)(1/61) * 40.0 * 61 rounds below 40 in
    # single precision, so libketama gives each server 39 steps, 156 points.
    servers = [(f"10.1.0.{index}", 11211) for index in range(61)]
    ring = make_router(servers).ring
    counts = {ring.owners[:-1].count(number) for number in range(61)}
    assert reference_steps(1, 61, 61) == 39
    assert counts == {156}


def key_position(key: str) -> int:
    return int.from_bytes(hashlib.md5(key.encode()).digest()[:4], "little")


def test_libketama_wraps_past_last_point() -> None:
    router = make_router(SERVERS)
    ring = router.ring
    keys = (f"wrap:{index}" for index in range(1_000_000))
    key = next(key for key in keys if key_position(key) > ring.points[-1])
    # A key above every point goes to the owner of the lowest point.
    assert router.get_host(key) == ring.owners[0]
