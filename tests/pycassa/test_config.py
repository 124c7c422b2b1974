"""Config checks and routing rules of the Cassandra backend, without a node."""

from __future__ import annotations

import ssl
import uuid
from typing import Any

import pytest
from cassandra import ConsistencyLevel
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from cassandra.query import BatchStatement, SimpleStatement

from nydus_core import ConfigError, RoutingError, create_cluster
from nydus_pycassa import CassandraBackend, CassandraCluster
from nydus_pycassa._statements import is_write, statement_verb

from .conftest import unused_port


def config_error(config: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        create_cluster(config)
    return info.value


def test_legacy_form_becomes_one_host() -> None:
    cluster = create_cluster(
        {"backend": "pycassa", "hosts": ["10.0.0.1", "10.0.0.2"], "keyspace": "shop"}
    )
    assert isinstance(cluster, CassandraCluster)
    assert len(cluster) == 1
    backend = cluster[0]
    assert isinstance(backend, CassandraBackend)
    assert backend.options["contact_points"] == ["10.0.0.1", "10.0.0.2"]
    assert backend.keyspace == "shop"
    assert backend.identifier == "cassandra://10.0.0.1:9042,10.0.0.2:9042/shop"
    assert backend.is_connected is False


def test_legacy_backend_path_resolves() -> None:
    cluster = create_cluster(
        {
            "backend": "nydus.db.backends.pycassa.Pycassa",
            "cluster": "nydus.db.backends.pycassa.PycassaCluster",
            "hosts": ["127.0.0.1"],
            "keyspace": "shop",
        }
    )
    assert type(cluster) is CassandraCluster
    assert type(cluster[0]) is CassandraBackend


def test_both_short_names_resolve() -> None:
    for name in ("pycassa", "cassandra"):
        cluster = create_cluster({"backend": name, "hosts": ["127.0.0.1"]})
        assert type(cluster[0]) is CassandraBackend
        assert cluster[0].identifier == "cassandra://127.0.0.1:9042/"


def test_unknown_option_rejected_before_connecting() -> None:
    # Nothing listens on the port: connecting would fail with another error.
    error = config_error(
        {
            "backend": "cassandra",
            "hosts": {0: {"contact_points": ["127.0.0.1"], "port": unused_port()}},
            "defaults": {"replication_factor": 3},
        }
    )
    assert "unknown option 'replication_factor'" in str(error)
    assert error.path == "defaults.replication_factor"


def test_unknown_host_option_names_path() -> None:
    error = config_error(
        {"backend": "cassandra", "hosts": {0: {"keyspce": "shop"}}, "router": "all"}
    )
    assert "did you mean 'keyspace'?" in str(error)
    assert error.path == "hosts.0.keyspce"


def test_top_level_keyspace_needs_contact_point_list() -> None:
    error = config_error({"backend": "cassandra", "hosts": {0: {}}, "keyspace": "shop"})
    assert error.path == "keyspace"
    assert "under each host or under 'defaults'" in str(error)


def test_hosts_string_rejected() -> None:
    error = config_error({"backend": "pycassa", "hosts": "127.0.0.1"})
    assert error.path == "hosts"
    assert "['127.0.0.1']" in str(error)


def test_mixed_hosts_list_rejected() -> None:
    error = config_error(
        {"backend": "pycassa", "hosts": ["127.0.0.1", {"keyspace": "a"}]}
    )
    assert error.path == "hosts"


@pytest.mark.parametrize(
    ("point", "message"),
    [
        ("", "invalid contact point"),
        ("host:", "invalid port"),
        ("host:99999", "invalid port"),
        (":9042", "the host is missing"),
        ("[::1]x", "'[address]:port'"),
        ("10.0.0.1:9160", "Thrift port"),
    ],
)
def test_invalid_contact_point(point: str, message: str) -> None:
    error = config_error({"backend": "pycassa", "hosts": [point]})
    assert message in str(error)
    assert error.path == "hosts.0.contact_points.0"


def test_contact_point_ports_and_ipv6() -> None:
    cluster = create_cluster(
        {
            "backend": "cassandra",
            "hosts": {0: {"contact_points": ["a:9043", "[::1]:9044", "::1", "b"]}},
            "defaults": {"port": 9050},
        }
    )
    backend = cluster[0]
    assert backend.identifier == "cassandra://a:9043,[::1]:9044,[::1]:9050,b:9050/"
    assert backend.address == "a:9043"
    options = backend.cluster_options()
    assert options["contact_points"] == [("a", 9043), ("::1", 9044), "::1", "b"]
    assert options["port"] == 9050


def test_empty_contact_points_rejected() -> None:
    error = config_error({"backend": "cassandra", "hosts": {0: {"contact_points": []}}})
    assert error.path == "hosts.0.contact_points"


def test_consistency_name_checked() -> None:
    error = config_error(
        {"backend": "cassandra", "hosts": {0: {"consistency": "MOSTLY"}}}
    )
    assert error.path == "hosts.0.consistency"
    assert "LOCAL_QUORUM" in str(error)


def test_protocol_version_checked() -> None:
    error = config_error(
        {"backend": "cassandra", "hosts": {0: {"protocol_version": 2}}}
    )
    assert error.path == "hosts.0.protocol_version"


def test_password_without_username_rejected() -> None:
    error = config_error(
        {"backend": "cassandra", "hosts": {0: {"password": "hunter2-secret"}}}
    )
    assert error.path == "hosts.0.username"
    assert "hunter2-secret" not in str(error)


def test_credentials_split_over_defaults() -> None:
    cluster = create_cluster(
        {
            "backend": "cassandra",
            "hosts": {0: {"password": "hunter2-secret"}},
            "defaults": {"username": "app"},
        }
    )
    backend = cluster[0]
    assert "hunter2-secret" not in backend.identifier
    assert "hunter2-secret" not in repr(backend)
    provider = backend.cluster_options()["auth_provider"]
    assert provider.username == "app"
    assert provider.password == "hunter2-secret"


def test_identifier_with_password_rejected() -> None:
    error = config_error(
        {
            "backend": "cassandra",
            "hosts": {
                0: {
                    "username": "app",
                    "password": "hunter2-secret",
                    "identifier": "cassandra://app:hunter2-secret@db",
                }
            },
        }
    )
    assert error.path == "hosts.0.identifier"
    assert "hunter2-secret" not in str(error)


def test_invalid_password_type_hidden() -> None:
    error = config_error(
        {"backend": "cassandra", "hosts": {0: {"username": "a", "password": 12345}}}
    )
    assert "12345" not in str(error)
    assert error.path == "hosts.0.password"


def test_driver_options_built() -> None:
    context = ssl.create_default_context()
    cluster = create_cluster(
        {
            "backend": "cassandra",
            "hosts": {
                0: {
                    "local_dc": "dc2",
                    "consistency": "local_quorum",
                    "protocol_version": 4,
                    "connect_timeout": 3,
                    "request_timeout": 7.5,
                    "ssl": context,
                }
            },
        }
    )
    options = cluster[0].cluster_options()
    assert options["protocol_version"] == 4
    assert options["connect_timeout"] == 3
    assert options["control_connection_timeout"] == 3
    assert options["ssl_context"] is context
    profile = next(iter(options["execution_profiles"].values()))
    assert profile.consistency_level == ConsistencyLevel.LOCAL_QUORUM
    assert profile.request_timeout == 7.5
    policy = profile.load_balancing_policy
    assert isinstance(policy, TokenAwarePolicy)
    assert isinstance(policy._child_policy, DCAwareRoundRobinPolicy)
    assert policy._child_policy.local_dc == "dc2"


def test_ssl_true_builds_default_context() -> None:
    cluster = create_cluster(
        {"backend": "cassandra", "hosts": {0: {"ssl": True}}, "router": "all"}
    )
    context = cluster[0].cluster_options()["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED


def test_ssl_false_builds_no_context() -> None:
    cluster = create_cluster({"backend": "cassandra", "hosts": {0: {"ssl": False}}})
    assert "ssl_context" not in cluster[0].cluster_options()


@pytest.mark.parametrize(
    ("statement", "verb"),
    [
        ("INSERT INTO t (a) VALUES (1)", "INSERT"),
        ("  update t SET a = 1 WHERE k = 2", "UPDATE"),
        ("-- note\n/* block\n */ DELETE FROM t WHERE k = 1", "DELETE"),
        (
            "// note\nBEGIN UNLOGGED BATCH INSERT INTO t (a) VALUES (1); APPLY BATCH",
            "BEGIN",
        ),
        ("SELECT * FROM t", "SELECT"),
        ("CREATE TABLE t (a int PRIMARY KEY)", "CREATE"),
        (SimpleStatement("insert into t (a) values (1)"), "INSERT"),
        (BatchStatement(), "BEGIN"),
        (42, ""),
    ],
)
def test_statement_verb(statement: Any, verb: str) -> None:
    assert statement_verb(statement) == verb
    assert is_write(statement) is (verb in {"INSERT", "UPDATE", "DELETE", "BEGIN"})


def backend() -> CassandraBackend:
    return CassandraBackend(0, contact_points=["127.0.0.1"])


def test_command_keys_routing_key() -> None:
    keys = backend().command_keys("execute", ("SELECT 1",), {"routing_key": "t1"})
    assert keys == ("t1",)


def test_command_keys_uuid_as_text() -> None:
    tenant = uuid.UUID("12345678-1234-5678-1234-567812345678")
    keys = backend().command_keys("execute", ("SELECT 1",), {"routing_key": tenant})
    assert keys == ("12345678-1234-5678-1234-567812345678",)


def test_command_keys_read_without_key() -> None:
    assert backend().command_keys("execute", ("SELECT * FROM t",), {}) == ()


def test_command_keys_write_without_key_raises() -> None:
    with pytest.raises(RoutingError) as info:
        backend().command_keys("execute", ("INSERT INTO t (a) VALUES (1)",), {})
    assert "INSERT statement without routing_key" in str(info.value)


def test_command_keys_get_conn_positional() -> None:
    assert backend().command_keys("get_conn", ("t1",), {}) == ("t1",)
