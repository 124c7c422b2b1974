"""Property tests: every malformed config raises ConfigError, and nothing else.

Each example starts from a valid config and breaks one part of it. The
breaks are wrong types, a missing or empty ``hosts``, host keys that are
not numbers, negative or non-integer retry counts and timeouts, unknown
options and names, and nested garbage. ``create_cluster`` must raise
:class:`ConfigError` (a ``ValueError``) whose ``path`` is the broken key,
before any connection opens or any thread starts. A ``TypeError``,
``KeyError`` or ``AttributeError`` fails the test.

The core's own backend and router always run. The Redis backend and the
routers of ``nydus-routers`` run where those distributions are installed,
as in the ``all`` nox session and a plain ``pytest`` run of the repository.
The ``core`` session installs only ``nydus-core`` and runs without them.
"""

from __future__ import annotations

import importlib.util
import math
import os
import threading
from collections.abc import Mapping
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nydus_core import AllRouter, BaseBackend, BaseRouter, ConfigError, create_cluster
from nydus_core._config import SCALAR_KEYS, STRUCTURED_KEYS
from nydus_core._options import Option

from .recording_backend import RecordingBackend

HAVE_REDIS = importlib.util.find_spec("nydus_redis") is not None
HAVE_ROUTERS = importlib.util.find_spec("nydus_routers") is not None

#: Few examples per test, because there are many tests; raise it locally
#: with HYPOTHESIS_MAX_EXAMPLES to search longer.
EXAMPLES = int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "40"))
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


# Backends and routers under test


class Target:
    """A backend and a router to build configs for."""

    def __init__(
        self,
        backend: Any,
        backend_cls: type[BaseBackend],
        router: str,
        router_cls: type[BaseRouter],
        options: Mapping[str, Option],
    ) -> None:
        self.backend = backend
        self.backend_cls = backend_cls
        self.router = router
        self.router_cls = router_cls
        #: Host options whose form is checked.
        self.options = options

    def __repr__(self) -> str:
        name = getattr(self.backend, "__name__", self.backend)
        return f"{name}-{self.router}"

    def valid(self) -> dict[str, Any]:
        """Return a valid config with two hosts."""
        return {
            "backend": self.backend,
            "router": self.router,
            "hosts": {0: {}, 1: {}},
        }


def typed(spec: Mapping[str, Option]) -> dict[str, Option]:
    return {name: option for name, option in spec.items() if option.types != (object,)}


def targets() -> list[Target]:
    routers: list[tuple[str, type[BaseRouter]]] = [("all", AllRouter)]
    if HAVE_ROUTERS:
        from nydus_routers import (
            ConsistentHashingRouter,
            PartitionRouter,
            RoundRobinRouter,
        )

        routers += [
            ("partition", PartitionRouter),
            ("consistent_hashing", ConsistentHashingRouter),
            ("round_robin", RoundRobinRouter),
        ]
    found = [
        Target(
            RecordingBackend, RecordingBackend, name, cls, RecordingBackend.options_spec
        )
        for name, cls in routers
    ]
    if HAVE_REDIS:
        from nydus_redis import RedisBackend
        from nydus_redis._backend import OWN_OPTIONS, PASS_THROUGH

        options = {**typed(OWN_OPTIONS), **typed(PASS_THROUGH)}
        for name, cls in routers:
            found.append(Target(CountingRedis, RedisBackend, name, cls, options))
            found.append(Target("redis", RedisBackend, name, cls, options))
    return found


if HAVE_REDIS:
    from nydus_redis import RedisBackend as _RedisBase
else:
    _RedisBase = RecordingBackend  # type: ignore[misc,assignment]


class CountingRedis(_RedisBase):  # type: ignore[valid-type,misc]
    """The Redis backend, counting the connections it opens."""

    connections: ClassVar[list[object]] = []

    def connect(self) -> Any:
        connection = super().connect()
        CountingRedis.connections.append(connection)
        return connection


ALL_TARGETS = targets()
#: The backend named 'redis' checks options exactly as CountingRedis does,
#: and CountingRedis also counts connections. So most tests leave the name
#: out, and only the tests marked with all_targets_param use it.
TARGETS = [target for target in ALL_TARGETS if target.backend != "redis"]


# Checking one config


def socket_count() -> int:
    count = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                count += 1
        except OSError:
            continue  # closed between listing and reading
    return count


