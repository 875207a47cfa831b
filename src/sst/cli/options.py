"""Each command's options, derived from :class:`~sst.core.options.TransferOptions`' fields: declared once.

:data:`COMMANDS` says which scopes of options each command takes; ``@takes_options("run")`` gives the command
every option of its scopes (help and defaults from the fields) and hands it one ``options: TransferOptions``;
:func:`markdown_table` is the README's table (``python -m sst.cli.options`` rewrites it there).
"""

from __future__ import annotations

import functools
import inspect
import sys
import types
import typing
from collections.abc import Callable
from dataclasses import Field, fields
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from sst.core.options import MASKS, SYNTHESIS, TransferOptions

COMMANDS: dict[str, tuple[str, ...]] = {  # every command that takes options: the scopes (or single fields) it takes
    "run": (SYNTHESIS, MASKS),
    "compare": (SYNTHESIS, MASKS),
    "batch": (SYNTHESIS, MASKS),
    "video": (SYNTHESIS, MASKS),
    "evaluate": (MASKS,),
    "masks": ("segmenter", "classes", "softener"),
}
# Options of the commands that run on several workers (sst batch, sst video), declared once here.
Workers = Annotated[int, typer.Option(help="At once: sst batch runs 1 job in this process or N in a pool (or on N Ray actors); sst video, N chunks on Ray.")]
Backend = Annotated[str, typer.Option(help="local (this machine) or ray (a Ray cluster: pip install 'sst\\[ray]').")]
Address = Annotated[Optional[str], typer.Option(help="Ray cluster address (ray start --head prints it); default: a local Ray.")]

README_START, README_END = "<!-- options: start -->", "<!-- options: end -->"


def declared(*taken: str) -> list[Field]:
    """The fields of ``TransferOptions`` in these scopes or of these names, in declaration order."""
    return [f for f in fields(TransferOptions) if f.metadata["scope"] in taken or f.name in taken]


def flag(f: Field) -> str:
    return f.metadata["flag"] or "--" + f.name.replace("_", "-")


def cli_type(f: Field) -> Any:
    """The type the command line parses: the field's ``cli`` type, else its own (``X | None`` as Optional)."""
    hint = f.metadata["cli"] or typing.get_type_hints(TransferOptions)[f.name]
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        (inner,) = [a for a in args if a is not type(None)]
        return Optional[inner]
    return Optional[hint] if typing.get_origin(hint) is list else hint


def cli_default(f: Field, overrides: dict[str, Any]) -> Any:
    default = overrides.get(f.name, f.default)
    if f.metadata["cli"] is str and default is not None:
        return str(default)
    return None if default == () else default


def parameter(f: Field, overrides: dict[str, Any]) -> inspect.Parameter:
    default = cli_default(f, overrides)
    info = typer.Option(flag(f), help=f.metadata["help"], show_default=default is not None and default is not False)
    return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=Annotated[cli_type(f), info])


def takes_options(name: str, defaults: dict[str, Any] | None = None) -> Callable[[Callable], Callable]:
    """Give command ``name`` every option of its :data:`COMMANDS` scopes; it receives them as
    ``options: TransferOptions``. ``defaults`` changes a default for this command only (e.g. ``compare``'s
    smaller ``size``)."""
    chosen = declared(*COMMANDS[name])
    overrides = defaults or {}

    def decorate(command: Callable) -> Callable:
        own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "options"]

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            values = {f.name: kwargs.pop(f.name) for f in chosen}
            if "style_maps" in values:  # the CLI's repeated --style-map
                values["style_maps"] = tuple(values["style_maps"] or ())
            return command(**kwargs, options=TransferOptions(**values))

        params = own + [parameter(f, overrides) for f in chosen]
        wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        del wrapper.__wrapped__  # typer reads the signature above, not the command's
        return wrapper

    return decorate


def markdown_table() -> str:
    """The options as the README shows them: flag, default, help, which commands take them."""
    rows = ["| option | default | what it does | taken by |", "|---|---|---|---|"]
    for f in declared(SYNTHESIS, MASKS):
        takers = ", ".join(c for c, taken in COMMANDS.items() if f in declared(*taken))
        default = cli_default(f, {})
        shown = "-" if default is None else f"`{str(default).lower() if isinstance(default, bool) else default}`"
        rows.append(f"| `{flag(f)}` | {shown} | {f.metadata['help'].replace('|', '/')} | {takers} |")
    return "\n".join(rows)


def rewrite_readme(readme: Path) -> None:
    """Replace the README's option table (between its two markers) with :func:`markdown_table`."""
    text = readme.read_text()
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(f"{head}{README_START}\n{markdown_table()}\n{README_END}{tail}")


if __name__ == "__main__":
    rewrite_readme(Path(sys.argv[1] if len(sys.argv) > 1 else "README.md"))
