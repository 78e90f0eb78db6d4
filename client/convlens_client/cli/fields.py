"""CLI options from the endpoints' field declarations: ``fields.json`` (written by ``make openapi`` from the server's
specs, shipped as package data) gives each option its type, choices, required-ness, default and help, so that the
subcommands do not type them again.

    add_field(p, "occlusion", "fill")      # --fill {mean,zero,blur}, help: "what covers the patch ... (default: mean)"

The CLI sends a field only when its option is given (the server's default applies), unless ``send_default``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from functools import cache
from importlib.resources import files
from typing import Any, Callable

from . import target

Field = dict[str, Any]  # one field's declaration: type, required, default, choices, minimum, maximum, help
PACKAGE = __name__.rpartition(".")[0]  # convlens_client.cli, where fields.json lies
TYPES: dict[str, Callable[[str], Any]] = {"int": int, "float": float, "target": target}  # others: text as given


@cache
def declared() -> dict[str, dict[str, Field]]:
    """endpoint -> field name -> its declaration, read once from the shipped fields.json."""
    table: dict[str, dict[str, Field]] = json.loads(files(PACKAGE).joinpath("fields.json").read_text(encoding="utf-8"))
    return table


def number(value: Any) -> str:
    """A bound or default as people read it: integers whole, floats short (1e-05, 0.5, 1e+06)."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def help_text(field: Field, listed: Sequence[str] = (), default: str | None = None) -> str:
    """The declared help, then in parentheses the ``listed`` choices, the default and the bounds (% escaped)."""
    notes = [f"one of {', '.join(listed)}"] if listed else []
    if field["type"] == "image":
        notes.append("an image file")
    if default is None and "default" in field and field["type"] != "flag":
        default = number(field["default"])
    if default is not None:
        notes.append(f"default: {default}")
    if "minimum" in field:
        notes.append(f"{number(field['minimum'])}..{number(field['maximum'])}")
    text = field["help"] + (f" ({'; '.join(notes)})" if notes else "")
    return text.replace("%", "%%")


def add_field(parser: argparse._ActionsContainer, endpoint: str, name: str, *flags: str, only: Sequence[str] = (),
              checked: bool = True, send_default: bool = False, default_text: str | None = None,
              **options: Any) -> argparse.Action:
    """Add the option of field ``name`` of ``endpoint``: ``--name-with-dashes`` (or ``flags``); flags store true,
    other fields take their declared type and choices (``only`` keeps some of them, in declared order; not
    ``checked``: listed in the help, left to the server); required as declared; help from the declaration
    (``default_text`` tells a default the CLI picks itself). ``options`` go to ``add_argument`` as they are."""
    field = declared()[endpoint][name]
    choices = list(field.get("choices", ()))
    if only:
        undeclared = sorted(set(only) - set(choices))
        if undeclared:
            raise ValueError(f"{endpoint}.{name} declares no {', '.join(undeclared)} (choices: {choices})")
        choices = [c for c in choices if c in only]
    settings: dict[str, Any] = {"help": help_text(field, () if checked else choices, default_text)}
    if field["type"] == "flag":
        settings["action"] = "store_true"
    else:
        if field["type"] in TYPES:
            settings["type"] = TYPES[field["type"]]
        if choices and checked:
            settings["choices"] = choices
        if send_default:
            settings["default"] = field["default"]
        if field["type"] == "image":
            settings["metavar"] = "FILE"
    if field.get("required"):
        settings["required"] = True
    return parser.add_argument(*(flags or (f"--{name.replace('_', '-')}",)), **{**settings, **options})
