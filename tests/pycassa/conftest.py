"""A real Cassandra node for the Cassandra backend's tests.

One node starts per test run, on free loopback ports, and stops at its end.
A second node with password authentication starts only when a test
requests it. A node that cannot start fails the tests that need it: nothing is
skipped.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.policies import DCAwareRoundRobinPolicy

from nydus_core import create_cluster
from nydus_pycassa import CassandraCluster

from .._servers.cassandra import CassandraNode

LOCAL_DC = "datacenter1"


def unused_port() -> int:
    """Return a loopback TCP port that nothing listened on a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(scope="session")
def cassandra_node() -> Iterator[CassandraNode]:
    """A running single-node Cassandra without authentication."""
    node = CassandraNode()
    node.start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="session")
def cassandra_auth_node() -> Iterator[CassandraNode]:
    """A running node with PasswordAuthenticator (user cassandra/cassandra)."""
    node = CassandraNode(auth=True)
    node.start()
    try:
        yield node
    finally:
        node.stop()


def plain_session(node: CassandraNode) -> tuple[Cluster, Session]:
    """Open a cassandra-driver session on ``node``, bypassing Nydus."""
    profile = ExecutionProfile(
        load_balancing_policy=DCAwareRoundRobinPolicy(local_dc=LOCAL_DC),
        request_timeout=30,
    )
    cluster = Cluster(
        contact_points=[node.host],
        port=node.port,
        protocol_version=5,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
    )
    return cluster, cluster.connect()


@pytest.fixture(scope="session")
def driver_session(cassandra_node: CassandraNode) -> Iterator[Session]:
    """A plain driver session on the node, for setting up and reading back."""
    cluster, session = plain_session(cassandra_node)
    try:
        yield session
    finally:
        cluster.shutdown()


def create_keyspace(session: Session, name: str) -> None:
    """Create keyspace ``name`` with one replica, dropping an old one first."""
    session.execute(f"DROP KEYSPACE IF EXISTS {name}")
    session.execute(
        f"CREATE KEYSPACE {name} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )


@pytest.fixture(scope="module")
def keyspace(request: pytest.FixtureRequest, driver_session: Session) -> Iterator[str]:
    """A keyspace of this test module, with the table ``carts``."""
    module = request.module.__name__.rpartition(".")[2]
    name = "nydus_" + re.sub(r"\W", "_", module)
    create_keyspace(driver_session, name)
    driver_session.execute(
        f"CREATE TABLE {name}.carts (id int PRIMARY KEY, total double, owner text)"
    )
    try:
        yield name
    finally:
        driver_session.execute(f"DROP KEYSPACE IF EXISTS {name}")


def node_host(
    node: CassandraNode, keyspace: str | None, **options: Any
) -> dict[str, Any]:
    """Return the options of a Nydus host on ``node`` using ``keyspace``."""
    host: dict[str, Any] = {
        "contact_points": [node.host],
        "port": node.port,
        "local_dc": LOCAL_DC,
    }
    if keyspace is not None:
        host["keyspace"] = keyspace
    host.update(options)
    return host


@pytest.fixture
def make_cluster(
    cassandra_node: CassandraNode,
) -> Iterator[Callable[..., CassandraCluster]]:
    """Build clusters from configs and disconnect them after the test."""
    created: list[CassandraCluster] = []

    def make(config: dict[str, Any]) -> CassandraCluster:
        settings = {"backend": "cassandra", **config}
        cluster = create_cluster(settings)
        assert isinstance(cluster, CassandraCluster)
        created.append(cluster)
        return cluster

    yield make
    for cluster in created:
        cluster.disconnect()
