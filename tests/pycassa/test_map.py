"""``map()`` on a real node: concurrent statements, call order, failures."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from cassandra.cluster import ResultSet, Session
from cassandra.protocol import SyntaxException

from nydus_core import CommandError, RoutingError
from nydus_pycassa import CassandraCluster

from .._servers.cassandra import CassandraNode
from .conftest import create_keyspace, node_host

MakeCluster = Callable[..., CassandraCluster]
INSERT = "INSERT INTO carts (id, total, owner) VALUES (%s, %s, %s)"


def test_map_inserts_every_row(
    make_cluster: MakeCluster,
    cassandra_node: CassandraNode,
    keyspace: str,
    driver_session: Session,
) -> None:
    cluster = make_cluster({"hosts": {0: node_host(cassandra_node, keyspace)}})
    ids = range(1000, 3000)
    with cluster.map() as conn:
        results = [conn.execute(INSERT, (cart, cart * 0.5, f"o{cart}")) for cart in ids]
    assert all(isinstance(result.value, ResultSet) for result in results)

    rows = driver_session.execute(
        f"SELECT id, total, owner FROM {keyspace}.carts WHERE id >= 1000 AND "
        "id < 3000 ALLOW FILTERING"
    )
    stored = {row.id: (row.total, row.owner) for row in rows}
    assert len(stored) == 2000
    for cart in ids:
        assert stored[cart] == (cart * 0.5, f"o{cart}")


def test_map_results_in_call_order(
    make_cluster: MakeCluster, cassandra_node: CassandraNode, keyspace: str
) -> None:
    cluster = make_cluster({"hosts": {0: node_host(cassandra_node, keyspace)}})
    ids = list(range(3000, 3100))
    with cluster.map() as conn:
        for cart in ids:
            conn.execute(INSERT, (cart, float(cart), None))
    reversed_ids = list(reversed(ids))
    with cluster.map() as conn:
        results = [
            conn.execute("SELECT total FROM carts WHERE id = %s", (cart,))
            for cart in reversed_ids
        ]
    assert [result.value.one().total for result in results] == [
        float(cart) for cart in reversed_ids
    ]


def test_map_prepared_statements(
    make_cluster: MakeCluster,
    cassandra_node: CassandraNode,
    keyspace: str,
    driver_session: Session,
) -> None:
    cluster = make_cluster({"hosts": {0: node_host(cassandra_node, keyspace)}})
    query = "INSERT INTO carts (id, total) VALUES (?, ?)"
    with cluster.map() as conn:
        for cart in range(3100, 3300):
            conn.execute(query, (cart, 2.0), prepare=True)
    assert cluster[0].prepared_count == 1
    rows = driver_session.execute(
        f"SELECT id FROM {keyspace}.carts WHERE id >= 3100 AND id < 3300 "
        "ALLOW FILTERING"
    )
    assert len(list(rows)) == 200


def test_map_failures_gathered(
    make_cluster: MakeCluster,
    cassandra_node: CassandraNode,
    keyspace: str,
    driver_session: Session,
) -> None:
    cluster = make_cluster({"hosts": {0: node_host(cassandra_node, keyspace)}})
    with pytest.raises(CommandError) as info:
        with cluster.map() as conn:
            good = conn.execute(INSERT, (3300, 1.0, None))
            conn.execute("INSERT INTO carts (id, total) VALUE (1, 2)")
            also_good = conn.execute(INSERT, (3301, 1.0, None))
            conn.execute("SELECT * FROM no_such_table")
    failures = info.value.failures
    assert [failure.index for failure in failures] == [1, 3]
    assert all(failure.host == 0 for failure in failures)
    assert isinstance(failures[0].error, SyntaxException)
    identifier = cluster[0].identifier
    assert failures[1].identifier == identifier
    assert f"host 0 ({identifier})" in str(info.value)
    assert good.error is None
    assert also_good.error is None
    assert driver_session.execute(
        f"SELECT id FROM {keyspace}.carts WHERE id = 3301"
    ).one()


def test_map_fail_silently(
    make_cluster: MakeCluster, cassandra_node: CassandraNode, keyspace: str
) -> None:
    cluster = make_cluster({"hosts": {0: node_host(cassandra_node, keyspace)}})
    with cluster.map(fail_silently=True) as conn:
        bad = conn.execute("SELEKT 1")
        good = conn.execute("SELECT total FROM carts WHERE id = 3300")
    assert isinstance(bad.value, SyntaxException)
    assert bad.error is bad.value
    assert good.value.one().total == 1.0


def test_map_in_flight_bound_of_one_keeps_order(
    make_cluster: MakeCluster,
    cassandra_node: CassandraNode,
    keyspace: str,
    driver_session: Session,
) -> None:
    # With one request in flight, each append starts after the previous one
    # completed, so the list column contains the values in call order.
    driver_session.execute(
        f"CREATE TABLE IF NOT EXISTS {keyspace}.logs (id int PRIMARY KEY, "
        "events list<int>)"
    )
    host = node_host(cassandra_node, keyspace, max_in_flight=1)
    cluster = make_cluster({"hosts": {0: host}})
    with cluster.map() as conn:
        for value in range(60):
            conn.execute(
                "UPDATE logs SET events = events + %s WHERE id = 1", ([value],)
            )
    row = driver_session.execute(f"SELECT events FROM {keyspace}.logs WHERE id = 1")
    assert row.one().events == list(range(60))


@pytest.fixture(scope="module")
def second_keyspace(keyspace: str, driver_session: Session) -> Iterator[str]:
    name = f"{keyspace}_b"
    create_keyspace(driver_session, name)
    driver_session.execute(
        f"CREATE TABLE {name}.carts (id int PRIMARY KEY, total double, owner text)"
    )
    try:
        yield name
    finally:
        driver_session.execute(f"DROP KEYSPACE IF EXISTS {name}")


def test_map_routes_each_row_to_owner(
    make_cluster: MakeCluster,
    cassandra_node: CassandraNode,
    keyspace: str,
    second_keyspace: str,
    driver_session: Session,
) -> None:
    names = [keyspace, second_keyspace]
    cluster = make_cluster(
        {
            "router": "partition",
            "hosts": {
                number: node_host(cassandra_node, name)
                for number, name in enumerate(names)
            },
        }
    )
    ids = range(5000, 5300)
    with cluster.map() as conn:
        for cart in ids:
            conn.execute(INSERT, (cart, 1.0, "routed"), routing_key=cart)

    for cart in ids:
        owner = cluster.hosts_for("execute", INSERT, routing_key=cart)[0]
        for number, name in enumerate(names):
            row = driver_session.execute(
                f"SELECT owner FROM {name}.carts WHERE id = %s", (cart,)
            ).one()
            assert (row is not None) is (number == owner), (cart, number)


def test_map_write_without_key_fails_alone(
    make_cluster: MakeCluster,
    cassandra_node: CassandraNode,
    keyspace: str,
    second_keyspace: str,
) -> None:
    cluster = make_cluster(
        {
            "router": "partition",
            "hosts": {
                0: node_host(cassandra_node, keyspace),
                1: node_host(cassandra_node, second_keyspace),
            },
        }
    )
    with pytest.raises(CommandError) as info:
        with cluster.map() as conn:
            routed = conn.execute(INSERT, (5400, 1.0, None), routing_key=5400)
            conn.execute(INSERT, (5401, 1.0, None))
    assert [failure.index for failure in info.value.failures] == [1]
    assert isinstance(info.value.failures[0].error, RoutingError)
    assert info.value.failures[0].host is None
    assert routed.error is None
