"""The ``convlens`` command line against the fake servers."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from client_fakes import TOKEN, Reply, Servers, classification, heatmap, json_error, proto_reply
from convlens_client.cli import main

CAT = [(285, "Egyptian cat", 0.75, 9.5), (281, "tabby", 0.125, 7.75)]


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "cat.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 8)
    return path


def run(servers: Servers, transport: str, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    argv: list[str] = [
        "--transport",
        transport,
        "--http-port",
        str(servers.http_port),
        "--grpc-port",
        str(servers.grpc_port),
        "--token",
        TOKEN,
        *args,
    ]
    code = main(argv, out, err)
    return code, out.getvalue(), err.getvalue()


def test_classify_table(servers: Servers, backend, transport: str, image: Path) -> None:
    backend.reply = proto_reply(classification(*CAT))
    code, out, err = run(servers, transport, "classify", str(image), "--topk", "2")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "label         probability",
        "Egyptian cat  0.7500",
        "tabby         0.1250",
    ]
    assert backend.last.fields["topk"] == b"2"
    assert backend.last.authorization == f"Bearer {TOKEN}"


def test_backbone_option_sends_the_field(servers: Servers, backend, transport: str, image: Path) -> None:
    backend.reply = proto_reply(classification(*CAT))
    assert run(servers, transport, "classify", str(image), "--backbone", "plants")[0] == 0
    assert backend.last.fields["backbone"] == b"plants"
    assert run(servers, transport, "classify", str(image))[0] == 0
    assert "backbone" not in backend.last.fields  # the server's default


def test_classify_json(servers: Servers, backend, transport: str, image: Path) -> None:
    backend.reply = proto_reply(classification(*CAT))
    code, out, _ = run(servers, transport, "classify", str(image), "--json")
    assert code == 0
    assert json.loads(out)[0] == {"index": 285, "label": "Egyptian cat", "probability": 0.75, "score": 9.5}


def test_saliency_png_writes_the_servers_picture(
    servers: Servers, backend, transport: str, image: Path, tmp_path: Path
) -> None:
    picture = b"\x89PNG\r\n\x1a\n rendered"
    backend.reply = lambda req: proto_reply(heatmap()) if req.fields["format"] == b"proto" else Reply(picture)
    out_path = tmp_path / "out.png"
    code, out, err = run(
        servers,
        transport,
        "saliency",
        str(image),
        "-o",
        str(out_path),
        "--target",
        "281",
        "--view",
        "overlay",
    )
    assert (code, err) == (0, "")
    assert out_path.read_bytes() == picture
    assert out.splitlines() == [f"wrote {out_path}"]
    assert len(backend.requests) == 1  # one request: the saliency map is computed once
    picture_request = backend.requests[-1].fields
    assert picture_request["view"] == b"overlay" and picture_request["format"] == b"png"
    assert picture_request["target"] == b"281"


def test_saliency_json_default_output_name(servers: Servers, backend, transport: str, image: Path) -> None:
    backend.reply = proto_reply(heatmap(width=3, height=2))
    code, out, _ = run(servers, transport, "saliency", str(image), "--format", "json", "--target", "tabby")
    assert code == 0
    written = Path("cat_saliency.json")  # in the working directory
    data = json.loads(written.read_text())
    assert (data["width"], data["height"]) == (3, 2) and len(data["values"]) == 2
    assert data["target"]["label"] == "tabby"
    assert backend.last.fields["target"] == b"tabby"
    assert len(backend.requests) == 1  # json needs no picture request
    assert out.splitlines() == ["wrote cat_saliency.json", "target:    281 tabby (p=0.250)",
                                "predicted: 285 Egyptian cat (p=0.500)"]


def test_health(servers: Servers, backend, transport: str) -> None:
    assert run(servers, transport, "health")[:2] == (0, "Healthy\n")
    backend.health = "Unhealthy"
    assert run(servers, transport, "health")[:2] == (1, "Unhealthy\n")


def test_errors_go_to_stderr_with_status_1(servers: Servers, backend, transport: str, image: Path) -> None:
    backend.reply = Reply(
        json_error(400, "InvalidParameter", "topk must be >= 1", "topk"), 400, "application/json"
    )
    if transport == "grpc":  # TorchServe answers OK over gRPC; the error is in the body
        backend.reply = Reply(json_error(400, "InvalidParameter", "topk must be >= 1", "topk"))
    code, out, err = run(servers, transport, "saliency", str(image), "--format", "npy")
    assert (code, out) == (1, "")
    assert err == "error: InvalidParameter: topk must be >= 1 (field 'topk')\n"


def test_missing_image_is_an_error(servers: Servers, backend, transport: str, tmp_path: Path) -> None:
    code, _, err = run(servers, transport, "classify", str(tmp_path / "missing.png"))
    assert code == 1 and err.startswith("error: FileNotFoundError: ")
    assert backend.requests == []


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["classify"],
        ["saliency", "x.png", "--view", "sideways"],
        ["--transport", "smoke", "health"],
        ["nope"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "usage: convlens" in capsys.readouterr().err
