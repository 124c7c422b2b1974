import nydus_core

EXPECTED = {
    "AllRouter",
    "BaseBackend",
    "BaseRouter",
    "Cluster",
    "CommandError",
    "CommandFailure",
    "CommandPart",
    "ConfigError",
    "CrossShardError",
    "EventualResult",
    "HostConnectionError",
    "HostDownError",
    "HostError",
    "HostInfo",
    "HostSpec",
    "HostTimeoutError",
    "Key",
    "KeyRouter",
    "MapContext",
    "NydusError",
    "NydusHookSpecs",
    "Option",
    "Pipeline",
    "PluginError",
    "RoutingError",
    "SplitPlan",
    "clear_cache",
    "create_cluster",
    "hookimpl",
    "hookspec",
    "key_bytes",
    "load_config",
    "register_plugin",
    "unregister_plugin",
}


def test_exports_pinned() -> None:
    assert set(nydus_core.__all__) == EXPECTED


def test_exports_resolve() -> None:
    for name in nydus_core.__all__:
        assert getattr(nydus_core, name) is not None, name
