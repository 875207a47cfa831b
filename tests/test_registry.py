"""Plugin discovery, selection by name, and the errors for unknown and duplicate names."""

from __future__ import annotations

import json
import types

import pytest

from sst.core.errors import SSTError
from sst.core.hookspecs import hookimpl
from sst.core.registry import KIND_HOOKS, Registry
from tests.conftest import run_cli


def test_builtins_cover_every_kind_of_the_core() -> None:
    registry = Registry()
    assert {"mrf", "mrf-semantic"} <= set(registry.names("loss"))
    assert {"vgg16", "vgg19"} <= set(registry.names("features"))
    assert "manual" in registry.names("segmenter")
    assert {"gaussian", "none"} <= set(registry.names("softener"))
    info = registry.get("loss", "mrf")
    assert (info.package, info.module) == ("sst", "sst.plugins.losses.mrf")


def test_contrib_plugin_is_found_through_its_entry_point() -> None:
    info = Registry().get("softener", "box")
    assert info.package == "sst-example-plugin"
    assert info.version == "0.1.0"
    assert Registry(entry_points=False).names("softener").count("box") == 0


def test_unknown_name_lists_close_matches_and_what_is_installed() -> None:
    with pytest.raises(SSTError) as err:
        Registry().get("loss", "mrf-semantc")
    message = str(err.value)
    assert "did you mean 'mrf-semantic'" in message
    assert "installed: " in message and "mrf" in message
    assert "\n" not in message


def test_duplicate_name_is_an_error_naming_both_sources() -> None:
    plugin = types.ModuleType("my_dup_plugin")

    @hookimpl
    def register_losses(register) -> None:
        register("mrf", object)

    plugin.register_losses = register_losses  # type: ignore[attr-defined]
    with pytest.raises(SSTError) as err:
        Registry([plugin])
    message = str(err.value)
    assert "duplicate loss name 'mrf'" in message
    assert "sst.plugins.losses.mrf" in message and "my_dup_plugin" in message


def test_a_plugin_object_registers_like_a_module() -> None:
    class Plugin:
        @hookimpl
        def register_softeners(self, register) -> None:
            register("identity", lambda ctx: None, "does nothing")

    registry = Registry([Plugin()], entry_points=False)
    assert registry.get("softener", "identity").summary == "does nothing"


def test_sst_plugins_json_lists_kind_name_package_version() -> None:
    result = run_cli("plugins", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert {row["kind"] for row in rows} <= set(KIND_HOOKS)
    box = next(row for row in rows if row["name"] == "box")
    assert (box["kind"], box["package"], box["version"]) == ("softener", "sst-example-plugin", "0.1.0")
    table = run_cli("plugins")
    assert "mrf-semantic" in table.stdout and "sst-example-plugin" in table.stdout


def test_a_plugin_lacking_a_member_of_its_interface_is_named_in_one_line() -> None:
    class HalfLoss:  # a loss without content_layer, searches and prepare
        layers, uses_masks, patch_search = ("relu3_1",), False, True

        def __init__(self, ctx, options) -> None: ...

        def __call__(self, features): ...

    class Plugin:
        @hookimpl
        def register_losses(self, register) -> None:
            register("half", HalfLoss)

        @hookimpl
        def register_softeners(self, register) -> None:
            register("nothing", lambda ctx: object())

    registry = Registry([Plugin()], entry_points=False)
    with pytest.raises(SSTError, match=r"loss plugin 'half' .* lacks 'content_layer', 'searches', 'prepare' of the "
                                       r"StyleLoss interface") as caught:
        registry.create("loss", "half", None, None)
    assert "\n" not in str(caught.value)
    with pytest.raises(SSTError, match="lacks 'soften' of the Softener interface"):
        registry.create("softener", "nothing", None)
    assert registry.create("softener", "gaussian", None).soften  # a built-in passes


def test_the_core_imports_no_plugin() -> None:
    """src/sst/core reaches the plugins only through the registry's one list of built-ins."""
    import ast
    from pathlib import Path

    import sst.core

    offenders = []
    for path in sorted(Path(sst.core.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            for name in names:
                if name.startswith("sst.plugins") and (path.name, name) != ("registry.py", "sst.plugins"):
                    offenders.append(f"{path.name}: {name}")
    assert offenders == []


def test_no_plugin_name_is_a_string_of_the_core() -> None:
    """The core asks the registry; only the declared defaults of the options (core/options.py) name a plugin."""
    import ast
    from pathlib import Path

    import sst.core
    from sst.core.registry import default_registry

    names = {info.name for info in default_registry().all()} - {"none"}  # 'none' is also an English word
    found = [f"{path.name}:{node.lineno} {node.value!r}"
             for path in sorted(Path(sst.core.__file__).parent.glob("*.py")) if path.name != "options.py"
             for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names]
    assert found == []


def test_a_third_party_plugin_brings_its_own_model(tmp_path) -> None:
    from sst.core.models import Built, ModelManager, ModelSpec

    spec = ModelSpec("tiny-net", "a third party's model", "tiny.onnx", "", Built("tiny.onnx", "tiny-export"))

    class Plugin:
        @hookimpl
        def register_models(self, register) -> None:
            register(spec)

    manager = ModelManager(tmp_path, Registry([Plugin()], entry_points=False).model_specs())
    assert manager.spec("tiny-net") is spec and manager.spec("vgg16").filename == "vgg16.safetensors"
    with pytest.raises(SSTError, match="run 'tiny-export'"):
        manager.sha256("tiny-net")

    class Clash:
        @hookimpl
        def register_models(self, register) -> None:
            register(ModelSpec("vgg16", "another vgg16", "x.onnx", "", Built("x.onnx", "x")))

    with pytest.raises(SSTError, match="duplicate model name 'vgg16': given by sst .* and by"):
        Registry([Clash()], entry_points=False)
