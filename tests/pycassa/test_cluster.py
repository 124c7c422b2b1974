"""The Cassandra backend on a real node: writes, reads, routing, prepares."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from cassandra.cluster import ResponseFuture, ResultSet, Session
from cassandra.query import PreparedStatement

from nydus_core import RoutingError, create_cluster
from nydus_pycassa import CassandraBackend, CassandraCluster

from .._servers.cassandra import CassandraNode
from .conftest import create_keyspace, node_host

MakeCluster = Callable[..., CassandraCluster]


def read_total(session: Session, keyspace: str, cart: int) -> float | None:
    row = session.execute(
        f"SELECT total FROM {keyspace}.carts WHERE id = %s", (cart,)
    ).one()
    return None if row is None else float(row.total)


def test_legacy_example_round_trip(
    cassandra_node: CassandraNode, keyspace: str, driver_session: Session
) -> None:
    # The Nydus 0.11 form, pointed at the test node's port through 'defaults'.
    cassandra = create_cluster(
        {
            "backend": "pycassa",
            "hosts": [cassandra_node.host],
            "keyspace": keyspace,
            "defaults": {"port": cassandra_node.port},
        }
    )
    with cassandra:
        cassandra.execute("INSERT INTO carts (id, total) VALUES (%s, %s)", (7, 12.5))
        rows = cassandra.execute("SELECT total FROM carts WHERE id = %s", (7,))
        assert isinstance(rows, ResultSet)
        assert [row.total for row in rows] == [12.5]
    assert read_total(driver_session, keyspace, 7) == 12.5


def test_named_parameters(
    make_cluster: MakeCluster,
    cassandra_node: CassandraNode,
    keyspace: str,
    driver_session: Session,
) -> None:
    cluster = make_cluster({"hosts": {0: node_host(cassandra_node, keyspace)}})
    cluster.execute(
        "INSERT INTO carts (id, total, owner) VALUES (%(id)s, %(total)s, %(owner)s)",
        {"id": 8, "total": 3.25, "owner": "ada"},
    )
    row = driver_session.execute(
        f"SELECT total, owner FROM {keyspace}.carts WHERE id = 8"
    ).one()
    assert row.total == 3.25
    assert row.owner == "ada"


def test_execute_async_returns_future(
    make_cluster: MakeCluster, cassandra_node: CassandraNode, keyspace: str
) -> None:
    cluster = make_cluster({"hosts": {0: node_host(cassandra_node, keyspace)}})
    future = cluster.execute_async(
        "INSERT INTO carts (id, total) VALUES (%s, %s)", (9, 1.5)
    )
    assert isinstance(future, ResponseFuture)
    future.result()
    rows = cluster.execute_async("SELECT total FROM carts WHERE id = 9").result()
    assert rows.one().total == 1.5


def test_prepared_statement_reused(
    make_cluster: MakeCluster,
    cassandra_node: CassandraNode,
    keyspace: str,
    driver_session: Session,
) -> None:
    cluster = make_cluster({"hosts": {0: node_host(cassandra_node, keyspace)}})
    backend = cluster[0]
    assert isinstance(backend, CassandraBackend)
    query = "INSERT INTO carts (id, total) VALUES (?, ?)"
    for cart in range(20, 25):
        cluster.execute(query, (cart, cart / 2), prepare=True)
    assert backend.prepared_count == 1
    first = backend.prepare(query)
    assert isinstance(first, PreparedStatement)
    assert backend.prepare(query) is first
    assert backend.prepared_count == 1
    for cart in range(20, 25):
        assert read_total(driver_session, keyspace, cart) == cart / 2


def test_prepared_named_markers(
    make_cluster: MakeCluster, cassandra_node: CassandraNode, keyspace: str
) -> None:
    cluster = make_cluster({"hosts": {0: node_host(cassandra_node, keyspace)}})
    cluster.execute(
        "INSERT INTO carts (id, total) VALUES (:id, :total)",
        {"id": 26, "total": 4.0},
        prepare=True,
    )
    rows = cluster.execute("SELECT total FROM carts WHERE id = ?", (26,), prepare=True)
    assert rows.one().total == 4.0
    assert cluster[0].prepared_count == 2


def test_prepared_cache_dropped_on_reconnect(
    make_cluster: MakeCluster, cassandra_node: CassandraNode, keyspace: str
) -> None:
    cluster = make_cluster({"hosts": {0: node_host(cassandra_node, keyspace)}})
    query = "SELECT total FROM carts WHERE id = ?"
    before = cluster[0].prepare(query)
    cluster.disconnect()
    cluster.execute(query, (1,), prepare=True)
    after = cluster[0].prepare(query)
    assert after is not before
    assert cluster[0].prepared_count == 1


def test_consistency_option_applies(
    make_cluster: MakeCluster, cassandra_node: CassandraNode, keyspace: str
) -> None:
    host = node_host(cassandra_node, keyspace, consistency="ALL")
    cluster = make_cluster({"hosts": {0: host}})
    rows = cluster.execute("SELECT total FROM carts WHERE id = 1")
    assert rows.response_future.message.consistency_level == 5


def test_core_command_form_still_runs(
    make_cluster: MakeCluster, cassandra_node: CassandraNode, keyspace: str
) -> None:
    cluster = make_cluster({"hosts": {0: node_host(cassandra_node, keyspace)}})
    query = "SELECT release_version FROM system.local"
    generic = cluster.execute("execute", (query,), {})
    assert generic.one().release_version == cassandra_node.version
    direct = cluster.run_command("execute", (query,), {})
    assert direct.one().release_version == cassandra_node.version
    future = cluster.run_command("execute_async", (query,), {})
    assert future.result().one().release_version == cassandra_node.version


def test_get_conn_returns_session(
    make_cluster: MakeCluster, cassandra_node: CassandraNode, keyspace: str
) -> None:
    cluster = make_cluster({"hosts": {0: node_host(cassandra_node, keyspace)}})
    session = cluster.get_conn()
    assert isinstance(session, Session)
    assert session.keyspace == keyspace


# Two keyspaces as two hosts of one cluster.


@pytest.fixture(scope="module")
def tenant_keyspaces(
    keyspace: str, driver_session: Session
) -> Iterator[tuple[str, str]]:
    """The module's keyspace and a second one, each with a table ``orders``."""
    second = f"{keyspace}_b"
    create_keyspace(driver_session, second)
    for name in (keyspace, second):
        driver_session.execute(
            f"CREATE TABLE IF NOT EXISTS {name}.orders "
            "(tenant text, id int, item text, PRIMARY KEY (tenant, id))"
        )
    try:
        yield keyspace, second
    finally:
        driver_session.execute(f"DROP KEYSPACE IF EXISTS {second}")


