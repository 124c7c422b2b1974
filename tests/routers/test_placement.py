"""Placement of the key-value routers, checked against Nydus 0.11's."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from nydus_core import ConfigError, HostDownError, HostSpec, RoutingError
from nydus_routers import (
    ConsistentHashingRouter,
    PartitionRouter,
    RoundRobinRouter,
    signed_crc32,
)

from ..conftest import vector_key


def specs(identifiers: list[str]) -> list[HostSpec]:
    return [
        HostSpec(number, identifier) for number, identifier in enumerate(identifiers)
    ]


@pytest.mark.parametrize(
    "router_cls, field",
    [
        (PartitionRouter, "partition"),
        (ConsistentHashingRouter, "consistent_hashing"),
    ],
)
def test_placement_matches_nydus_011(
    placement_vectors: dict[str, Any], router_cls: type, field: str
) -> None:
    router = router_cls(specs(placement_vectors["identifiers"]))
    wrong = [
        (case["key"], case[field], router.get_host(vector_key(case)))
        for case in placement_vectors["cases"]
        if router.get_host(vector_key(case)) != case[field]
    ]
    assert len(placement_vectors["cases"]) == 600
    assert wrong == []


def test_partition_signed_crc32() -> None:
    # zlib.crc32(b"a") is 0xE8B7BE43, negative as a signed 32-bit integer.
    assert signed_crc32(b"a") == 0xE8B7BE43 - 2**32
    router = PartitionRouter(specs(["a", "b", "c"]))
    assert router.get_host("a") == (0xE8B7BE43 - 2**32) % 3


def test_partition_int_key_is_decimal() -> None:
    router = PartitionRouter(specs(["a", "b", "c"]))
    assert router.get_host(1234) == router.get_host("1234")


def test_partition_rejects_remap() -> None:
    with pytest.raises(ConfigError, match=r"router_options\.ejection"):
        PartitionRouter(specs(["a", "b"]), {"ejection": "remap"})


def test_key_bool_rejected() -> None:
    router = PartitionRouter(specs(["a", "b"]))
    with pytest.raises(RoutingError, match="bool"):
        router.get_host(True)


def test_key_object_rejected() -> None:
    router = PartitionRouter(specs(["a", "b"]))
    with pytest.raises(RoutingError, match="object"):
        router.get_host(object())  # type: ignore[arg-type]


def test_ketama_points_per_host() -> None:
    router = ConsistentHashingRouter(
        specs([f"redis://h:{port}/0" for port in range(4)])
    )
    owners = router.ring.owners[:-1]
    assert len(router.ring.points) == 640
    assert [owners.count(number) for number in range(4)] == [160, 160, 160, 160]


def test_ketama_weight_points() -> None:
    hosts = [HostSpec(0, "a", 1.0), HostSpec(1, "b", 3.0)]
    router = ConsistentHashingRouter(hosts)
    owners = router.ring.owners[:-1]
    # floor(40 * 2 * 1 / 4) = 20 steps and floor(40 * 2 * 3 / 4) = 60 steps.
    assert owners.count(0) == 80
    assert owners.count(1) == 240


def test_ketama_remap_leaves_ring() -> None:
    router = ConsistentHashingRouter(specs(["a", "b", "c"]), {"ejection": "remap"})
    keys = [f"key:{index}" for index in range(2000)]
    before = {key: router.get_host(key) for key in keys}
    router.mark_down(1)
    during = {key: router.get_host(key) for key in keys}
    router.mark_up(1)
    after = {key: router.get_host(key) for key in keys}
    assert 1 not in during.values()
    assert all(during[key] == host for key, host in before.items() if host != 1)
    assert after == before


def test_ketama_fail_keeps_owner() -> None:
    router = ConsistentHashingRouter(specs(["a", "b", "c"]))
    keys = [f"key:{index}" for index in range(500)]
    before = [router.get_host(key) for key in keys]
    router.mark_down(1)
    assert [router.get_host(key) for key in keys] == before
    assert router.ejection == "fail"


def test_ketama_unknown_profile() -> None:
    with pytest.raises(ConfigError, match=r"router_options\.profile"):
        ConsistentHashingRouter(specs(["a"]), {"profile": "twemproxy"})


def test_round_robin_cycles() -> None:
    router = RoundRobinRouter(specs(["a", "b", "c"]))
    picks = [router.get_hosts("get")[0] for _ in range(6)]
    assert picks == [0, 1, 2, 0, 1, 2]


def test_round_robin_peek_keeps_position() -> None:
    router = RoundRobinRouter(specs(["a", "b"]))
    assert router.get_hosts("get", peek=True) == [0]
    assert router.get_hosts("get", peek=True) == [0]
    assert router.get_hosts("get") == [0]
    assert router.get_hosts("get") == [1]


def test_round_robin_skips_down() -> None:
    router = RoundRobinRouter(specs(["a", "b", "c"]))
    router.mark_down(1)
    assert [router.get_hosts("get")[0] for _ in range(4)] == [0, 2, 0, 2]


def test_round_robin_all_down() -> None:
    router = RoundRobinRouter(specs(["a", "b"]))
    router.mark_down(0)
    router.mark_down(1)
    with pytest.raises(HostDownError, match="every host is marked down"):
        router.get_hosts("get")


def test_round_robin_threads_even() -> None:
    router = RoundRobinRouter(specs(["a", "b", "c", "d"]))
    counts = [0, 0, 0, 0]
    lock = threading.Lock()

    def work() -> None:
        local = [0, 0, 0, 0]
        for _ in range(2500):
            local[router.get_hosts("get")[0]] += 1
        with lock:
            for number, count in enumerate(local):
                counts[number] += count

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counts == [5000, 5000, 5000, 5000]


def test_hash_tag_groups_keys() -> None:
    router = ConsistentHashingRouter(specs(["a", "b", "c"]), {"hash_tag": "{}"})
    hosts = {router.get_host(f"{{user:42}}:field{index}") for index in range(50)}
    assert hosts == {router.get_host("user:42")}


def test_hash_tag_empty_part_hashes_whole_key() -> None:
    router = PartitionRouter(specs(["a", "b", "c"]), {"hash_tag": "{}"})
    plain = PartitionRouter(specs(["a", "b", "c"]))
    assert router.get_host("{}:abc") == plain.get_host("{}:abc")


def test_hash_tag_invalid() -> None:
    with pytest.raises(ConfigError, match="two characters"):
        PartitionRouter(specs(["a"]), {"hash_tag": "{"})
