"""Config checking: every bad value raises ConfigError before any connection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nydus_core import AllRouter, Cluster, ConfigError, PluginError, create_cluster
from nydus_core._config import load_config

from .recording_backend import RecordingBackend


@pytest.fixture(autouse=True)
def _no_connections() -> Any:
    RecordingBackend.connections.clear()
    yield
    RecordingBackend.connections.clear()


def config(**overrides: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {"backend": RecordingBackend, "hosts": {0: {}, 1: {}}}
    settings.update(overrides)
    return settings


def raises_config_error(settings: Any, path: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        create_cluster(settings)
    assert info.value.path == path
    assert RecordingBackend.connections == []
    return info.value


def test_config_minimal() -> None:
    cluster = create_cluster(config())
    assert isinstance(cluster, Cluster)
    assert isinstance(cluster.router, AllRouter)
    assert len(cluster) == 2
    assert RecordingBackend.connections == []


def test_config_missing_backend() -> None:
    error = raises_config_error({"hosts": {0: {}}}, "backend")
    assert "missing config key 'backend'" in str(error)
    assert "pip install nydus-redis" in str(error)


def test_config_engine_alias() -> None:
    settings = config()
    settings["engine"] = settings.pop("backend")
    assert len(create_cluster(settings)) == 2


def test_config_backend_and_engine() -> None:
    raises_config_error(config(engine=RecordingBackend), "backend")


def test_config_missing_hosts() -> None:
    raises_config_error({"backend": RecordingBackend}, "hosts")


def test_config_empty_hosts() -> None:
    error = raises_config_error(config(hosts={}), "hosts")
    assert "empty config key 'hosts'" in str(error)


def test_config_empty_host_list() -> None:
    raises_config_error(config(hosts=[]), "hosts")


def test_config_host_key_not_number() -> None:
    error = raises_config_error(config(hosts={"primary": {}}), "hosts.primary")
    assert "'primary'" in str(error)


def test_config_host_key_bool() -> None:
    raises_config_error(config(hosts={True: {}}), "hosts.True")


def test_config_host_numbers_gap() -> None:
    error = raises_config_error(config(hosts={0: {}, 2: {}}), "hosts")
    assert "[0, 2]" in str(error)


def test_config_host_numbers_as_strings() -> None:
    cluster = create_cluster(config(hosts={"0": {}, "1": {}}))
    assert list(cluster) == [0, 1]


def test_config_host_list() -> None:
    cluster = create_cluster(config(hosts=[{"port": 1}, {"port": 2}]))
    assert [cluster[number].options["port"] for number in cluster] == [1, 2]


def test_config_host_not_dict() -> None:
    raises_config_error(config(hosts={0: "localhost"}), "hosts.0")


def test_config_option_wrong_type() -> None:
    error = raises_config_error(config(hosts={0: {"port": "6379"}}), "hosts.0.port")
    assert "'6379'" in str(error)
    assert "expected int" in str(error)


def test_config_option_bool_for_int() -> None:
    raises_config_error(config(hosts={0: {"port": True}}), "hosts.0.port")


def test_config_option_negative() -> None:
    raises_config_error(config(hosts={0: {"port": -1}}), "hosts.0.port")


def test_config_unknown_option_close_match() -> None:
    error = raises_config_error(config(hosts={0: {"prot": 1}}), "hosts.0.prot")
    assert "did you mean 'port'?" in str(error)


def test_config_secret_not_shown() -> None:
    error = raises_config_error(
        config(hosts={0: {"password": 12345}}), "hosts.0.password"
    )
    assert "12345" not in str(error)


def test_config_defaults_merge() -> None:
    cluster = create_cluster(
        config(defaults={"port": 7}, hosts={0: {}, 1: {"port": 8}})
    )
    assert cluster[0].options["port"] == 7
    assert cluster[1].options["port"] == 8


def test_config_defaults_bad_option() -> None:
    raises_config_error(config(defaults={"port": "x"}), "defaults.port")


def test_config_unknown_top_level_key() -> None:
    error = raises_config_error(
        config(max_conection_retries=3), "max_conection_retries"
    )
    assert "did you mean 'max_connection_retries'?" in str(error)


def test_config_retries_negative() -> None:
    raises_config_error(config(max_connection_retries=-1), "max_connection_retries")


def test_config_retries_float() -> None:
    raises_config_error(config(max_connection_retries=2.5), "max_connection_retries")


def test_config_retries_set() -> None:
    assert create_cluster(config(max_connection_retries=3)).max_connection_retries == 3


def test_config_router_options_not_dict() -> None:
    raises_config_error(config(router_options=[1]), "router_options")


def test_config_router_option_unknown() -> None:
    raises_config_error(
        config(router_options={"retry_timout": 1}), "router_options.retry_timout"
    )


def test_config_not_a_dict() -> None:
    with pytest.raises(ConfigError):
        create_cluster(42)  # type: ignore[arg-type]


def test_config_backend_not_backend_class() -> None:
    with pytest.raises(PluginError, match="not a subclass"):
        create_cluster(config(backend=dict))


def test_config_dotted_backend_colon() -> None:
    cluster = create_cluster(
        config(backend="tests.core.recording_backend:RecordingBackend")
    )
    assert type(cluster[0]).__name__ == "RecordingBackend"


def test_config_dotted_backend_dot() -> None:
    cluster = create_cluster(
        config(backend="tests.core.recording_backend.RecordingBackend")
    )
    assert type(cluster[0]).__name__ == "RecordingBackend"


def test_config_dotted_backend_missing_module() -> None:
    with pytest.raises(PluginError, match=r"cannot import module 'nowhere\.mod'"):
        create_cluster(config(backend="nowhere.mod.Backend"))


def test_config_router_all_by_name() -> None:
    assert isinstance(create_cluster(config(router="all")).router, AllRouter)


def test_config_legacy_base_router() -> None:
    cluster = create_cluster(config(router="nydus.db.routers.base.BaseRouter"))
    assert isinstance(cluster.router, AllRouter)


def test_config_legacy_cluster_path() -> None:
    cluster = create_cluster(config(cluster="nydus.db.base.BaseCluster"))
    assert type(cluster) is Cluster


def test_config_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "cluster.toml"
    path.write_text(
        'backend = "tests.core.recording_backend:RecordingBackend"\n'
        "max_connection_retries = 2\n"
        "[hosts.0]\nport = 1\n[hosts.1]\nport = 2\n",
        encoding="utf-8",
    )
    cluster = create_cluster(path)
    assert list(cluster) == [0, 1]
    assert cluster[1].options["port"] == 2
    assert cluster.max_connection_retries == 2


def test_config_toml_invalid(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("backend = \n", encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(path)


def test_config_toml_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.toml")
