"""Generate ``nydus_redis/command_table.json``, the built-in Redis command table.

The table has two parts:

- ``commands``: each Redis command and subcommand (``object|encoding``) with
  its arity, flags and key specifications, as ``COMMAND`` of a live
  redis-server returns them. Nydus finds the keys of a call from these.
- ``first_key_methods``: the redis-py methods that send one command whose
  only key is the method's first parameter, such as ``get(name)``. Nydus
  routes these by that argument without building the command.

Run it from the repository with the packages installed::

    python3 plugins/nydus_redis/tools/generate_command_table.py

By default it starts a local ``redis-server`` (the one ``nydus_redis``
finds) and stops it afterwards; ``--port`` reads a running server instead.
``--markdown`` prints the command lists of ``docs/redis-commands.md``.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import redis

from nydus_redis import LocalRedisServer
from nydus_redis._keyspecs import flatten_entries, normalize_command

OUTPUT = Path(__file__).resolve().parents[1] / "nydus_redis" / "command_table.json"
#: The redis-py modules whose methods send Redis commands.
COMMAND_MODULES = ("redis.commands.core",)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="server to read")
    parser.add_argument(
        "--port", type=int, default=None, help="read this server; default: start one"
    )
    parser.add_argument("--output", default=str(OUTPUT), help="file to write")
    parser.add_argument(
        "--markdown", action="store_true", help="print the command lists instead"
    )
    options = parser.parse_args(argv)

    if options.port is None:
        with LocalRedisServer() as server:
            version, commands = read_commands(server.host, server.port)
    else:
        version, commands = read_commands(options.host, options.port)
    if options.markdown:
        print(markdown_lists(commands))
        return 0
    table = {
        "source": f"COMMAND of redis-server {version}",
        "redis_py_version": redis.__version__,
        "commands": commands,
        "first_key_methods": first_key_methods(commands),
    }
    Path(options.output).write_text(dump(table), encoding="utf-8")
    print(
        f"wrote {options.output}: {len(commands)} commands of redis-server "
        f"{version}, {len(table['first_key_methods'])} first-key methods of "
        f"redis-py {redis.__version__}",
        file=sys.stderr,
    )
    return 0


# Reading the server's command table


def read_commands(host: str, port: int) -> tuple[str, dict[str, Any]]:
    """Return the server's version and its commands, subcommands included."""
    connection = redis.Connection(host=host, port=port, protocol=3)
    try:
        connection.connect()
        connection.send_command("COMMAND")
        reply = connection.read_response()
        connection.send_command("INFO", "server")
        info = _text(connection.read_response())
    finally:
        connection.disconnect()
    version = next(
        line.split(":", 1)[1].strip()
        for line in info.splitlines()
        if line.startswith("redis_version:")
    )
    commands = dict(normalize_command(entry) for entry in flatten_entries(reply))
    return version, dict(sorted(commands.items()))


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


# Reading redis-py's methods


def first_key_methods(commands: dict[str, Any]) -> dict[str, str]:
    """Return the redis-py methods routed by their first parameter.

    A method qualifies when every ``self.execute_command`` call in its body
    sends the same command with the method's first parameter right after
    the command name. Any other method of ``self`` that it calls must never
    send a command, and the command must have exactly one key, at
    argument 1.
    """
    methods: dict[str, str] = {}
    for name in sorted(dir(redis.Redis)):
        function = getattr(redis.Redis, name)
        if name.startswith("_") or not inspect.isfunction(function):
            continue
        if function.__module__ not in COMMAND_MODULES:
            continue
        parameter = _first_parameter(function)
        command = _sent_command(function, parameter) if parameter else None
        if command is not None and _single_key_at_one(commands.get(command)):
            methods[name] = str(parameter)
    return methods


def _first_parameter(function: Any) -> str | None:
    parameters = list(inspect.signature(function).parameters.values())[1:]
    if not parameters:
        return None
    first = parameters[0]
    if first.kind not in (first.POSITIONAL_ONLY, first.POSITIONAL_OR_KEYWORD):
        return None
    return first.name


def _sent_command(function: Any, parameter: str) -> str | None:
    """Return the command a method sends with ``parameter`` first, or None.

    The command name and the first argument may come straight from the
    ``execute_command`` call or from a list built before it
    (``pieces = [name, value]`` then ``execute_command("SET", *pieces)``),
    provided the list is assigned once and only grows at its end.
    """
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    lists = _growing_lists(tree)
    sent: set[str] = set()
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "self"
        ):
            continue
        if node.func.attr != "execute_command":
            if _sends_nothing(node, lists):
                continue
            return None
        leading = _leading_arguments(node.args, lists)
        if len(leading) < 2:
            return None
        command, first = leading[0], leading[1]
        if not (isinstance(command, ast.Constant) and isinstance(command.value, str)):
            return None
        if not (isinstance(first, ast.Name) and first.id == parameter):
            return None
        sent.add(command.value.lower().replace(" ", "|"))
    return sent.pop() if len(sent) == 1 else None


