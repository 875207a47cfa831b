"""The plugin registry: a typed wrapper over pluggy.

Built-in plugins register exactly as third-party ones do: the modules named in
:data:`sst.plugins.DEFAULT_PLUGINS` are registered first, then every entry point
in the ``sst`` group. Names are unique per kind; a duplicate is an error naming
both sources, and an unknown name is an error with close matches.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from typing import Any

import pluggy

from sst import __version__
from sst.core import hookspecs
from sst.core.errors import SSTError
from sst.core.interfaces import KIND_PROTOCOLS, protocol_members
from sst.core.models import ModelSpec

ENTRY_POINT_GROUP = "sst"

#: plugin kind -> the hook that registers it
KIND_HOOKS: dict[str, str] = {
    "segmenter": "register_segmenters",
    "face-detector": "register_face_detectors",
    "skin-detector": "register_skin_detectors",
    "softener": "register_softeners",
    "features": "register_feature_nets",
    "loss": "register_losses",
}


@dataclass(frozen=True)
class PluginInfo:
    """One registered implementation and where it comes from."""

    kind: str
    name: str
    factory: Any
    summary: str
    module: str  # the plugin module or object that registered it
    package: str  # distribution name
    version: str

    @property
    def source(self) -> str:
        return f"{self.package} {self.version} ({self.module})"

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "summary": self.summary,
                "package": self.package, "version": self.version, "module": self.module}


def _summary(factory: Any, summary: str) -> str:
    if summary:
        return summary
    doc = (getattr(factory, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""


class Registry:
    """All plugins, by kind and name."""

    def __init__(self, plugins: Iterable[object] = (), *, entry_points: bool = True) -> None:
        from sst.plugins import DEFAULT_PLUGINS

        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._dists: dict[str, tuple[str, str]] = {}  # plugin name -> (package, version)
        for module_name in DEFAULT_PLUGINS:
            self._pm.register(importlib.import_module(module_name), name=module_name)
            self._dists[module_name] = ("sst", __version__)
        if entry_points:
            self._load_entry_points()
        for plugin in plugins:
            self._pm.register(plugin)
        self._pm.check_pending()
        self._plugins: dict[str, dict[str, PluginInfo]] = {kind: {} for kind in KIND_HOOKS}
        for kind, hook in KIND_HOOKS.items():
            for impl in getattr(self._pm.hook, hook).get_hookimpls():
                impl.function(register=self._register_callback(kind, impl.plugin))
        self._models: dict[str, tuple[ModelSpec, str]] = {}  # name -> (spec, source of the plugin giving it)
        for impl in self._pm.hook.register_models.get_hookimpls():
            impl.function(register=self._model_callback(impl.plugin))

    def _load_entry_points(self) -> None:
        for dist in metadata.distributions():
            for ep in dist.entry_points:
                key = f"{dist.metadata['Name']}:{ep.name}"
                if ep.group != ENTRY_POINT_GROUP or self._pm.get_plugin(key) is not None:
                    continue
                try:
                    plugin = ep.load()
                except Exception as exc:  # a broken third-party plugin must not look like ours
                    raise SSTError(
                        f"plugin '{ep.name}' from {dist.metadata['Name']} {dist.version} failed to load "
                        f"({type(exc).__name__}: {exc}); fix or uninstall that package"
                    ) from exc
                self._pm.register(plugin, name=key)
                self._dists[key] = (dist.metadata["Name"], dist.version)

    def _origin(self, plugin: object) -> tuple[str, str, str]:
        name = self._pm.get_name(plugin) or repr(plugin)
        module = getattr(plugin, "__name__", name)
        if name in self._dists:
            return (module, *self._dists[name])
        top = module.split(".")[0]
        packages = metadata.packages_distributions().get(top, [])
        if packages:
            return module, packages[0], metadata.version(packages[0])
        return module, "(not installed)", "-"

    def _register_callback(self, kind: str, plugin: object):
        module, package, version = self._origin(plugin)

        def register(name: str, factory: Any, summary: str = "") -> None:
            info = PluginInfo(kind, name, factory, _summary(factory, summary), module, package, version)
            existing = self._plugins[kind].get(name)
            if existing is not None:
                raise SSTError(
                    f"duplicate {kind} name '{name}': registered by {existing.source} and by {info.source}; "
                    "uninstall one of them or rename one plugin"
                )
            self._plugins[kind][name] = info

        return register

    def _model_callback(self, plugin: object):
        source = "{1} {2} ({0})".format(*self._origin(plugin))

        def register(spec: ModelSpec) -> None:
            if spec.name in self._models:
                raise SSTError(f"duplicate model name '{spec.name}': given by {self._models[spec.name][1]} and by "
                               f"{source}; uninstall one of them or rename one model")
            self._models[spec.name] = (spec, source)

        return register

    def model_specs(self) -> list[ModelSpec]:
        """Every model the plugins give, in registration order (built-ins first)."""
        return [spec for spec, _ in self._models.values()]

    def names_in_order(self, kind: str) -> list[str]:
        """Names of one kind in registration order (built-ins first, then entry points, then given plugins)."""
        return list(self._plugins[self._kind(kind)])

    def names(self, kind: str) -> list[str]:
        return sorted(self._plugins[self._kind(kind)])

    def all(self) -> list[PluginInfo]:
        return [info for kind in KIND_HOOKS for _, info in sorted(self._plugins[kind].items())]

    def get(self, kind: str, name: str) -> PluginInfo:
        """The implementation registered as ``name``; unknown names raise :class:`SSTError`."""
        plugins = self._plugins[self._kind(kind)]
        if name not in plugins:
            close = difflib.get_close_matches(name, plugins, n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
            raise SSTError(
                f"unknown {kind} '{name}'; {hint}installed: {', '.join(sorted(plugins)) or 'none'} "
                "(see 'sst plugins')"
            )
        return plugins[name]

    def create(self, kind: str, name: str, *args: Any, **kwargs: Any) -> Any:
        """Instantiate the implementation registered as ``name``; one lacking a member of its kind's protocol
        (:data:`sst.core.interfaces.KIND_PROTOCOLS`) is an error naming the plugin and the member."""
        info = self.get(kind, name)
        plugin = info.factory(*args, **kwargs)
        protocol = KIND_PROTOCOLS[info.kind]
        missing = [m for m in protocol_members(protocol) if not hasattr(plugin, m)]
        if missing:
            raise SSTError(f"{kind} plugin '{name}' from {info.source} lacks {', '.join(repr(m) for m in missing)} "
                           f"of the {protocol.__name__} interface; fix or uninstall that package")
        return plugin

    def add_commands(self, cli: Any, groups: dict[str, Any]) -> None:
        """Let every plugin add its commands to the app ``cli`` or to its ``groups`` (by name)."""
        self._pm.hook.register_commands(cli=cli, groups=groups)

    @staticmethod
    def _kind(kind: str) -> str:
        if kind not in KIND_HOOKS:
            raise ValueError(f"unknown plugin kind {kind!r}; kinds: {', '.join(KIND_HOOKS)}")
        return kind


@lru_cache(maxsize=1)
def default_registry() -> Registry:
    """The registry of built-in and installed plugins (built once per process)."""
    return Registry()


__all__ = ["ENTRY_POINT_GROUP", "KIND_HOOKS", "PluginInfo", "Registry", "default_registry"]