def assert_rejected(settings_: Any, path: str) -> ConfigError:
    """Check that ``settings_`` raises ConfigError at ``path`` and nothing more."""
    RecordingBackend.connections.clear()
    CountingRedis.connections.clear()
    threads = threading.active_count()
    sockets = socket_count()

    with pytest.raises(ConfigError) as info:
        create_cluster(settings_)
    error = info.value

    assert isinstance(error, ValueError)
    assert error.path == path, str(error)
    message = str(error)
    for part in path.split("."):
        # Messages show names with repr(), which escapes control characters.
        assert part in message or repr(part)[1:-1] in message, (part, message)
    assert RecordingBackend.connections == []
    assert CountingRedis.connections == []
    assert threading.active_count() == threads
    assert socket_count() == sockets
    return error


# Strategies

#: Names without '.' or ':', so that no example imports a module by path.
names = st.text(
    st.characters(
        exclude_categories=["Cs"], exclude_characters=".:\x00", max_codepoint=0x2FF
    ),
    min_size=1,
    max_size=12,
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=8),
    st.binary(max_size=4),
)
garbage = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(
            st.one_of(st.text(max_size=4), st.integers()), children, max_size=3
        ),
        st.tuples(children, children),
    ),
    max_leaves=8,
)
#: Nested containers: invalid wherever a config expects a scalar or a dict.
containers = st.one_of(
    st.lists(garbage, max_size=3),
    st.tuples(garbage),
    st.sets(st.integers(), max_size=3),
)


def invalid_values(option: Option) -> st.SearchStrategy[Any]:
    """Return values that ``option`` rejects, built from its form."""
    types = option.types
    numeric = int in types or float in types
    found: list[st.SearchStrategy[Any]] = [containers]
    found.append(st.dictionaries(st.text(max_size=3), garbage, max_size=2))
    if str not in types:
        found.append(st.text(max_size=6))
    if bool not in types:
        found.append(st.booleans())
    if not option.nullable:
        found.append(st.none())
    if not numeric:
        found.append(st.integers())
        found.append(st.floats())
    if int in types and float not in types:
        found.append(st.floats())
    if float in types:
        found.append(st.sampled_from([math.nan, math.inf, -math.inf]))
    if numeric and (option.minimum is not None or option.maximum is not None):
        found.append(st.just(10**400))
    if option.minimum is not None and numeric:
        below = math.ceil(option.minimum) - 1
        found.append(st.integers(max_value=below))
        if float in types:
            found.append(
                st.floats(max_value=option.minimum, exclude_max=True, allow_nan=False)
            )
    if option.maximum is not None and numeric:
        found.append(st.integers(min_value=math.floor(option.maximum) + 1))
    choices = option.choices
    if choices is not None and str in types:

        def not_a_choice(text: str) -> bool:
            return text not in choices

        found.append(st.text(max_size=8).filter(not_a_choice))
    if str in types:
        found.append(st.text(max_size=4).map(lambda text: text + "\ud800"))
    return st.one_of(found)


def not_number_keys() -> st.SearchStrategy[Any]:
    def is_number(key: Any) -> bool:
        if isinstance(key, bool):
            return False
        if isinstance(key, int):
            return True
        text = key.strip() if isinstance(key, str) else ""
        return text.isascii() and text.isdigit()

    keys: st.SearchStrategy[Any] = st.one_of(
        st.text(max_size=6),
        st.floats(),
        st.none(),
        st.booleans(),
        st.binary(max_size=3),
        st.tuples(st.integers()),
    )
    # A key equal to 0 (False, 0.0) would merge with host 0 in the dict.
    return keys.filter(lambda key: not is_number(key) and key != 0)


def key_path(key: Any) -> str:
    from nydus_core._options import shown_value

    return f"hosts.{key if isinstance(key, str) else shown_value(key)}"


targets_param = pytest.mark.parametrize("target", TARGETS, ids=repr)
all_targets_param = pytest.mark.parametrize("target", ALL_TARGETS, ids=repr)


# Top-level keys


@targets_param
@PROPERTY
@given(data=st.data())
def test_scalar_key_invalid(target: Target, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(SCALAR_KEYS)))
    value = data.draw(invalid_values(SCALAR_KEYS[name]))
    assert_rejected({**target.valid(), name: value}, name)


@targets_param
@PROPERTY
@given(
    name=names.filter(
        lambda name: name not in SCALAR_KEYS and name not in STRUCTURED_KEYS
    )
)
def test_unknown_top_level_key(target: Target, name: str) -> None:
    assert_rejected({**target.valid(), name: 1}, name)


@all_targets_param
@PROPERTY
@given(value=names)
def test_unknown_router_name(target: Target, value: str) -> None:
    from nydus_core._resolve import ROUTER_GROUP, installed_names

    if value in installed_names(ROUTER_GROUP) or value == "all":
        return
    assert_rejected({**target.valid(), "router": value}, "router")