def _sends_nothing(call: ast.Call, lists: dict[str, list[ast.expr]]) -> bool:
    """Return whether a ``self.helper(...)`` call can neither send a command
    nor change a list that is sent: the helper's source never mentions
    ``execute_command`` and no growing list is passed to it.
    """
    assert isinstance(call.func, ast.Attribute)
    helper = getattr(redis.Redis, call.func.attr, None)
    if not inspect.isfunction(helper):
        return False
    if "execute_command" in inspect.getsource(helper):
        return False
    passed = [*call.args, *(keyword.value for keyword in call.keywords)]
    return not any(
        isinstance(value, ast.Name) and value.id in lists for value in passed
    )


def _growing_lists(tree: ast.AST) -> dict[str, list[ast.expr]]:
    """Return local lists assigned once that only ``append`` and ``extend``.

    Each maps to the elements of its list literal, which stay its first
    elements; ``[key] + members`` counts as the literal ``[key]``.
    """
    assigned: dict[str, list[ast.expr] | None] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    first_time = target.id not in assigned
                    value = node.value if not isinstance(node, ast.AugAssign) else None
                    literal = _list_literal(value)
                    assigned[target.id] = literal if first_time else None
                elif isinstance(target, ast.Subscript) and isinstance(
                    target.value, ast.Name
                ):
                    assigned[target.value.id] = None
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.attr not in ("append", "extend")
        ):
            assigned[node.func.value.id] = None
    return {name: items for name, items in assigned.items() if items is not None}


def _list_literal(value: ast.expr | None) -> list[ast.expr] | None:
    if isinstance(value, ast.List):
        return list(value.elts)
    if isinstance(value, ast.BinOp) and isinstance(value.op, ast.Add):
        return _list_literal(value.left)
    return None


def _leading_arguments(
    arguments: list[ast.expr], lists: dict[str, list[ast.expr]]
) -> list[ast.expr]:
    """Return the arguments known to come first, expanding a growing list."""
    leading: list[ast.expr] = []
    for argument in arguments:
        if not isinstance(argument, ast.Starred):
            leading.append(argument)
            continue
        if isinstance(argument.value, ast.Name) and argument.value.id in lists:
            leading.extend(lists[argument.value.id])
        break
    return leading


def _single_key_at_one(command: dict[str, Any] | None) -> bool:
    if command is None or "movablekeys" in command["flags"]:
        return False
    specs = command["key_specs"]
    if len(specs) != 1:
        return False
    spec = specs[0]
    return spec["begin_search"] == {"index": {"index": 1}} and spec["find_keys"] == {
        "range": {"keystep": 1, "lastkey": 0, "limit": 0}
    }


# Output


def dump(table: dict[str, Any]) -> str:
    """Return the table as JSON with one command per line, for short diffs."""
    lines = ["{"]
    for field in ("source", "redis_py_version"):
        lines.append(f"  {json.dumps(field)}: {json.dumps(table[field])},")
    for field in ("commands", "first_key_methods"):
        lines.append(f"  {json.dumps(field)}: {{")
        entries = list(table[field].items())
        for index, (name, value) in enumerate(entries):
            comma = "," if index < len(entries) - 1 else ""
            text = json.dumps(value, sort_keys=True)
            lines.append(f"    {json.dumps(name)}: {text}{comma}")
        closing = "  }," if field == "commands" else "  }"
        lines.append(closing)
    lines.append("}")
    return "\n".join(lines) + "\n"


def markdown_lists(commands: dict[str, Any]) -> str:
    """Return the keyless and the multi-key commands as Markdown paragraphs."""
    keyless: list[str] = []
    multi: list[str] = []
    for name, command in commands.items():
        if _is_container(name, commands):
            continue
        label = f"`{name.replace('|', ' ').upper()}`"
        specs = command["key_specs"]
        if not specs:
            keyless.append(label)
        elif len(specs) > 1 or not _single_key_at(specs[0]):
            multi.append(label)
    return (
        f"Keyless ({len(keyless)}): {', '.join(keyless)}\n\n"
        f"Several keys ({len(multi)}): {', '.join(multi)}\n"
    )


def _is_container(name: str, commands: dict[str, Any]) -> bool:
    return "|" not in name and any(other.startswith(f"{name}|") for other in commands)


def _single_key_at(spec: dict[str, Any]) -> bool:
    return "index" in spec["begin_search"] and spec["find_keys"] == {
        "range": {"keystep": 1, "lastkey": 0, "limit": 0}
    }


if __name__ == "__main__":
    sys.exit(main())
