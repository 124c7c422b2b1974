"""Nydus's own routers pass the router contract suites of nydus_core.testing."""

from __future__ import annotations

import collections
from typing import Any, ClassVar

from nydus_core import AllRouter, BaseRouter
from nydus_core.testing import KeyRouterContract, RouterContract
from nydus_core.testing._routers import run_threads
from nydus_routers import ConsistentHashingRouter, PartitionRouter, RoundRobinRouter


class TestPartitionContract(KeyRouterContract):
    router_class = PartitionRouter


class TestConsistentHashingContract(KeyRouterContract):
    router_class = ConsistentHashingRouter


class TestConsistentHashingRemapContract(KeyRouterContract):
    router_class = ConsistentHashingRouter
    router_options: ClassVar[dict[str, Any]] = {"ejection": "remap"}


class TestLibketamaRemapContract(KeyRouterContract):
    router_class = ConsistentHashingRouter
    router_options: ClassVar[dict[str, Any]] = {
        "profile": "libketama",
        "ejection": "remap",
    }


class TestRoundRobinContract(RouterContract):
    router_class = RoundRobinRouter

    def test_round_robin_even_under_threads(self) -> None:
        router: BaseRouter = self.make_router(5)
        picks: list[int] = []

        def pick(index: int) -> None:
            for _ in range(1000):
                picks.extend(router.get_hosts("get"))

        assert run_threads(self.thread_count, pick) == []
        shares = collections.Counter(picks)
        assert shares == {host: 1000 * self.thread_count // 5 for host in range(5)}


class TestAllRouterContract(RouterContract):
    router_class = AllRouter

    def test_all_router_every_host(self) -> None:
        router = self.make_router(4)
        router.mark_down(2)
        assert router.get_hosts("ping") == [0, 1, 2, 3]
