"""Which arguments of a redis-py call are keys.

Calls on a cluster are redis-py method calls (``cluster.zunionstore('d',
['a', 'b'])``). Each method name maps to a rule, built on first use and
then looked up in a dict:

- Methods whose only key is their first parameter (``get``, ``set``,
  ``hget`` and about a hundred more, listed in ``command_table.json``)
  return that argument: the fast path.
- ``mget``, ``mset``, ``msetnx``, ``delete``, ``unlink``, ``exists``,
  ``touch`` and a few client helpers have rules written here.
- Every other command method is called on a recording client, which keeps
  the argument list that redis-py would send instead of sending it. The
  Redis command table then gives the keys in that list.
- Client helpers that send no command (``get_encoder``, ``pubsub``) have
  no keys, so they run on every host. A few that cannot work across hosts
  (``pipeline``, ``watch``, module clients such as ``json``) raise.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import redis
from redis.commands.helpers import list_or_args

from nydus_core import Key, RoutingError
from nydus_redis._keyspecs import (
    CommandTable,
    flatten_entries,
    load_builtin,
    normalize_command,
)

logger = logging.getLogger("nydus.redis.commands")

#: Returns the keys of one call from its positional and keyword arguments.
Rule = Callable[[Sequence[Any], Mapping[str, Any]], Sequence[Key]]

#: The redis-py modules whose methods send Redis commands.
COMMAND_MODULES = frozenset({"redis.commands.core", "redis.commands.sentinel"})

_BUILTIN = load_builtin()
#: The Redis command table; :func:`learn_command` extends it.
TABLE = CommandTable(_BUILTIN["commands"])
#: redis-py methods whose first parameter, named here, is their only key.
FIRST_KEY_METHODS: dict[str, str] = dict(_BUILTIN["first_key_methods"])
del _BUILTIN


def command_keys(
    command: str, args: Sequence[Any], kwargs: Mapping[str, Any]
) -> Sequence[Key]:
    """Return the keys of a redis-py call, or ``()`` when it has none.

    :raises RoutingError: when the keys cannot be found; nothing is routed
        by guess.
    :raises AttributeError: when redis-py has no such method.
    """
    rule = RULES.get(command)
    if rule is None:
        rule = resolve_rule(command)
        RULES[command] = rule
    return rule(args, kwargs)


def resolve_rule(command: str) -> Rule:
    """Return the key rule of a redis-py method name."""
    if "." in command:
        # A call on a client attribute, such as connection_pool.get_encoder.
        return no_keys
    function = None if command.startswith("_") else getattr(redis.Redis, command, None)
    if function is None or not callable(function):
        raise AttributeError(
            f"redis-py's Redis client has no method {command!r}, so Nydus cannot "
            "route this call; check the command name"
        )
    if getattr(function, "__module__", "") not in COMMAND_MODULES:
        return no_keys
    parameter = FIRST_KEY_METHODS.get(command)
    if parameter is not None and _first_parameter(function) == parameter:
        return first_key(command, parameter)
    return wire_rule(command)


def _first_parameter(function: Any) -> str | None:
    parameters = list(inspect.signature(function).parameters.values())[1:]
    return parameters[0].name if parameters else None


# Rules


def no_keys(args: Sequence[Any], kwargs: Mapping[str, Any]) -> Sequence[Key]:
    """Return no keys, so that the call goes to every host."""
    return ()


def first_key(command: str, parameter: str) -> Rule:
    """Return the rule of a method whose first parameter is its only key."""

    def rule(args: Sequence[Any], kwargs: Mapping[str, Any]) -> Sequence[Key]:
        if args:
            return (args[0],)
        if parameter in kwargs:
            return (kwargs[parameter],)
        raise RoutingError(
            f"invalid call {command}(): its key argument {parameter!r} is missing"
        )

    return rule


def wire_rule(command: str) -> Rule:
    """Return the rule that finds keys in the arguments redis-py would send."""

    def rule(args: Sequence[Any], kwargs: Mapping[str, Any]) -> Sequence[Key]:
        return TABLE.keys(wire_arguments(command, args, kwargs))

    return rule


def mget_keys(args: Sequence[Any], kwargs: Mapping[str, Any]) -> list[Key]:
    """Return the keys of ``mget(keys, *args)`` as redis-py flattens them."""
    if args:
        first, rest = args[0], args[1:]
    elif "keys" in kwargs:
        first, rest = kwargs["keys"], ()
    else:
        raise RoutingError("invalid call mget(): it needs at least one key")
    _check_reusable("mget", first)
    keys = list_or_args(first, rest)
    if not keys:
        raise RoutingError("invalid call mget(): the list of keys is empty")
    return keys


def mapping_keys(command: str) -> Rule:
    """Return the rule of ``mset(mapping)`` and ``msetnx(mapping)``."""

    def rule(args: Sequence[Any], kwargs: Mapping[str, Any]) -> Sequence[Key]:
        mapping = args[0] if args else kwargs.get("mapping")
        if not isinstance(mapping, Mapping) or not mapping:
            raise RoutingError(
                f"invalid call {command}(): expected a non-empty dict of keys to "
                f"values, got {type(mapping).__name__}"
            )
        return tuple(mapping)

    return rule


def positional_keys(command: str) -> Rule:
    """Return the rule of methods whose positional arguments are all keys."""

    def rule(args: Sequence[Any], kwargs: Mapping[str, Any]) -> Sequence[Key]:
        if not args:
            raise RoutingError(
                f"invalid call {command}(): it needs at least one key argument"
            )
        return args

    return rule


def connection_keys(args: Sequence[Any], kwargs: Mapping[str, Any]) -> Sequence[Key]:
    """Return the first argument of ``get_conn``, the key Nydus 0.11 used."""
    if args:
        return (args[0],)
    for name in ("key", "name"):
        if name in kwargs:
            return (kwargs[name],)
    return ()


def transaction_keys(args: Sequence[Any], kwargs: Mapping[str, Any]) -> Sequence[Key]:
    """Return the keys that ``transaction(func, *watches)`` watches."""
    watches = args[1:]
    if not watches:
        raise RoutingError(
            "invalid call transaction(func): name the keys the transaction "
            "watches, as in cluster.transaction(func, 'key1', 'key2'); Nydus "
            "runs it on their host, and they must all live on one host"
        )
    return watches


def rejected(command: str, advice: str) -> Rule:
    """Return a rule that raises for a call that cannot work on a cluster."""

    def rule(args: Sequence[Any], kwargs: Mapping[str, Any]) -> Sequence[Key]:
        raise RoutingError(f"{command}() is not supported on a cluster: {advice}")

    return rule


_PIPELINE_ADVICE = (
    "a pipeline belongs to one host. Use cluster.map() to pipeline commands to "
    "all hosts, cluster.transaction(func, *keys) for a MULTI/EXEC transaction "
    "on the host of its keys, or cluster.get_conn(key).pipeline() for one host"
)
_MODULE_ADVICE = (
    "a Redis module client talks to one host; use cluster.get_conn(key) to get "
    "the client of the host that owns a key"
)

#: Rules written by hand: multi-key commands with their own splitting, and
#: client helpers that are not plain commands.
SPECIAL_RULES: dict[str, Rule] = {
    "get_conn": connection_keys,
    "mget": mget_keys,
    "mset": mapping_keys("mset"),
    "msetnx": mapping_keys("msetnx"),
    "delete": positional_keys("delete"),
    "unlink": positional_keys("unlink"),
    "exists": positional_keys("exists"),
    "touch": positional_keys("touch"),
    "lock": first_key("lock", "name"),
    "bitfield": first_key("bitfield", "key"),
    "transaction": transaction_keys,
    "pipeline": rejected("pipeline", _PIPELINE_ADVICE),
    "watch": rejected("watch", _PIPELINE_ADVICE),
    "unwatch": rejected("unwatch", _PIPELINE_ADVICE),
    "register_script": rejected(
        "register_script",
        "a Script object runs on one host. Load the script on every host with "
        "cluster.script_load(source), then call cluster.evalsha(sha, numkeys, "
        "*keys_and_args), which goes to the host of its keys",
    ),
    **{
        name: rejected(name, _MODULE_ADVICE)
        for name in ("bf", "cf", "cms", "ft", "json", "tdigest", "topk", "ts", "vset")
    },
}

#: Rules by redis-py method name; filled on first use of each method.
RULES: dict[str, Rule] = dict(SPECIAL_RULES)


# Recording what redis-py would send


class _Recorded(Exception):
    """Carries the argument list out of :meth:`_WireRecorder.execute_command`."""

    def __init__(self, argv: tuple[Any, ...]) -> None:
        super().__init__()
        self.argv = argv


class _WireRecorder(redis.Redis):
    """A redis-py client that records the first command a method sends.

    It never connects: its constructor only builds an idle pool.
    """

    def execute_command(self, *args: Any, **options: Any) -> Any:
        raise _Recorded(args)


_recorder: _WireRecorder | None = None


def wire_arguments(
    command: str, args: Sequence[Any], kwargs: Mapping[str, Any]
) -> list[Any]:
    """Return the argument list redis-py's ``command`` method would send.

    Element 0 is the command name; a name of several words
    (``'MEMORY USAGE'``) becomes several elements, as on the wire.

    :raises RoutingError: when an argument is a one-shot iterator, which
        recording would use up, or when the method sends no command.
    """
    global _recorder
    for value in (*args, *kwargs.values()):
        _check_reusable(command, value)
    if _recorder is None:
        _recorder = _WireRecorder()
    method = getattr(_recorder, command)
    try:
        result = method(*args, **kwargs)
        if isinstance(result, Iterator):
            # scan_iter() and the like send their first command on next().
            next(result, None)
    except _Recorded as recorded:
        return _split_command_name(recorded.argv)
    raise RoutingError(
        f"redis-py's {command}() sent no command, so Nydus finds no keys to "
        "route it by; run it on one host with cluster.get_conn(key)"
    )


def _split_command_name(argv: Sequence[Any]) -> list[Any]:
    name = argv[0]
    if isinstance(name, str) and " " in name:
        return [*name.split(), *argv[1:]]
    return list(argv)


def _check_reusable(command: str, value: Any) -> None:
    if isinstance(value, Iterator):
        raise RoutingError(
            f"invalid argument {value!r} to {command}(): Nydus reads the "
            "arguments to route the call before redis-py sends them, which would "
            "use up this iterator; pass a list or a tuple"
        )


# Commands missing from the built-in table

#: Command names already requested from a server, found or not.
_requested: set[str] = set()


def learn_command(client: redis.Redis, name: str) -> bool:
    """Add command ``name`` to the table from a server's ``COMMAND INFO``.

    Each name is requested once per process; a command the server does not
    know stays unknown. Returns whether the table gained the command.

    :raises redis.RedisError: when the server cannot be reached.
    """
    if name in _requested:
        return False
    pool = client.connection_pool
    connection = pool.get_connection()
    try:
        connection.send_command("COMMAND", "INFO", name)  # type: ignore[no-untyped-call]
        reply = connection.read_response()
    finally:
        pool.release(connection)
    _requested.add(name)
    entries = list(flatten_entries(reply or ()))
    if not entries:
        logger.info("the server does not know command %r either", name)
        return False
    for entry in entries:
        TABLE.add(*normalize_command(entry))
    logger.info("added command %r to the command table from a server", name)
    return name in TABLE
