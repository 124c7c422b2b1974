"""FastPacker must send exactly the bytes redis-py's own packer sends."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st
from redis.connection import Connection

from nydus_redis._packer import FastPacker, install_fast_packer

ARGUMENTS = st.one_of(
    st.binary(max_size=40),
    st.text(max_size=20),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.binary(max_size=10).map(bytearray),
    st.binary(max_size=10).map(memoryview),
    st.none(),
)
NAMES = st.sampled_from(
    ["GET", "SET", b"MGET", "CONFIG GET", b"CLIENT SETNAME", "JSON.SET", "A\tB", ""]
)


def redis_py_packer(**options: Any) -> Any:
    return Connection(**options)._command_packer


def packed(packer: Any, args: tuple[Any, ...]) -> bytes | type[BaseException]:
    """Return the packed bytes, or the type of the error packing raised."""
    try:
        return b"".join(bytes(chunk) for chunk in packer.pack(*args))
    except Exception as exc:  # noqa: BLE001 - compared with the other packer's
        return type(exc)


@given(NAMES, st.lists(ARGUMENTS, max_size=5))
def test_packer_same_bytes(name: str | bytes, rest: list[Any]) -> None:
    args = (name, *rest)
    expected = packed(redis_py_packer(), args)
    assert packed(FastPacker("utf-8", "strict", False), args) == expected


@given(st.lists(st.text(max_size=10), min_size=1, max_size=4))
def test_packer_other_encoding(words: list[str]) -> None:
    args = ("SET", *words)
    expected = packed(
        redis_py_packer(encoding="latin-1", encoding_errors="replace"), args
    )
    assert packed(FastPacker("latin-1", "replace", False), args) == expected


def test_packer_int_subclass_uses_redis_py() -> None:
    class Weird(int):
        def __repr__(self) -> str:
            return "weird"

    args = ("SET", "key", Weird(3))
    assert packed(FastPacker("utf-8", "strict", False), args) == packed(
        redis_py_packer(), args
    )


def test_install_fast_packer_sets_pool_option() -> None:
    client = redis.Redis(host="127.0.0.1", port=1)
    assert install_fast_packer(client) is True
    packer = client.connection_pool.connection_kwargs["command_packer"]
    assert isinstance(packer, FastPacker)


def test_install_fast_packer_keeps_given_packer() -> None:
    client = redis.Redis(host="127.0.0.1", port=1)
    install_fast_packer(client)
    first = client.connection_pool.connection_kwargs["command_packer"]
    assert install_fast_packer(client) is False
    assert client.connection_pool.connection_kwargs["command_packer"] is first


@pytest.mark.redis
def test_backend_connection_uses_fast_packer(redis_servers: Any) -> None:
    server = redis_servers[0]
    from nydus_core import create_cluster

    cluster = create_cluster(
        {
            "backend": "redis",
            "router": "partition",
            "hosts": {0: {"host": server.host, "port": server.port}},
        }
    )
    try:
        cluster.set("packer:key", "välue")
        assert cluster.get("packer:key") == "välue".encode()
        pool = cluster[0].connection.connection_pool
        assert isinstance(pool.connection_kwargs["command_packer"], FastPacker)
    finally:
        cluster.disconnect()
