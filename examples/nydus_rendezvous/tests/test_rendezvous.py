"""Tests of the rendezvous router: the Nydus router contract, then its own."""

from __future__ import annotations

import collections
from dataclasses import replace
from typing import Any, ClassVar

from nydus_rendezvous import RendezvousRouter, score

from nydus_core import HostSpec
from nydus_core.testing import KeyRouterContract, contract_hosts, sample_keys


class TestRendezvousContract(KeyRouterContract):
    router_class = RendezvousRouter


class TestRendezvousRemapContract(KeyRouterContract):
    router_class = RendezvousRouter
    router_options: ClassVar[dict[str, Any]] = {"ejection": "remap"}


def weighted_hosts(weights: list[float]) -> list[HostSpec]:
    return [
        replace(host, weight=weight)
        for host, weight in zip(contract_hosts(len(weights)), weights, strict=True)
    ]


def test_rendezvous_new_host_takes_only_its_keys() -> None:
    keys = sample_keys()
    before = RendezvousRouter(contract_hosts(4))
    after = RendezvousRouter(contract_hosts(5))
    moved = 0
    for key in keys:
        old, new = before.get_host(key), after.get_host(key)
        assert new in (old, 4), f"{key!r} moved from host {old} to {new}"
        moved += new != old
    # An even share of 2000 keys over 5 hosts is 400.
    assert 300 < moved < 500


def test_rendezvous_weights_set_shares() -> None:
    keys = sample_keys()
    router = RendezvousRouter(weighted_hosts([1, 1, 1, 3]))
    shares = collections.Counter(router.get_host(key) for key in keys)
    # Host 3 has half the total weight, so about half the keys.
    assert 0.4 * len(keys) < shares[3] < 0.6 * len(keys)
    for host in range(3):
        assert 0.1 * len(keys) < shares[host] < 0.25 * len(keys)


def test_rendezvous_zero_weight_host_unused() -> None:
    router = RendezvousRouter(weighted_hosts([1, 0, 1]))
    hosts = {router.get_host(key) for key in sample_keys()}
    assert hosts == {0, 2}


def test_rendezvous_placement_by_identifier() -> None:
    hosts = contract_hosts(3)
    reordered = [HostSpec(number, hosts[2 - number].identifier) for number in range(3)]
    first, second = RendezvousRouter(hosts), RendezvousRouter(reordered)
    for key in sample_keys(200):
        assert second.get_host(key) == 2 - first.get_host(key)


def test_rendezvous_score_mixes_bits() -> None:
    outputs = [score(1 << bit, 0) for bit in range(64)]
    assert len(set(outputs)) == 64
    # One flipped input bit flips about half of the 64 output bits.
    flipped = sum(bin(value ^ score(0, 0)).count("1") for value in outputs) / 64
    assert 28 < flipped < 36
