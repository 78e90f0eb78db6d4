"""The CLI's options come from the shipped field declarations (``convlens_client/cli/fields.json``): type, choices,
required-ness and help as declared, and the CLI still sends only the fields given."""

from __future__ import annotations

import argparse
import io

import pytest

from client_fakes import TOKEN, Reply, Servers
from convlens_client.cli import build_parser, main, target
from convlens_client.cli.fields import add_field, declared, help_text


def options(command: str) -> dict[str, argparse.Action]:
    """The subcommand's options by their long flag."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {a.option_strings[-1]: a for a in sub.choices[command]._actions if a.option_strings}


def test_the_table_ships_with_the_package() -> None:
    table = declared()  # read with importlib.resources: from the installed wheel in the floor-Python run
    assert {"classify", "saliency", "occlusion", "segment", "stylize", "tsne"} <= set(table)
    assert table["classify"]["topk"]["type"] == "int" and "help" in table["classify"]["topk"]


@pytest.mark.parametrize(("command", "endpoint", "name"), [
    ("occlusion", "occlusion", "fill"),
    ("segment", "segment", "view"),
    ("tsne", "tsne", "method"),
    ("neighbors", "neighbors", "metric"),
    ("classviz", "classviz", "param"),
    ("style-transfer", "style_transfer", "optimizer"),
])
def test_choices_and_help_are_the_declared_ones(command: str, endpoint: str, name: str) -> None:
    field = declared()[endpoint][name]
    action = options(command)[f"--{name}"]
    assert list(action.choices or ()) == field["choices"]
    assert action.help == help_text(field) and action.help.startswith(field["help"])
    assert f"default: {field['default']}" in action.help


def test_formats_are_the_declared_ones_the_cli_can_write() -> None:
    for command, endpoint in (("saliency", "saliency"), ("occlusion", "occlusion"), ("embed", "embed")):
        choices = list(options(command)["--format"].choices or ())
        assert choices == [f for f in declared()[endpoint]["format"]["choices"] if f != "proto"], command
    assert list(options("stylize")["--format"].choices or ()) == ["jpeg", "png"]
    assert "from -o's extension, else npy" in (options("embed")["--format"].help or "")


def test_types_bounds_and_required_come_from_the_declaration() -> None:
    topk = options("classify")["--topk"]
    assert (topk.type, topk.default) == (int, declared()["classify"]["topk"]["default"])
    assert "1..100" in (topk.help or "")
    assert options("tsne")["--perplexity"].type is float
    assert options("fooling")["--target"].type is target and options("fooling")["--target"].required
    assert options("top-patches")["--channel"].required
    assert isinstance(options("top-patches")["--guided"], argparse._StoreTrueAction)
    assert options("deepdream")["--guide"].metavar == "FILE"
    method = options("saliency")["--method"]  # open: listed in the help, checked by the server
    assert method.choices is None and "integrated_gradients" in (method.help or "")


def test_help_text_escapes_percent_and_shows_floats_short() -> None:
    text = help_text({"type": "float", "default": 0.0001, "minimum": 1e-05, "maximum": 1000000.0,
                      "help": "clip at 99% of it"})
    assert text == "clip at 99%% of it (default: 0.0001; 1e-05..1e+06)"


def test_subcommand_help_shows_the_declared_text(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["occlusion", "--help"])
    shown = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for name in ("patch", "fill", "batch_size"):
        assert declared()["occlusion"][name]["help"] in shown, name


def test_a_format_the_declaration_lacks_is_refused() -> None:
    with pytest.raises(ValueError, match="declares no gif"):
        add_field(argparse.ArgumentParser(), "stylize", "format", only=("jpeg", "gif"))


def test_only_given_options_are_sent(servers: Servers, backend, tmp_path) -> None:
    image = tmp_path / "cat.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 8)
    backend.reply = Reply(b"\x89PNG picture")
    out = io.StringIO()
    code = main(["--http-port", str(servers.http_port), "--token", TOKEN, "occlusion", str(image), "-o",
                 str(tmp_path / "o.png")], out, io.StringIO())
    assert code == 0
    sent = backend.last.fields
    assert (sent["view"], sent["format"]) == (b"heatmap", b"png")  # the CLI's own defaults, as before
    assert not {"patch", "stride", "fill", "size", "batch_size", "target"} & set(sent)  # the server's apply
