"""Count the commands each Nydus cluster sends to each host.

An example hook plugin. Installing the distribution registers
:data:`counter` with every cluster through the ``nydus.plugins`` entry
point, unless ``NYDUS_DISABLE_PLUGIN_AUTOLOAD`` is set::

    from nydus_command_counter import counter

    cluster.incr('foo')
    counter.sent(cluster)      # {1: 1}: host number to commands sent
    counter.failed(cluster)    # {}: host number to commands that failed
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter

from nydus_core import Cluster, HostInfo, hookimpl

__all__ = ["CommandCounter", "counter"]


class CommandCounter:
    """A hook plugin that counts commands per cluster and host.

    A command is counted once per attempt on a host: a retried command
    counts again. In a ``map()`` block each queued command counts, although
    a host's commands go out in one pipeline. Counts of a cluster go away
    with the cluster.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: weakref.WeakKeyDictionary[Cluster, Counter[int]] = (
            weakref.WeakKeyDictionary()
        )
        self._failed: weakref.WeakKeyDictionary[Cluster, Counter[int]] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        return f"<CommandCounter of {len(self._sent)} clusters>"

    def sent(self, cluster: Cluster) -> dict[int, int]:
        """Return the commands sent to each host of ``cluster``, by host number."""
        with self._lock:
            return dict(self._sent.get(cluster, {}))

    def failed(self, cluster: Cluster) -> dict[int, int]:
        """Return the commands that failed on each host of ``cluster``."""
        with self._lock:
            return dict(self._failed.get(cluster, {}))

    def reset(self, cluster: Cluster) -> None:
        """Set the counts of ``cluster`` back to zero."""
        with self._lock:
            self._sent.pop(cluster, None)
            self._failed.pop(cluster, None)

    @hookimpl
    def nydus_before_command(self, cluster: Cluster, host: HostInfo) -> None:
        self._add(self._sent, cluster, host.number)

    @hookimpl
    def nydus_command_error(
        self, cluster: Cluster, host: HostInfo, error: BaseException
    ) -> None:
        self._add(self._failed, cluster, host.number)

    def _add(
        self,
        table: weakref.WeakKeyDictionary[Cluster, Counter[int]],
        cluster: Cluster,
        number: int,
    ) -> None:
        with self._lock:
            counts = table.get(cluster)
            if counts is None:
                counts = table[cluster] = Counter()
            counts[number] += 1


#: The instance that the ``command_counter`` entry point registers.
counter = CommandCounter()
