"""Rendezvous hashing for Nydus: an example of a third-party router.

Each key goes to the host with the highest score for that key, where the
score mixes a hash of the key with a per-host seed. Marking a host down
moves only that host's keys, each to the host with its next highest score,
and hosts need no ring.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

from nydus_core import HostDownError, HostSpec, KeyRouter

__all__ = ["RendezvousRouter", "host_seed", "key_hash", "score"]

_MASK = (1 << 64) - 1


def key_hash(data: bytes) -> int:
    """Return a 64-bit hash of a key's bytes (BLAKE2b, 8-byte digest)."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def host_seed(identifier: str) -> int:
    """Return the 64-bit seed of a host, from its identifier."""
    digest = hashlib.blake2b(identifier.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def score(key: int, seed: int) -> int:
    """Return the 64-bit score of a host for a key.

    It is the splitmix64 finalizer of ``key XOR seed``, which spreads a
    one-bit change of its input over every output bit.
    """
    value = (key ^ seed) & _MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


class RendezvousRouter(KeyRouter):
    """Send each key to the host with the highest random weight for it.

    Hosts are scored by their identifier, so a host keeps its keys when
    others join or leave. Host option ``weight`` sets a host's share of
    keys with the logarithmic method: the score of a host of weight ``w``
    is ``-w / ln(u)``, where ``u`` is its hash score scaled into (0, 1).

    Options (``router_options``): ``ejection`` (``'fail'``, the default, or
    ``'remap'``), ``hash_tag`` and ``retry_timeout``, as for every
    :class:`nydus_core.KeyRouter`.
    """

    retryable = True

    def __init__(
        self, hosts: Sequence[HostSpec], options: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(hosts, options)
        self._weighted = len({host.weight for host in self.hosts}) > 1
        self._scored_hosts = tuple(
            (host.number, host_seed(host.identifier), host.weight)
            for host in self.hosts
        )
        self._candidates = self._scored_hosts

    def place(self, data: bytes) -> int:
        candidates = self._candidates
        if not candidates:
            raise self._every_host_down()
        hashed = key_hash(data)
        if self._weighted:
            return max(candidates, key=lambda host: _weighted(hashed, host))[0]
        best_number, best_score = -1, -1
        for number, seed, _weight in candidates:
            value = score(hashed, seed)
            if value > best_score:
                best_number, best_score = number, value
        return best_number

    def on_down_changed(self) -> None:
        if not self.remaps_down_hosts:
            return
        down = self._down
        self._candidates = tuple(
            host for host in self._scored_hosts if host[0] not in down
        )

    def _every_host_down(self) -> HostDownError:
        identifiers = ", ".join(host.identifier for host in self.hosts)
        return HostDownError(
            f"every host is marked down ({identifiers}); the cluster checks each "
            f"again {self.retry_timeout:g}s after it went down",
            self.hosts[0].number,
            self.hosts[0].identifier,
        )


def _weighted(hashed: int, host: tuple[int, int, float]) -> float:
    _number, seed, weight = host
    if weight <= 0:
        return -math.inf
    # The top 52 bits of the score, plus one half, over 2**52 lie strictly
    # inside (0, 1) as a float, so the log is finite and negative.
    unit = ((score(hashed, seed) >> 12) + 0.5) / 2.0**52
    return -weight / math.log(unit)
