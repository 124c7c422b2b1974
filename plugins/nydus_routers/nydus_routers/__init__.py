"""Key-value routers for Nydus: partition, consistent hashing, round robin."""

from nydus_routers._hashing import (
    ConsistentHashingRouter,
    PartitionRouter,
    signed_crc32,
)
from nydus_routers._ketama import build_libketama_ring, build_nydus_ring
from nydus_routers._round_robin import RoundRobinRouter

__all__ = [
    "ConsistentHashingRouter",
    "PartitionRouter",
    "RoundRobinRouter",
    "build_libketama_ring",
    "build_nydus_ring",
    "signed_crc32",
]
