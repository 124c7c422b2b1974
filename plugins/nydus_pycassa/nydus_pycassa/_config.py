"""Host options of the Cassandra backend, and the Nydus 0.11 config form."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any, Final

from cassandra import ConsistencyLevel

from nydus_core import BaseBackend, ConfigError, Option
from nydus_core._options import check_options

DEFAULT_CONTACT_POINT: Final = "127.0.0.1"
DEFAULT_PORT: Final = 9042
#: Requests one host's map() pipeline keeps in flight at once; the same as
#: the default concurrency of cassandra-driver's ``execute_concurrent``.
DEFAULT_MAX_IN_FLIGHT: Final = 100
#: Native protocol versions that Apache Cassandra 4.0 to 5.0 serve without the
#: beta flag.
PROTOCOL_VERSIONS: Final = (3, 4, 5)
#: The Thrift port of Cassandra before 4.0, which pycassa used.
THRIFT_PORT: Final = 9160

OPTIONS: Final[dict[str, Option]] = {
    **BaseBackend.options_spec,
    "contact_points": Option((list, tuple)),
    "keyspace": Option((str,), nullable=True),
    "port": Option((int,), minimum=1),
    "username": Option((str,), nullable=True),
    "password": Option((str,), nullable=True, secret=True),
    "local_dc": Option((str,), nullable=True),
    "protocol_version": Option((int,), choices=PROTOCOL_VERSIONS, nullable=True),
    "consistency": Option((str,), nullable=True),
    "connect_timeout": Option((int, float), minimum=0),
    "request_timeout": Option((int, float), minimum=0, nullable=True),
    "ssl": Option((bool, ssl.SSLContext)),
    "max_in_flight": Option((int,), minimum=1),
}

#: Cluster class names of Nydus 0.11 that mean "the backend's own cluster".
LEGACY_CLUSTERS: Final = frozenset(
    {
        "nydus.db.base.BaseCluster",
        "nydus.db.base.Cluster",
        "nydus.db.backends.pycassa.PycassaCluster",
    }
)

ContactPoint = tuple[str, int | None]


def parse_contact_point(value: Any, path: str) -> ContactPoint:
    """Split a contact point into its host and its port, if it names one.

    Accepted forms: ``host``, ``host:port``, ``[ipv6]``, ``[ipv6]:port``, and
    a bare IPv6 address such as ``::1``.
    """
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"invalid contact point {value!r} in config key {path!r}: expected a "
            "host name or IP address, optionally with ':port'",
            path,
        )
    text = value.strip()
    port: int | None = None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise ConfigError(
                f"invalid contact point {value!r} in config key {path!r}: expected "
                "'[address]' or '[address]:port'",
                path,
            )
        if rest:
            port = _parse_port(rest[1:], value, path)
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = _parse_port(port_text, value, path)
    else:
        host = text
    if not host:
        raise ConfigError(
            f"invalid contact point {value!r} in config key {path!r}: the host "
            "is missing",
            path,
        )
    return host, port


def _parse_port(text: str, value: str, path: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ConfigError(
            f"invalid port in contact point {value!r} in config key {path!r}: "
            "expected a number from 1 to 65535",
            path,
        )
    port = int(text)
    if port == THRIFT_PORT:
        raise ConfigError(
            f"contact point {value!r} in config key {path!r} names port 9160, the "
            "Thrift port that pycassa used and Cassandra 4.0 removed; use the "
            "native protocol port (9042 by default) or leave the port out",
            path,
        )
    return port


def format_contact_point(point: ContactPoint, default_port: int) -> str:
    """Return ``host:port`` for a contact point, with IPv6 hosts in brackets."""
    host, port = point
    bracketed = f"[{host}]" if ":" in host else host
    return f"{bracketed}:{port or default_port}"


def check_host_options(options: Mapping[str, Any], path: str) -> dict[str, Any]:
    """Check the options of one host, or the ``defaults``, at config key ``path``."""
    checked = check_options(options, OPTIONS, path)

    if "contact_points" in checked:
        checked["contact_points"] = _check_contact_points(
            checked["contact_points"], f"{path}.contact_points"
        )
    port = checked.get("port")
    if port is not None and port > 65535:
        raise ConfigError(
            f"invalid value {port!r} for config key '{path}.port': expected a "
            "number from 1 to 65535",
            f"{path}.port",
        )
    if checked.get("consistency") is not None:
        checked["consistency"] = _check_consistency(
            checked["consistency"], f"{path}.consistency"
        )
    if checked.get("keyspace") == "":
        raise ConfigError(
            f"empty value for config key '{path}.keyspace': name a keyspace, or "
            "leave the option out to qualify table names in each statement",
            f"{path}.keyspace",
        )
    # The defaults may hold only one half of the credentials, and each host
    # the other, so only a whole host's options are checked for both.
    if path != "defaults":
        _check_credentials(checked, path)
    return checked


def _check_contact_points(points: Any, path: str) -> list[str]:
    if not points:
        raise ConfigError(
            f"empty value for config key {path!r}: list at least one node of the "
            "Cassandra cluster, for example ['127.0.0.1']",
            path,
        )
    checked: list[str] = []
    for index, point in enumerate(points):
        parse_contact_point(point, f"{path}.{index}")
        checked.append(point.strip())
    return checked


def _check_consistency(name: str, path: str) -> str:
    upper = name.upper()
    if upper not in ConsistencyLevel.name_to_value:
        levels = ", ".join(sorted(ConsistencyLevel.name_to_value))
        raise ConfigError(
            f"invalid value {name!r} for config key {path!r}: expected a "
            f"consistency level name, one of {levels}",
            path,
        )
    return upper


def _check_credentials(checked: Mapping[str, Any], path: str) -> None:
    username = checked.get("username")
    password = checked.get("password")
    if bool(username) != bool(password):
        missing = "password" if username else "username"
        raise ConfigError(
            f"missing config key '{path}.{missing}': Cassandra's password "
            "authentication needs both a username and a password",
            f"{path}.{missing}",
        )
    identifier = checked.get("identifier")
    if password and identifier and password in identifier:
        raise ConfigError(
            f"invalid value for config key '{path}.identifier': it contains the "
            "password; identifiers appear in logs and errors, so choose one "
            "without secrets",
            f"{path}.identifier",
        )


def prepare_config(config: dict[str, Any], cluster_class: type) -> dict[str, Any]:
    """Rewrite the Nydus 0.11 form and pick the Cassandra cluster class.

    Nydus 0.11 wrote one Cassandra cluster as ``'hosts': [contact points]``
    with a top-level ``'keyspace'``; that becomes host 0 with the options
    ``contact_points`` and ``keyspace``.
    """
    config = dict(config)
    _set_cluster_class(config, cluster_class)

    hosts = config.get("hosts")
    if isinstance(hosts, str):
        raise ConfigError(
            f"invalid value {hosts!r} for config key 'hosts': expected a list of "
            f"contact points, such as [{hosts!r}], or a dict of hosts",
            "hosts",
        )
    if isinstance(hosts, (list, tuple)) and _is_contact_point_list(hosts):
        host: dict[str, Any] = {"contact_points": list(hosts)}
        if "keyspace" in config:
            host["keyspace"] = config.pop("keyspace")
        config["hosts"] = {0: host}
    elif "keyspace" in config:
        raise ConfigError(
            "config key 'keyspace' belongs to the Nydus 0.11 form, where 'hosts' "
            "is a list of contact points; with a dict of hosts, set 'keyspace' "
            "under each host or under 'defaults'",
            "keyspace",
        )
    return config


def _set_cluster_class(config: dict[str, Any], cluster_class: type) -> None:
    value = config.get("cluster")
    if value is None or (isinstance(value, str) and value in LEGACY_CLUSTERS):
        config["cluster"] = cluster_class


def _is_contact_point_list(hosts: list[Any] | tuple[Any, ...]) -> bool:
    if not hosts:
        return False
    strings = [isinstance(item, str) for item in hosts]
    if all(strings):
        return True
    if any(strings):
        raise ConfigError(
            "invalid value for config key 'hosts': the list mixes contact points "
            "(strings) with host options (dicts); use a list of contact points "
            "for one Cassandra cluster, or a dict of hosts with 'contact_points' "
            "each",
            "hosts",
        )
    return False