@pytest.fixture
def tenants(
    make_cluster: MakeCluster,
    cassandra_node: CassandraNode,
    tenant_keyspaces: tuple[str, str],
) -> CassandraCluster:
    return make_cluster(
        {
            "router": "partition",
            "hosts": {
                number: node_host(cassandra_node, name)
                for number, name in enumerate(tenant_keyspaces)
            },
        }
    )


def stored_tenants(session: Session, keyspace: str) -> set[str]:
    rows = session.execute(f"SELECT tenant FROM {keyspace}.orders")
    return {row.tenant for row in rows}


def test_routing_key_picks_keyspace(
    tenants: CassandraCluster,
    tenant_keyspaces: tuple[str, str],
    driver_session: Session,
) -> None:
    insert = "INSERT INTO orders (tenant, id, item) VALUES (%s, %s, %s)"
    names = [f"tenant-{index}" for index in range(40)]
    for name in names:
        tenants.execute(insert, (name, 1, "book"), routing_key=name)

    expected: dict[int, set[str]] = {0: set(), 1: set()}
    for name in names:
        hosts = tenants.hosts_for("execute", insert, routing_key=name)
        assert len(hosts) == 1
        expected[hosts[0]].add(name)
    assert expected[0]
    assert expected[1]
    for number, name in enumerate(tenant_keyspaces):
        assert stored_tenants(driver_session, name) == expected[number]


def test_routing_key_reads_owner(tenants: CassandraCluster) -> None:
    tenants.execute(
        "INSERT INTO orders (tenant, id, item) VALUES (%s, %s, %s)",
        ("reader", 2, "lamp"),
        routing_key="reader",
    )
    rows = tenants.execute(
        "SELECT item FROM orders WHERE tenant = %s", ("reader",), routing_key="reader"
    )
    assert [row.item for row in rows] == ["lamp"]


def test_write_without_routing_key_raises(
    tenants: CassandraCluster,
    tenant_keyspaces: tuple[str, str],
    driver_session: Session,
) -> None:
    with pytest.raises(RoutingError) as info:
        tenants.execute(
            "INSERT INTO orders (tenant, id, item) VALUES (%s, %s, %s)",
            ("nobody", 3, "pen"),
        )
    assert "routing_key" in str(info.value)
    for name in tenant_keyspaces:
        assert "nobody" not in stored_tenants(driver_session, name)


def test_read_without_routing_key_goes_everywhere(tenants: CassandraCluster) -> None:
    results = tenants.execute("SELECT keyspace_name FROM system_schema.keyspaces")
    assert isinstance(results, list)
    assert len(results) == 2
    assert tenants.hosts_for("execute", "SELECT 1") == [0, 1]


def test_get_conn_by_key(tenants: CassandraCluster) -> None:
    owner = tenants.hosts_for("execute", "SELECT 1", routing_key="t7")[0]
    session = tenants.get_conn("t7")
    assert session is tenants[owner].session
    assert tenants.get_conn(routing_key="t7") is session


def test_prepared_cache_follows_keyspace(
    make_cluster: MakeCluster,
    cassandra_node: CassandraNode,
    tenant_keyspaces: tuple[str, str],
    driver_session: Session,
) -> None:
    first, second = tenant_keyspaces
    cluster = make_cluster({"hosts": {0: node_host(cassandra_node, first)}})
    insert = "INSERT INTO orders (tenant, id, item) VALUES (?, ?, ?)"
    cluster.execute(insert, ("moved", 1, "before"), prepare=True)
    cluster.set_keyspace(second)
    cluster.execute(insert, ("moved", 2, "after"), prepare=True)
    assert cluster[0].prepared_count == 2
    for name, expected in ((first, [1]), (second, [2])):
        rows = driver_session.execute(
            f"SELECT id FROM {name}.orders WHERE tenant = 'moved'"
        )
        assert [row.id for row in rows] == expected
