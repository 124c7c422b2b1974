"""Host weights of the consistent hashing router, in both profiles.

A host's ring points follow its weight exactly; its share of keys follows
only as closely as the ring is even. With 160 points per unit of weight,
the shares below differ from the weight shares by at most 3.4 percentage
points over 100,000 keys, so the tests allow 4.
"""

from __future__ import annotations

from collections import Counter

import pytest

from nydus_core import HostSpec
from nydus_routers import ConsistentHashingRouter

KEYS = [f"key:{index}" for index in range(100_000)]
TOLERANCE = 0.04


def make_router(weights: list[float], profile: str) -> ConsistentHashingRouter:
    hosts = [
        HostSpec(
            number, f"redis://10.0.0.{number}:6379/0", weight, f"10.0.0.{number}:6379"
        )
        for number, weight in enumerate(weights)
    ]
    return ConsistentHashingRouter(hosts, {"profile": profile})


def key_shares(router: ConsistentHashingRouter) -> list[float]:
    counts = Counter(router.get_host(key) for key in KEYS)
    return [counts[number] / len(KEYS) for number in range(len(router.hosts))]


@pytest.mark.parametrize("profile", ["nydus", "libketama"])
@pytest.mark.parametrize("weights", [[1, 2, 3, 4], [1, 1, 1, 3], [5, 1]])
def test_weight_sets_key_share(weights: list[float], profile: str) -> None:
    router = make_router(weights, profile)
    shares = key_shares(router)
    total = sum(weights)
    for number, weight in enumerate(weights):
        assert shares[number] == pytest.approx(weight / total, abs=TOLERANCE), number


@pytest.mark.parametrize("profile", ["nydus", "libketama"])
def test_weight_sets_point_share(profile: str) -> None:
    router = make_router([1, 2, 3, 4], profile)
    owners = router.ring.owners[:-1]
    # floor(40 * 4 * weight / 10) steps of 4 points each.
    assert [owners.count(number) for number in range(4)] == [64, 128, 192, 256]


@pytest.mark.parametrize("profile", ["nydus", "libketama"])
def test_weight_raise_moves_keys_to_host(profile: str) -> None:
    before = key_shares(make_router([1, 1, 1, 1], profile))
    after = key_shares(make_router([1, 1, 1, 3], profile))
    assert before[3] == pytest.approx(0.25, abs=TOLERANCE)
    assert after[3] == pytest.approx(0.5, abs=TOLERANCE)


@pytest.mark.parametrize("profile", ["nydus", "libketama"])
def test_weight_zero_host_gets_no_keys(profile: str) -> None:
    router = make_router([1, 0, 1], profile)
    shares = key_shares(router)
    assert shares[1] == 0
    assert shares[0] + shares[2] == pytest.approx(1.0)


@pytest.mark.parametrize("profile", ["nydus", "libketama"])
def test_weights_are_relative(profile: str) -> None:
    small = make_router([1, 2, 3], profile)
    large = make_router([10, 20, 30], profile)
    assert small.ring == large.ring