@targets_param
@PROPERTY
@given(value=names)
def test_unknown_backend_name(target: Target, value: str) -> None:
    from nydus_core._resolve import BACKEND_GROUP, installed_names

    if value in installed_names(BACKEND_GROUP):
        return
    assert_rejected({**target.valid(), "backend": value}, "backend")


@targets_param
@PROPERTY
@given(
    name=st.sampled_from(["backend", "router", "cluster"]),
    value=st.one_of(
        st.integers(),
        st.floats(),
        st.booleans(),
        containers,
        st.dictionaries(st.text(max_size=3), garbage, max_size=2),
        st.sampled_from([int, dict, object, ValueError]),
        st.just(""),
    ),
)
def test_name_wrong_type(target: Target, name: str, value: Any) -> None:
    assert_rejected({**target.valid(), name: value}, name)


@targets_param
@PROPERTY
@given(
    name=st.sampled_from(["router_options", "defaults", "plugins"]),
    value=st.one_of(st.integers(), st.floats(), st.booleans(), st.text(max_size=5)),
)
def test_structured_key_wrong_type(target: Target, name: str, value: Any) -> None:
    assert_rejected({**target.valid(), name: value}, name)


@targets_param
@PROPERTY
@given(plugins=st.lists(garbage, min_size=1, max_size=3))
def test_plugins_garbage(target: Target, plugins: list[Any]) -> None:
    first = next(
        (index for index, plugin in enumerate(plugins) if not isinstance(plugin, str)),
        None,
    )
    if first is None:
        return  # strings are plugin names, tested in test_hooks
    strings_before = [plugin for plugin in plugins[:first] if isinstance(plugin, str)]
    if strings_before:
        return
    assert_rejected({**target.valid(), "plugins": plugins}, f"plugins.{first}")


# Hosts


@all_targets_param
def test_hosts_missing(target: Target) -> None:
    settings_ = target.valid()
    del settings_["hosts"]
    assert_rejected(settings_, "hosts")


@targets_param
@PROPERTY
@given(hosts=st.sampled_from([{}, [], ()]))
def test_hosts_empty(target: Target, hosts: Any) -> None:
    assert_rejected({**target.valid(), "hosts": hosts}, "hosts")


@targets_param
@PROPERTY
@given(
    hosts=st.one_of(
        st.integers(),
        st.floats(),
        st.booleans(),
        st.text(max_size=6),
        st.binary(max_size=4),
        st.sets(st.integers(), min_size=1, max_size=3),
    )
)
def test_hosts_wrong_type(target: Target, hosts: Any) -> None:
    assert_rejected({**target.valid(), "hosts": hosts}, "hosts")


@targets_param
@PROPERTY
@given(key=not_number_keys())
def test_host_key_not_number(target: Target, key: Any) -> None:
    assert_rejected({**target.valid(), "hosts": {0: {}, key: {}}}, key_path(key))


@targets_param
@PROPERTY
@given(spelling=st.sampled_from(["0", " 0", "00", "0 "]))
def test_host_number_twice(target: Target, spelling: str) -> None:
    assert_rejected({**target.valid(), "hosts": {0: {}, spelling: {}}}, "hosts.0")


@targets_param
@PROPERTY
@given(numbers=st.sets(st.integers(-5, 50), min_size=1, max_size=4))
def test_host_numbers_not_from_zero(target: Target, numbers: set[int]) -> None:
    if sorted(numbers) == list(range(len(numbers))):
        return
    hosts: dict[int, dict[str, Any]] = {number: {} for number in numbers}
    assert_rejected({**target.valid(), "hosts": hosts}, "hosts")


@targets_param
@PROPERTY
@given(
    value=st.one_of(
        st.integers(),
        st.floats(),
        st.booleans(),
        st.text(max_size=5),
        containers,
    )
)
def test_host_not_options(target: Target, value: Any) -> None:
    assert_rejected({**target.valid(), "hosts": {0: {}, 1: value}}, "hosts.1")


@all_targets_param
@PROPERTY
@given(data=st.data())
def test_host_option_invalid(target: Target, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(target.options)))
    value = data.draw(invalid_values(target.options[name]))
    where = data.draw(st.sampled_from(["hosts.0", "hosts.1", "defaults"]))
    settings_ = target.valid()
    if where == "defaults":
        settings_["defaults"] = {name: value}
    else:
        settings_["hosts"][int(where[-1])] = {name: value}
    assert_rejected(settings_, f"{where}.{name}")


@targets_param
@PROPERTY
@given(data=st.data())
def test_host_option_unknown(target: Target, data: st.DataObject) -> None:
    accepted = set(target.backend_cls.options_spec)
    if target.backend == RecordingBackend:
        accepted = set(RecordingBackend.options_spec)
    else:
        from nydus_redis._backend import OWN_OPTIONS, PASS_THROUGH

        accepted = set(OWN_OPTIONS) | set(PASS_THROUGH)
    name = data.draw(names.filter(lambda name: name not in accepted))
    value = data.draw(garbage)
    assert_rejected({**target.valid(), "hosts": {0: {name: value}}}, f"hosts.0.{name}")


