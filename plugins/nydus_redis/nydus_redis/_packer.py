"""A command packer for redis-py connections that skips per-argument steps.

redis-py packs each command with hiredis, but first runs a generator, an
``isinstance`` test and an encoder call per argument, in Python. Timed with
``timeit`` on one SET (redis-py 8.2, hiredis 3.5, the 2-core machine of
``docs/benchmarks.md``), redis-py's packer took 1.6 to 2.0 µs and this one
0.5 to 0.6 µs.

:class:`FastPacker` sends the same bytes. When the encoding is strict
UTF-8, it hands ``str`` and ``bytes`` arguments to hiredis as they are,
because hiredis encodes a ``str`` that way itself. Otherwise it encodes
``bytes``, ``str``, ``int`` and ``float`` arguments as redis-py's encoder
does. Any other argument, or a command name that redis-py would split at
whitespace (``"CONFIG GET"``), goes to redis-py's own packer, which also
raises redis-py's errors.
"""

from __future__ import annotations

import codecs
from typing import Any

import redis

try:
    import hiredis
    from redis._parsers import Encoder
    from redis.connection import HiredisRespSerializer, PythonRespSerializer
    from redis.utils import HIREDIS_AVAILABLE
except ImportError:  # pragma: no cover - redis-py without these internals
    HIREDIS_AVAILABLE = False

#: The connection classes whose ``__init__`` passes ``command_packer`` on.
PACKABLE_CONNECTIONS: tuple[type, ...] = (
    (
        redis.connection.Connection,
        redis.connection.SSLConnection,
        redis.connection.UnixDomainSocketConnection,
    )
    if HIREDIS_AVAILABLE
    else ()
)
#: redis-py's cut-off for splitting large arguments into separate buffers,
#: which its Python packer takes as a parameter.
BUFFER_CUTOFF = 6000
#: Argument types that hiredis packs as redis-py's encoder would, when the
#: encoding is strict UTF-8.
_TEXT = frozenset({str, bytes})
#: Command names remembered as safe to pack whole; bounded because a caller
#: can send any name through ``execute_command``.
MAX_NAMES = 1024


class FastPacker:
    """Pack commands for redis-py as its hiredis packer does, in fewer steps.

    :param encoding: the client's ``encoding`` for ``str`` arguments.
    :param errors: the client's ``encoding_errors``.
    :param decode_responses: the client's ``decode_responses``, for the
        encoder of the fallback packer.
    """

    def __init__(self, encoding: str, errors: str, decode_responses: bool) -> None:
        self._encoding = encoding
        self._errors = errors
        # hiredis encodes a str as strict UTF-8 by itself.
        self._hiredis_encodes = (
            codecs.lookup(encoding).name == "utf-8" and errors == "strict"
        )
        # redis-py's classes have no type hints.
        encoder = Encoder(encoding, errors, decode_responses)  # type: ignore[no-untyped-call]
        python = PythonRespSerializer(BUFFER_CUTOFF, encoder.encode)
        self._fallback = HiredisRespSerializer(  # type: ignore[no-untyped-call]
            python.pack, encoder.encode
        )
        self._whole_names: set[Any] = set()

    def pack(self, *args: Any) -> list[bytes]:
        if self._hiredis_encodes and _TEXT.issuperset(map(type, args)):
            encoded: tuple[Any, ...] = args
        else:
            converted = self._encode(args)
            if converted is None:
                return self._fallback_pack(args)
            encoded = converted
        if (args and args[0] in self._whole_names) or self._is_whole_name(args):
            return [hiredis.pack_command(encoded)]
        return self._fallback_pack(args)

    def _encode(self, args: tuple[Any, ...]) -> tuple[bytes, ...] | None:
        """Encode the arguments as redis-py does, or return None for another type."""
        encoded = []
        for arg in args:
            kind = type(arg)
            if kind is bytes:
                encoded.append(arg)
            elif kind is str:
                encoded.append(arg.encode(self._encoding, self._errors))
            elif kind is int or kind is float:
                # redis-py's Encoder sends repr(); a subclass may differ.
                encoded.append(repr(arg).encode())
            else:
                return None
        return tuple(encoded)

    def _is_whole_name(self, args: tuple[Any, ...]) -> bool:
        """Return whether redis-py would send the command name as one word."""
        if not args:
            return False
        name = args[0]
        word = name.encode(self._encoding, self._errors) if type(name) is str else name
        if type(word) is not bytes or word.split() != [word]:
            return False
        if len(self._whole_names) < MAX_NAMES:
            self._whole_names.add(name)
        return True

    def _fallback_pack(self, args: tuple[Any, ...]) -> list[bytes]:
        packed: list[bytes] = self._fallback.pack(*args)
        return packed


def install_fast_packer(client: redis.Redis) -> bool:
    """Make the new connections of ``client``'s pool use :class:`FastPacker`.

    Returns whether it did: not without hiredis, nor for a connection class
    other than redis-py's own three. Connections that exist already keep
    redis-py's packer.
    """
    pool = client.connection_pool
    if not HIREDIS_AVAILABLE or pool.connection_class not in PACKABLE_CONNECTIONS:
        return False
    kwargs = pool.connection_kwargs
    if kwargs.get("command_packer") is not None:
        return False
    kwargs["command_packer"] = FastPacker(
        kwargs.get("encoding", "utf-8"),
        kwargs.get("encoding_errors", "strict"),
        bool(kwargs.get("decode_responses", False)),
    )
    return True


__all__ = ["FastPacker", "install_fast_packer"]
