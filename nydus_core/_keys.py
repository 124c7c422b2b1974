"""Turning routing keys into the bytes that routers hash."""

from __future__ import annotations

from nydus_core._errors import RoutingError

Key = str | bytes | int | float | bytearray | memoryview


def key_bytes(key: Key) -> bytes:
    """Return the bytes of ``key`` as the server stores them.

    The encoding follows redis-py's and Nydus 0.11's: a ``str`` as UTF-8,
    ``bytes`` as they are, an ``int`` as its decimal digits, a ``float`` as
    its ``repr``. Booleans and other types raise :class:`RoutingError`,
    because redis-py rejects them too.
    """
    if type(key) is str:
        return key.encode("utf-8")
    if type(key) is bytes:
        return key
    if isinstance(key, bool):
        raise RoutingError(
            f"invalid key {key!r}: a bool is not a valid key; pass a str, bytes or int"
        )
    if isinstance(key, str):
        return str.encode(key, "utf-8")
    if isinstance(key, (bytes, bytearray, memoryview)):
        return bytes(key)
    if isinstance(key, int):
        return int.__repr__(key).encode("ascii")
    if isinstance(key, float):
        return float.__repr__(key).encode("ascii")
    raise RoutingError(
        f"invalid key {key!r} of type {type(key).__name__}: keys must be str, "
        "bytes, int or float"
    )


def hash_tag_part(data: bytes, open_char: bytes, close_char: bytes) -> bytes:
    """Return the part of ``data`` that a hash tag selects for hashing.

    That part is what lies between the first ``open_char`` and the next
    ``close_char`` after it, as in Redis Cluster and twemproxy. When there is
    no such pair, or the part between is empty, the whole key is hashed.
    """
    start = data.find(open_char)
    if start < 0:
        return data
    end = data.find(close_char, start + 1)
    if end <= start + 1:
        return data
    return data[start + 1 : end]
