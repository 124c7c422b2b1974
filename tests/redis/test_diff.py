"""``nydus diff`` and the routing details of ``nydus route``, run as a user does.

The configs name hosts on 192.0.2.0/24 (TEST-NET-1, reserved for
documentation): ``nydus diff`` and ``nydus route`` only compute placements,
so nothing connects to them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from nydus_core import HostSpec
from nydus_core._diff import compare, load_placement, read_keys
from nydus_routers import ConsistentHashingRouter


def nydus(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nydus_core", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write_config(
    path: Path, hosts: int, router: str = "consistent_hashing", options: str = ""
) -> Path:
    lines = ['backend = "redis"', f'router = "{router}"']
    if options:
        lines += ["[router_options]", options]
    for number in range(hosts):
        lines += [f"[hosts.{number}]", f'host = "192.0.2.{number + 1}"', "port = 6379"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def identifier(number: int) -> str:
    return f"redis://192.0.2.{number + 1}:6379/0"


def test_diff_four_to_five_ketama_hosts(tmp_path: Path) -> None:
    old = write_config(tmp_path / "old.toml", 4)
    new = write_config(tmp_path / "new.toml", 5)
    result = nydus("diff", "--from", str(old), "--to", str(new), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["keys"] == 100_000
    # A fifth host takes about a fifth of the keys, and only keys it takes move.
    assert 0.17 < report["moved_share"] < 0.23
    assert {pair["to"] for pair in report["pairs"]} == {identifier(4)}
    assert {pair["from"] for pair in report["pairs"]} == {
        identifier(n) for n in range(4)
    }
    assert sum(pair["keys"] for pair in report["pairs"]) == report["moved"]
    new_host = next(
        host for host in report["hosts"] if host["identifier"] == identifier(4)
    )
    assert new_host["before"] == 0
    assert new_host["after"] == report["moved_share"]


def test_diff_libketama_profile(tmp_path: Path) -> None:
    profile = 'profile = "libketama"'
    old = write_config(tmp_path / "old.toml", 4, options=profile)
    new = write_config(tmp_path / "new.toml", 5, options=profile)
    result = nydus("diff", "--from", str(old), "--to", str(new), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert 0.17 < report["moved_share"] < 0.23
    assert (
        report["from"]["routing"]
        == "ConsistentHashingRouter, profile libketama, 4 hosts"
    )


def test_diff_partition_moves_most_keys(tmp_path: Path) -> None:
    old = write_config(tmp_path / "old.toml", 3, router="partition")
    new = write_config(tmp_path / "new.toml", 4, router="partition")
    result = nydus("diff", "--from", str(old), "--to", str(new), "--sample", "20000")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"from {old}: PartitionRouter, 3 hosts"
    assert lines[2] == "keys 20,000 (generated keys key:0 to key:19999)"
    # Modulo placement keeps a key only when crc % 3 == crc % 4: a quarter.
    moved = float(lines[3].rsplit("(", 1)[1].rstrip("%)"))
    assert 72.0 < moved < 78.0


def test_diff_key_file(tmp_path: Path) -> None:
    old = write_config(tmp_path / "old.toml", 2, router="partition")
    new = write_config(tmp_path / "new.toml", 3, router="partition")
    keys = tmp_path / "keys.txt"
    keys.write_text("a\nb\nc\na\nd\n", encoding="utf-8")
    result = nydus("diff", "--from", str(old), "--to", str(new), "--keys", str(keys))
    assert result.returncode == 0, result.stderr
    placements = (load_placement(str(old)), load_placement(str(new)))
    expected = sum(placements[0].owner(k) != placements[1].owner(k) for k in "abcd")
    assert f"keys 4 ({keys})" in result.stdout
    assert f"moved {expected} of 4 keys" in result.stdout


def test_diff_same_config_moves_nothing(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", 3)
    result = nydus(
        "diff", "--from", str(config), "--to", str(config), "--sample", "500"
    )
    assert result.returncode == 0, result.stderr
    assert "moved 0 of 500 keys (0.00%)" in result.stdout


def test_diff_rejects_router_without_keys(tmp_path: Path) -> None:
    old = write_config(tmp_path / "old.toml", 2, router="round_robin")
    new = write_config(tmp_path / "new.toml", 3)
    result = nydus("diff", "--from", str(old), "--to", str(new))
    assert result.returncode == 2
    assert "does not place each key on one host" in result.stderr


def test_diff_rejects_bad_sample(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", 2)
    result = nydus("diff", "--from", str(config), "--to", str(config), "--sample", "0")
    assert result.returncode == 2
    assert "invalid --sample 0" in result.stderr


def test_diff_matches_by_identifier(tmp_path: Path) -> None:
    # The same hosts listed in another order: numbers change, keys stay.
    old = write_config(tmp_path / "old.toml", 3)
    lines = ['backend = "redis"', 'router = "consistent_hashing"']
    for number, address in enumerate(["192.0.2.3", "192.0.2.1", "192.0.2.2"]):
        lines += [f"[hosts.{number}]", f'host = "{address}"', "port = 6379"]
    new = tmp_path / "new.toml"
    new.write_text("\n".join(lines) + "\n", encoding="utf-8")
    diff = compare(
        load_placement(str(old)), load_placement(str(new)), read_keys(None, 2000)
    )
    assert diff.keys == 2000
    assert diff.moved == 0


def test_diff_hash_tag_moves_tagged_keys_together(tmp_path: Path) -> None:
    options = 'hash_tag = "{}"'
    old = load_placement(str(write_config(tmp_path / "old.toml", 4, options=options)))
    new = load_placement(str(write_config(tmp_path / "new.toml", 5, options=options)))
    keys = [
        f"{{user:{user}}}:field:{field}" for user in range(200) for field in range(5)
    ]
    diff = compare(old, new, keys)
    # Keys of one user move together, so the moved count is a multiple of 5.
    assert diff.moved % 5 == 0
    assert diff.moved > 0


def test_route_shows_profile_and_hash_tag(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "c.toml", 3, options='profile = "libketama"\nhash_tag = "{}"'
    )
    result = nydus("route", "--config", str(config), "{user:1}:cart", "plain")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    router = ConsistentHashingRouter(
        [HostSpec(n, identifier(n), 1.0, f"192.0.2.{n + 1}:6379") for n in range(3)],
        {"profile": "libketama"},
    )
    owner = router.get_host("user:1")
    assert lines[0] == "router ConsistentHashingRouter, profile libketama, hash tag {}"
    assert lines[1] == (
        f"{{user:1}}:cart -> host {owner} ({identifier(owner)}) hashed part 'user:1'"
    )
    assert lines[2].endswith("hashed part 'plain'")