@targets_param
@PROPERTY
@given(
    name=st.one_of(st.integers(), st.booleans(), st.none(), st.tuples(st.integers()))
)
def test_host_option_name_not_text(target: Target, name: Any) -> None:
    assert_rejected({**target.valid(), "hosts": {0: {name: 1}}}, "hosts.0")


# Router options


@targets_param
@PROPERTY
@given(data=st.data())
def test_router_option_invalid(target: Target, data: st.DataObject) -> None:
    spec = target.router_cls.options_spec
    name = data.draw(st.sampled_from(sorted(spec)))
    value = data.draw(invalid_values(spec[name]))
    settings_ = {**target.valid(), "router_options": {name: value}}
    assert_rejected(settings_, f"router_options.{name}")


@targets_param
@PROPERTY
@given(data=st.data())
def test_router_option_unknown(target: Target, data: st.DataObject) -> None:
    spec = target.router_cls.options_spec
    name = data.draw(names.filter(lambda name: name not in spec))
    value = data.draw(garbage)
    settings_ = {**target.valid(), "router_options": {name: value}}
    assert_rejected(settings_, f"router_options.{name}")


@targets_param
@PROPERTY
@given(tag=st.text(max_size=6).filter(lambda tag: len(tag) not in (0, 2)))
def test_hash_tag_wrong_length(target: Target, tag: str) -> None:
    # Routers without the option reject it as unknown, at the same path.
    settings_ = {**target.valid(), "router_options": {"hash_tag": tag}}
    assert_rejected(settings_, "router_options.hash_tag")


def special_cases() -> list[tuple[Target, str, dict[str, Any], str]]:
    """Return configs that only some backends or routers reject.

    Each row is a target, a case name, the config keys to set and the path
    of the expected error.
    """
    cases: list[tuple[Target, str, dict[str, Any], str]] = []
    for target in ALL_TARGETS:
        if target.router != "consistent_hashing":
            remap = {"router_options": {"ejection": "remap"}}
            cases.append((target, "remap", remap, "router_options.ejection"))
        else:
            zero = {"hosts": {0: {"weight": 0}, 1: {"weight": 0.0}}}
            cases.append((target, "zero_weights", zero, "hosts"))
        if target.backend_cls is not RecordingBackend:
            for name in ("timeout", "socket_connect_timeout"):
                hosts = {"hosts": {0: {name: 0}, 1: {}}}
                cases.append((target, f"{name}_zero", hosts, f"hosts.0.{name}"))
    return cases


@pytest.mark.parametrize(
    ("target", "case", "changes", "path"),
    special_cases(),
    ids=lambda value: str(value) if isinstance(value, (Target, str)) else "",
)
def test_special_case_rejected(
    target: Target, case: str, changes: dict[str, Any], path: str
) -> None:
    assert_rejected({**target.valid(), **changes}, path)


# Nested garbage anywhere


@targets_param
@PROPERTY
@given(data=st.data())
def test_nested_garbage(target: Target, data: st.DataObject) -> None:
    value = data.draw(containers)
    where = data.draw(
        st.sampled_from(
            ["hosts.0", "scalar", "host_option", "defaults_option", "router_option"]
        )
    )
    settings_ = target.valid()
    if where == "hosts.0":
        settings_["hosts"] = {0: value, 1: {}}
        path = "hosts.0"
    elif where == "scalar":
        path = data.draw(st.sampled_from(sorted(SCALAR_KEYS)))
        settings_[path] = value
    elif where == "host_option":
        name = data.draw(st.sampled_from(sorted(target.options)))
        settings_["hosts"] = {0: {}, 1: {name: value}}
        path = f"hosts.1.{name}"
    elif where == "defaults_option":
        name = data.draw(st.sampled_from(sorted(target.options)))
        settings_["defaults"] = {name: value}
        path = f"defaults.{name}"
    else:
        spec = target.router_cls.options_spec
        name = data.draw(st.sampled_from(sorted(spec)))
        settings_["router_options"] = {name: value}
        path = f"router_options.{name}"
    assert_rejected(settings_, path)


@all_targets_param
def test_valid_config_accepted(target: Target) -> None:
    # The base of every example above is valid, so each rejection comes
    # from the part that was broken.
    threads = threading.active_count()
    cluster = create_cluster(target.valid())
    assert len(cluster) == 2
    assert threading.active_count() == threads
    assert RecordingBackend.connections == []
    assert CountingRedis.connections == []
