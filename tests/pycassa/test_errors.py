"""Errors of the Cassandra backend on real nodes, and how the cluster retries."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable

import pytest
from cassandra import InvalidRequest
from cassandra.protocol import SyntaxException

from nydus_core import CommandError, HostConnectionError, HostDownError, HostError
from nydus_pycassa import CassandraCluster

from .._servers.cassandra import CassandraNode
from .conftest import node_host, unused_port

MakeCluster = Callable[..., CassandraCluster]
SECRET = "hunter2-secret"


def test_unknown_keyspace_names_keyspace(
    make_cluster: MakeCluster, cassandra_node: CassandraNode
) -> None:
    cluster = make_cluster({"hosts": {0: node_host(cassandra_node, "no_such_space")}})
    with pytest.raises(HostError) as info:
        cluster.execute("SELECT now() FROM system.local")
    message = str(info.value)
    assert "keyspace 'no_such_space'" in message
    assert cluster[0].identifier in message
    assert info.value.host == 0
    assert cluster[0].is_connected is False
    assert cluster.router.down == frozenset()


def test_unknown_keyspace_in_statement_names_host(
    make_cluster: MakeCluster, cassandra_node: CassandraNode, keyspace: str
) -> None:
    cluster = make_cluster({"hosts": {0: node_host(cassandra_node, keyspace)}})
    with pytest.raises(InvalidRequest) as info:
        cluster.execute("SELECT * FROM no_such_space.carts")
    assert "no_such_space" in str(info.value)
    assert info.value.__notes__ == [f"on host 0 ({cluster[0].identifier})"]


def test_syntax_error_names_host(
    make_cluster: MakeCluster, cassandra_node: CassandraNode, keyspace: str
) -> None:
    host = node_host(cassandra_node, keyspace)
    cluster = make_cluster({"router": "partition", "hosts": {0: host}})
    with pytest.raises(SyntaxException) as info:
        cluster.execute("SELEKT * FROM carts", routing_key="k")
    shown = "".join(traceback.format_exception(info.value))
    assert (
        f"on host 0 (cassandra://127.0.0.1:{cassandra_node.port}/{keyspace})" in shown
    )
    assert "SELEKT" in shown


def test_syntax_error_never_marks_host_down(
    make_cluster: MakeCluster, cassandra_node: CassandraNode, keyspace: str
) -> None:
    host = node_host(cassandra_node, keyspace)
    cluster = make_cluster(
        {"router": "partition", "hosts": {0: host}, "max_connection_retries": 0}
    )
    for _ in range(3):
        with pytest.raises(SyntaxException):
            cluster.execute("SELEKT 1", routing_key="k")
    assert cluster.router.down == frozenset()
    rows = cluster.execute("SELECT id FROM carts WHERE id = 1", routing_key="k")
    assert rows.one() is None


def test_unreachable_contact_point_names_host(
    make_cluster: MakeCluster, caplog: pytest.LogCaptureFixture
) -> None:
    port = unused_port()
    host = {
        "contact_points": ["127.0.0.1"],
        "port": port,
        "keyspace": "shop",
        "username": "app",
        "password": SECRET,
        "connect_timeout": 1,
    }
    cluster = make_cluster(
        {"router": "partition", "hosts": {0: host}, "max_connection_retries": 1}
    )
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(HostConnectionError) as info:
            cluster.execute("SELECT 1", routing_key="k")
    message = str(info.value)
    assert f"cassandra://127.0.0.1:{port}/shop" in message
    assert "NoHostAvailable" in message
    assert info.value.host == 0
    assert SECRET not in message
    assert SECRET not in caplog.text
    # The retries are spent, so the partition router marks the host down.
    assert cluster.router.down == frozenset({0})
    with pytest.raises(HostDownError):
        cluster.execute("SELECT 1", routing_key="k")


def test_unreachable_host_fails_map(make_cluster: MakeCluster) -> None:
    port = unused_port()
    host = {"contact_points": ["127.0.0.1"], "port": port, "connect_timeout": 1}
    cluster = make_cluster({"hosts": {0: host}})
    with pytest.raises(CommandError) as info:
        with cluster.map() as conn:
            conn.execute("SELECT 1")
            conn.execute("SELECT 2")
    errors = info.value.errors
    assert len(errors) == 2
    assert all(isinstance(error, HostConnectionError) for error in errors)
    assert f"cassandra://127.0.0.1:{port}/" in str(info.value)


def test_bad_credentials_name_host(
    make_cluster: MakeCluster,
    cassandra_auth_node: CassandraNode,
    caplog: pytest.LogCaptureFixture,
) -> None:
    host = node_host(cassandra_auth_node, None, username="cassandra", password=SECRET)
    cluster = make_cluster({"router": "partition", "hosts": {0: host}})
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(HostConnectionError) as info:
            cluster.execute("SELECT now() FROM system.local", routing_key="k")
    message = str(info.value)
    assert message.startswith("authentication failed on host 0 (cassandra://")
    assert "check the username and password" in message
    assert SECRET not in message
    assert SECRET not in caplog.text
    # Bad credentials are not retried and do not mark the host down.
    assert cluster.router.down == frozenset()


def test_good_credentials_connect(
    make_cluster: MakeCluster, cassandra_auth_node: CassandraNode
) -> None:
    host = node_host(
        cassandra_auth_node, None, username="cassandra", password="cassandra"
    )
    cluster = make_cluster({"hosts": {0: host}})
    row = cluster.execute("SELECT release_version FROM system.local").one()
    assert row.release_version == cassandra_auth_node.version
