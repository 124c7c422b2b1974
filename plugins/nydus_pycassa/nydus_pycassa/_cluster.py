"""The cluster class of the Cassandra backend, whose ``execute`` takes CQL."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nydus_core import Cluster
from nydus_core._cluster import CommandProxy


class CassandraCommandProxy(CommandProxy):
    """A command name bound to a :class:`CassandraCluster`."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        cluster: CassandraCluster = self._cluster  # type: ignore[assignment]
        return cluster.run_command(self._name, args, kwargs)

    def __getattr__(self, name: str) -> CassandraCommandProxy:
        if name.startswith("__"):
            raise AttributeError(name)
        return CassandraCommandProxy(self._cluster, f"{self._name}.{name}")


class CassandraCluster(Cluster):
    """A cluster of Cassandra hosts; the default cluster of the backend.

    :meth:`execute` takes a statement as cassandra-driver's
    ``Session.execute`` does, plus ``routing_key=`` and ``prepare=``::

        cluster.execute("SELECT total FROM carts WHERE id = %s", (7,))

    The core's generic form, ``Cluster.execute(command, args, kwargs)``, is
    :meth:`run_command` here. Every other command still runs through
    attribute access, as in ``cluster.execute_async(query)``.
    """

    def __getattr__(self, name: str) -> CassandraCommandProxy:
        if name.startswith("_"):
            raise AttributeError(name)
        proxy = CassandraCommandProxy(self, name)
        # Cached on the instance, so the next lookup skips __getattr__.
        self.__dict__[name] = proxy
        return proxy

    # The signature differs from Cluster.execute on purpose: on a Cassandra
    # cluster, execute() is the driver's statement call.
    def execute(  # type: ignore[override]
        self, query: Any, parameters: Any = None, *args: Any, **kwargs: Any
    ) -> Any:
        """Run a statement on the hosts its routing key picks.

        :param query: a CQL string with ``%s`` or ``%(name)s`` markers (``?``
            or ``:name`` with ``prepare=True``), or a driver statement.
        :param parameters: a tuple or a dict of values for the markers.
        :param routing_key: the key that picks the host. Under a router that
            routes by key, a write without one raises :class:`RoutingError`.
        :param prepare: prepare the query once per host and reuse it.
        :returns: the driver's ``ResultSet``, or a list of them, one per host,
            in host order, when the call goes to several hosts.

        The core's form ``execute(command, args, kwargs)``, a command name, a
        tuple and a dict as the only arguments, still runs ``command`` as
        :meth:`run_command` does. The driver's third positional argument is
        a timeout, never a dict, so the two forms cannot be confused.
        """
        if _is_command_form(query, parameters, args, kwargs):
            return self.run_command(query, parameters, args[0])
        return self.run_command("execute", (query, parameters, *args), kwargs)

    def run_command(
        self, command: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> Any:
        """Run ``command`` on the hosts its router picks and return the result."""
        return Cluster.execute(self, command, args, kwargs)


def _is_command_form(
    query: Any, parameters: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> bool:
    """Return whether an ``execute`` call has the core's command form."""
    return (
        isinstance(query, str)
        and isinstance(parameters, tuple)
        and len(args) == 1
        and isinstance(args[0], Mapping)
        and not kwargs
    )
