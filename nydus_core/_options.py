"""Validation of option dicts: host options, router options, config keys."""

from __future__ import annotations

import difflib
import math
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from nydus_core._errors import ConfigError


@dataclass(frozen=True)
class Option:
    """The accepted form of one option.

    :param types: the accepted types; ``bool`` is accepted only where listed,
        although it is a subclass of ``int``.
    :param minimum: the smallest accepted number, if any.
    :param choices: the accepted values, if the option is an enumeration.
    :param nullable: whether ``None`` is accepted.
    :param secret: whether the value must never appear in a message.
    :param maximum: the largest accepted number, if any.
    """

    types: tuple[type, ...]
    minimum: float | None = None
    choices: tuple[Any, ...] | None = None
    nullable: bool = False
    secret: bool = False
    maximum: float | None = None


def join_path(path: str, key: object) -> str:
    """Return the config key path of ``key`` under ``path``."""
    return f"{path}.{key}" if path else str(key)


def close_match(word: str, candidates: Iterable[str]) -> str:
    """Return a ``did you mean`` hint for ``word``, or an empty string."""
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean {matches[0]!r}?" if matches else ""


def describe_types(types: tuple[type, ...]) -> str:
    """Return the readable names of ``types``, such as ``int or float``."""
    return " or ".join(kind.__name__ for kind in types)


def shown_value(value: Any, limit: int = 200) -> str:
    """Return ``repr(value)`` for a message, shortened to about ``limit``."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a message must not fail on a bad value
        if isinstance(value, int):
            # An int of more than 4300 digits has no repr by default.
            return f"<int of {value.bit_length()} bits>"
        return f"<{type(value).__name__} object>"
    if len(text) > limit:
        return f"{text[:limit]}... ({len(text)} characters)"
    return text


def check_value(value: Any, option: Option, path: str) -> Any:
    """Check one option value and return it.

    :raises ConfigError: naming ``path`` when the value has the wrong type,
        is out of range or is not one of the choices.
    """
    if value is None and option.nullable:
        return None
    shown = "<hidden>" if option.secret else shown_value(value)
    if isinstance(value, bool) and not {bool, object} & set(option.types):
        raise ConfigError(
            f"invalid value {shown} for config key {path!r}: expected "
            f"{describe_types(option.types)}, not a bool",
            path,
        )
    if not isinstance(value, option.types):
        raise ConfigError(
            f"invalid value {shown} for config key {path!r}: expected "
            f"{describe_types(option.types)}, got {type(value).__name__}",
            path,
        )
    if option.choices is not None and value not in option.choices:
        choices = ", ".join(repr(choice) for choice in option.choices)
        raise ConfigError(
            f"invalid value {shown} for config key {path!r}: expected one of {choices}",
            path,
        )
    if isinstance(value, str):
        _check_text(value, shown, path)
    bounded = option.minimum is not None or option.maximum is not None
    if bounded and isinstance(value, (int, float)):
        _check_range(value, option, shown, path)
    return value


def _check_text(value: str, shown: str, path: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ConfigError(
            f"invalid value {shown} for config key {path!r}: character "
            f"{exc.start} is a lone surrogate, which UTF-8 cannot encode",
            path,
        ) from None


def _check_range(value: float, option: Option, shown: str, path: str) -> None:
    # An int beyond the float range would fail later, in float() or sleep().
    if isinstance(value, float):
        finite = math.isfinite(value)
    else:
        finite = abs(value) <= sys.float_info.max
    if not finite:
        raise ConfigError(
            f"invalid value {shown} for config key {path!r}: expected a finite number",
            path,
        )
    if option.minimum is not None and value < option.minimum:
        raise ConfigError(
            f"invalid value {shown} for config key {path!r}: expected a number "
            f">= {option.minimum:g}",
            path,
        )
    if option.maximum is not None and value > option.maximum:
        raise ConfigError(
            f"invalid value {shown} for config key {path!r}: expected a number "
            f"<= {option.maximum:g}",
            path,
        )


def check_options(
    values: Any,
    spec: Mapping[str, Option],
    path: str,
    *,
    extra: Mapping[str, Option] | None = None,
) -> dict[str, Any]:
    """Check a dict of options against ``spec`` and return a copy.

    ``extra`` lists further options that are accepted, such as pass-through
    options of a driver. Unknown options raise :class:`ConfigError` naming
    the option, its path, the valid names and a close match.
    """
    if not isinstance(values, Mapping):
        raise ConfigError(
            f"invalid value for config key {path!r}: expected a dict of options, "
            f"got {type(values).__name__}",
            path,
        )
    accepted = dict(spec)
    if extra:
        accepted.update(extra)

    checked: dict[str, Any] = {}
    for name, value in values.items():
        if not isinstance(name, str):
            raise ConfigError(
                f"invalid option name {name!r} in config key {path!r}: option names "
                "must be strings",
                path,
            )
        option_path = join_path(path, name)
        if name not in accepted:
            raise ConfigError(
                f"unknown option {name!r} in config key {path or '<top level>'!r}; "
                f"valid options: {', '.join(sorted(spec))}"
                f"{close_match(name, accepted)}",
                option_path,
            )
        checked[name] = check_value(value, accepted[name], option_path)
    return checked
