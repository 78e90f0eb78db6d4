"""Style client methods and CLI against the fake servers (and a fake management API for styles())."""

from __future__ import annotations

import hashlib
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from client_fakes import TOKEN, Reply, Servers, json_error, proto_reply
from convlens_client._proto import convlens_pb2 as pb
from convlens_client.cli import main
from convlens_client.endpoints.style import blend_text

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8
TRANSPORTS = ("http", "grpc")


def stylize_reply() -> Reply:
    msg = pb.StylizeResult(image=pb.Image(data=b"JPEGDATA", format="jpeg", width=4, height=3), model="multi4",
                           styles=["a", "b"], weights=[0.25, 0.75], seconds=0.5, tiles=1)
    return proto_reply(pb.Response(stylize=msg))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_stylize_sends_blend_and_parses_result(servers: Servers, backend, transport: str) -> None:
    backend.reply = stylize_reply()
    with servers.client(transport) as c:
        result = c.stylize(PNG, blend={"a": 1, "b": 3}, strength=0.5, preserve_colors=True, variant="lite")
    sent = backend.last.fields
    assert sent["blend"] == b"a:1,b:3" and sent["strength"] == b"0.5" and sent["format"] == b"proto"
    assert sent["variant"] == b"lite"
    assert sent["preserve_colors"] == b"true" and backend.last.model == "stylize"
    assert result.model == "multi4" and result.weights == [0.25, 0.75] and result.data == b"JPEGDATA"
    assert (result.width, result.height, result.format) == (4, 3, "jpeg")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_style_transfer_numbers_the_style_images(servers: Servers, backend, transport: str) -> None:
    msg = pb.StyleTransferResult(image=pb.Image(data=b"P", format="png", width=2, height=2), steps=7,
                                 start_losses={"style": 2.0}, final_losses={"style": 1.0}, style_weights=[0.5, 0.5])
    backend.reply = proto_reply(pb.Response(style_transfer=msg))
    with servers.client(transport) as c:
        result = c.style_transfer(PNG, PNG, PNG, style_weights=[1, 1], steps=7)
    assert {"content", "style", "style_2"} <= set(backend.last.fields)
    assert backend.last.fields["style_weights"] == b"1,1"
    assert result.steps == 7 and result.final_losses["style"] < result.start_losses["style"]


STYLE_A, STYLE_B = PNG + b"a", PNG + b"b"
ID_A, ID_B = (hashlib.sha256(s).hexdigest()[:32] for s in (STYLE_A, STYLE_B))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_stylize_like_sends_images_then_ids_and_resends_on_a_miss(servers: Servers, backend, transport: str) -> None:
    evicted = {"now": False}

    def reply(request) -> Reply:
        if "style_id" in request.fields and evicted["now"]:
            evicted["now"] = False
            return Reply(json_error(404, "StyleNotCached", "not cached", "style_id"), 404, "application/json")
        msg = pb.StylizeResult(image=pb.Image(data=b"J", format="jpeg", width=4, height=3), model="arbitrary",
                               styles=[ID_A, ID_B], weights=[0.25, 0.75], tiles=1)
        return proto_reply(pb.Response(stylize=msg))

    backend.reply = reply
    with servers.client(transport) as c:
        first = c.stylize_like(PNG, STYLE_A, STYLE_B, style_weights=[1, 3], alpha=0.5)
        sent = backend.last.fields
        assert sent["style_image"] == STYLE_A and sent["style_image_2"] == STYLE_B and "style_id" not in sent
        assert sent["style_weights"] == b"1,3" and sent["alpha"] == b"0.5"
        assert first.model == "arbitrary" and first.styles == [ID_A, ID_B] and first.weights == [0.25, 0.75]
        c.stylize_like(PNG, STYLE_A, STYLE_B, style_weights=[1, 3])  # the same styles again: ids, no images
        assert backend.last.fields["style_id"] == f"{ID_A},{ID_B}".encode()
        assert "style_image" not in backend.last.fields
        evicted["now"] = True  # the server restarted: the ids miss, the client sends the images again
        count = len(backend.requests)
        picture = c.stylize_like_image(PNG, STYLE_A, STYLE_B, style_weights=[1, 3], format="png")
        assert len(backend.requests) == count + 2 and backend.last.fields["style_image"] == STYLE_A
        assert backend.requests[-2].fields["style_id"] == f"{ID_A},{ID_B}".encode() and picture


def test_blend_text():
    assert blend_text("a:1") == "a:1" and blend_text(None) is None
    assert blend_text({"x": 0.25, "y": 0.75}) == "x:0.25,y:0.75"


