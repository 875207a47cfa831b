"""Options are declared once, as TransferOptions' fields; every command and the README derive from them."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import typer.main

from sst.cli.app import app
from sst.cli.options import COMMANDS, declared, flag, markdown_table
from sst.core.options import MASKS, SYNTHESIS, TransferOptions

README = Path(__file__).parents[1] / "README.md"


def test_every_command_takes_every_option_of_its_scopes() -> None:
    commands = typer.main.get_command(app).commands
    for name, taken in COMMANDS.items():
        flags = {opt for param in commands[name].params for opt in param.opts}
        missing = [flag(f) for f in declared(*taken) if flag(f) not in flags]
        assert missing == [], f"sst {name} lacks {missing}"


def test_every_synthesis_command_takes_every_field() -> None:
    synthesis = [name for name, taken in COMMANDS.items() if SYNTHESIS in taken]
    assert {"run", "compare"} <= set(synthesis)
    assert all(MASKS in COMMANDS[name] for name in synthesis)
    assert {f.name for f in declared(SYNTHESIS, MASKS)} == {f.name for f in fields(TransferOptions)}


def test_defaults_and_help_come_from_the_fields() -> None:
    run = {p.name: p for p in typer.main.get_command(app).commands["run"].params}
    compare = {p.name: p for p in typer.main.get_command(app).commands["compare"].params}
    for f in fields(TransferOptions):
        assert run[f.name].help == f.metadata["help"]
    assert (run["size"].default, compare["size"].default) == (384, 256)  # compare's one override
    assert run["iters"].default == "100" and run["style_maps"].opts == ["--style-map"] and run["force"].is_flag


def test_the_readme_table_is_the_generated_one() -> None:
    assert markdown_table() in README.read_text(), "regenerate it: python -m sst.cli.options README.md"
