"""The ``nydus`` command, run as a user runs it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nydus_redis import LocalRedisServer

from .conftest import direct

ROOT = Path(__file__).resolve().parents[2]
TRACE = ROOT / "data" / "cache2k-orm-busy.trace.xz"


def nydus(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nydus_core", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write_config(path: Path, servers: list[LocalRedisServer], router: str) -> Path:
    lines = ['backend = "redis"', f'router = "{router}"']
    for number, server in enumerate(servers):
        lines += [
            f"[hosts.{number}]",
            f'host = "{server.host}"',
            f"port = {server.port}",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_cli_plugins_lists_own() -> None:
    result = nydus("plugins")
    assert result.returncode == 0, result.stderr
    assert re.search(
        r"^backend\s+redis\s+nydus_redis:RedisBackend\s+nydus-redis 0\.12\.0",
        result.stdout,
        re.M,
    )
    assert re.search(
        r"^router\s+partition\s+nydus_routers:PartitionRouter\s+nydus-routers",
        result.stdout,
        re.M,
    )
    assert re.search(
        r"^router\s+all\s+nydus_core._router:AllRouter\s+nydus-core",
        result.stdout,
        re.M,
    )


def test_cli_plugins_json() -> None:
    result = nydus("plugins", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    names = {(row["kind"], row["name"]) for row in rows}
    assert ("backend", "redis") in names
    assert ("router", "consistent_hashing") in names
    assert ("router", "ketama") in names
    assert all(
        row["error"] is None for row in rows if row["distribution"].startswith("nydus-")
    )


def test_cli_route(tmp_path: Path, servers: list[LocalRedisServer]) -> None:
    config = write_config(tmp_path / "c.toml", servers[:3], "partition")
    result = nydus("route", "--config", str(config), "foo", "bar")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "router PartitionRouter"
    # signed crc32 % 3: 'foo' -> 1 and 'bar' -> 2.
    assert lines[1] == f"foo -> host 1 (redis://127.0.0.1:{servers[1].port}/0)"
    assert lines[2] == f"bar -> host 2 (redis://127.0.0.1:{servers[2].port}/0)"


def test_cli_route_bad_config(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(
        'backend = "redis"\nrouter = "partiton"\n[hosts.0]\n', encoding="utf-8"
    )
    result = nydus("route", "--config", str(config), "foo")
    assert result.returncode == 2
    assert "unknown router 'partiton'" in result.stderr
    assert "did you mean 'partition'?" in result.stderr


def test_cli_replay_local_servers() -> None:
    result = nydus("replay", str(TRACE), "--hosts", "2", "--limit", "20000")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:5] == ["host", "identifier", "keys", "key", "share"]
    assert len(lines) == 4
    summary = lines[-1]
    assert summary.startswith("requests 20000, distinct keys ")
    ratio = float(re.search(r"hit ratio ([\d.]+)%", summary).group(1))  # type: ignore[union-attr]
    distinct = int(re.search(r"distinct keys (\d+)", summary).group(1))  # type: ignore[union-attr]
    # A read-through cache misses exactly once per distinct key.
    assert ratio == pytest.approx(100 * (20000 - distinct) / 20000, abs=0.01)


def test_cli_replay_config_text_keys(
    tmp_path: Path, servers: list[LocalRedisServer]
) -> None:
    config = write_config(tmp_path / "c.toml", servers[:2], "partition")
    keys = tmp_path / "keys.txt"
    keys.write_text("a\nb\na\nc\na\n", encoding="utf-8")
    result = nydus("replay", str(keys), "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "requests 5, distinct keys 3, hit ratio 40.00%" in result.stdout
    stored = {key for server in servers[:2] for key in direct(server).keys()}
    assert stored == {b"a", b"b", b"c"}


def test_cli_replay_missing_trace(tmp_path: Path) -> None:
    result = nydus("replay", str(tmp_path / "none.trace"))
    assert result.returncode == 2
    assert "not found" in result.stderr


def test_cli_replay_directory(tmp_path: Path) -> None:
    result = nydus("replay", str(tmp_path))
    assert result.returncode == 2
    assert "not a file" in result.stderr


def test_cli_replay_round_robin_rejected() -> None:
    result = nydus(
        "replay", str(TRACE), "--hosts", "1", "--limit", "10", "--router", "round_robin"
    )
    assert result.returncode == 2
    assert "does not place each key on one host" in result.stderr


def test_cli_replay_hosts_with_config(
    tmp_path: Path, servers: list[LocalRedisServer]
) -> None:
    config = write_config(tmp_path / "c.toml", servers[:1], "partition")
    result = nydus("replay", str(TRACE), "--config", str(config), "--hosts", "3")
    assert result.returncode == 2
    assert "--hosts starts local servers" in result.stderr


def test_cli_replay_sets_ttl(tmp_path: Path, servers: list[LocalRedisServer]) -> None:
    config = write_config(tmp_path / "c.toml", servers[:1], "partition")
    keys = tmp_path / "keys.txt"
    keys.write_text("ttl-key\n", encoding="utf-8")
    result = nydus("replay", str(keys), "--config", str(config), "--ttl", "100")
    assert result.returncode == 0, result.stderr
    ttl = direct(servers[0]).ttl("ttl-key")
    assert 0 < ttl <= 100