def cli(servers: Servers, *args: str):
    out, err = io.StringIO(), io.StringIO()
    code = main(["--http-port", str(servers.http_port), "--token", TOKEN, *args], out, err)
    return code, out.getvalue(), err.getvalue()


def test_cli_stylize_writes_the_picture(servers: Servers, backend, tmp_path: Path) -> None:
    image = tmp_path / "cat.png"
    image.write_bytes(PNG)
    backend.reply = Reply(body=b"\xff\xd8JPEG", content_type="image/jpeg")
    out_file = tmp_path / "out.jpg"
    code, out, err = cli(servers, "stylize", str(image), "--blend", "a:1,b:1", "--strength", "0.8", "-o",
                         str(out_file))
    assert code == 0, err
    assert out_file.read_bytes() == b"\xff\xd8JPEG" and backend.last.fields["blend"] == b"a:1,b:1"
    assert backend.last.fields["format"] == b"jpeg" and "variant" not in backend.last.fields  # the server's default
    code, out, err = cli(servers, "stylize", str(image), "--style", "a", "--variant", "lite", "-o", str(out_file))
    assert code == 0, err
    assert backend.last.fields["variant"] == b"lite" and backend.last.fields["style"] == b"a"
    with pytest.raises(SystemExit):  # argparse knows the choices from the declaration
        cli(servers, "stylize", str(image), "--style", "a", "--variant", "tiny", "-o", str(out_file))


def test_cli_stylize_with_style_images(servers: Servers, backend, tmp_path: Path) -> None:
    (tmp_path / "photo.png").write_bytes(PNG)
    (tmp_path / "a.png").write_bytes(STYLE_A)
    (tmp_path / "b.png").write_bytes(STYLE_B)
    backend.reply = Reply(body=b"\xff\xd8JPEG", content_type="image/jpeg")
    code, out, err = cli(servers, "stylize", str(tmp_path / "photo.png"), "--style-image", str(tmp_path / "a.png"),
                         "--style-image", str(tmp_path / "b.png"), "--style-weights", "1,2", "--alpha", "0.7")
    assert code == 0, err
    fields = backend.last.fields
    assert fields["style_image"] == STYLE_A and fields["style_image_2"] == STYLE_B
    assert fields["style_weights"] == b"1.0,2.0" and fields["alpha"] == b"0.7"
    with pytest.raises(SystemExit):  # argparse: one of --style, --blend, --style-image
        cli(servers, "stylize", str(tmp_path / "photo.png"), "--style", "x", "--style-image", str(tmp_path / "a.png"))


def test_cli_style_transfer_sends_every_style(servers: Servers, backend, tmp_path: Path) -> None:
    for name in ("c.png", "s1.png", "s2.png"):
        (tmp_path / name).write_bytes(PNG)
    backend.reply = Reply(body=b"PNGOUT", content_type="image/png")
    code, out, err = cli(servers, "style-transfer", str(tmp_path / "c.png"), str(tmp_path / "s1.png"),
                         str(tmp_path / "s2.png"), "--steps", "3", "--preserve-colors", "-o",
                         str(tmp_path / "o.png"))
    assert code == 0, err
    fields = backend.last.fields
    assert {"content", "style", "style_2"} <= set(fields) and fields["steps"] == b"3"
    assert fields["preserve_colors"] == b"true" and (tmp_path / "o.png").read_bytes() == b"PNGOUT"


@pytest.fixture
def management():
    """A fake management API answering the describe call of `stylize`."""
    seen = {}
    styles = [{"name": "stained_glass", "kind": "single", "styles": ["stained_glass"], "recipe": "python -m x"},
              {"name": "multi4", "kind": "multi", "styles": ["a", "b", "c", "d"], "recipe": "python -m y"}]

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            seen["path"], seen["auth"] = self.path, self.headers.get("Authorization")
            body = json.dumps([{"modelName": "stylize", "customizedMetadata": json.dumps({"styles": styles})}])
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], seen
    server.shutdown()
    server.server_close()


def test_styles_from_describe(servers: Servers, management, tmp_path: Path) -> None:
    port, seen = management
    key_file = tmp_path / "key_file.json"
    key_file.write_text(json.dumps({"inference": {"key": TOKEN}, "management": {"key": "mgmtKey"}}))
    with servers.client("http", token=None, key_file=key_file, management_port=port) as c:
        styles = c.styles()
    assert [s["name"] for s in styles] == ["stained_glass", "multi4"]
    assert seen["path"] == "/models/stylize?customized=true" and seen["auth"] == "Bearer mgmtKey"
    out, err = io.StringIO(), io.StringIO()
    code = main(["--key-file", str(key_file), "--management-port", str(port), "styles"], out, err)
    assert code == 0, err.getvalue()
    assert "multi4" in out.getvalue() and "a, b, c, d" in out.getvalue()
