"""The playground's proxy against the fake servers: loopback only, never the key file, upload limits, calls
forwarded with the token (both transports), the server's errors passed on, streams as NDJSON lines."""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from client_fakes import TOKEN, Reply, Servers, json_error
from convlens_client.cli import main
from convlens_client.playground import Playground, check_bind, forward
from convlens_client.playground.samples import Samples

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 24  # enough to be sniffed as a picture
PAGE = {"Content-Type": "application/json", "X-ConvLens-Playground": "1"}


@pytest.fixture
def playground(servers: Servers, backend, transport: str, tmp_path) -> Iterator[Playground]:
    """The page server on a free loopback port, over a client with the token; a key file and samples beside it."""
    (tmp_path / "key_file.json").write_text(json.dumps({"inference": {"key": TOKEN}, "management": {"key": "m"}}))
    samples = tmp_path / "samples"
    samples.mkdir()
    (samples / "cat.png").write_bytes(PNG)
    (samples / "notes.txt").write_text("not a photo")
    os.symlink(tmp_path / "key_file.json", samples / "key.png")
    with servers.client(transport, token=None, key_file=tmp_path / "key_file.json") as client:
        with Playground(client, "127.0.0.1", 0, Samples(samples, forward.MAX_IMAGE_BYTES)).running() as page:
            yield page


def fetch(page: Playground, path: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
    """(status, body) of one request to the page server."""
    request = urllib.request.Request(page.url.rstrip("/") + path, data=body, headers=headers or {},
                                     method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def call(page: Playground, model: str, request: dict, headers: dict | None = None) -> tuple[int, bytes]:
    return fetch(page, f"/api/predict/{model}", json.dumps(request).encode(), headers or PAGE)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "example.com"])
def test_refuses_non_loopback_binds(host: str) -> None:
    with pytest.raises(ValueError, match="--allow-remote"):
        check_bind(host, allow_remote=False)
    check_bind(host, allow_remote=True)  # told to: allowed


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_accepts_loopback(host: str) -> None:
    check_bind(host, allow_remote=False)


def test_cli_refuses_a_public_bind_without_the_flag(capsys) -> None:
    assert main(["--token", "t", "playground", "--host", "0.0.0.0", "--port", "0"]) == 1
    assert "refusing to listen on 0.0.0.0" in capsys.readouterr().err


def test_cli_server_flag_and_key_file_reach_the_client(monkeypatch, tmp_path) -> None:
    seen = {}

    def fake_run(client, args, out):
        seen.update(host=client.settings.host, port=client.settings.http_port, scheme=client.settings.scheme,
                    key_file=client.settings.key_file, bind=args.bind, page_port=args.port)
        return 0

    monkeypatch.setattr("convlens_client.cli.playground.run_playground", fake_run)
    key = tmp_path / "k.json"
    key.write_text(json.dumps({"inference": {"key": "x"}, "management": {"key": "y"}}))
    assert main(["playground", "--server", "http://10.1.2.3:9090", "--key-file", str(key), "--port", "8800"]) == 0
    assert seen == {"host": "10.1.2.3", "port": 9090, "scheme": "http", "key_file": str(key), "bind": "127.0.0.1",
                    "page_port": 8800}


@pytest.mark.parametrize("transport", ["http"])
def test_never_serves_the_key_file(playground: Playground) -> None:
    for path in ("/key_file.json", "/static/../key_file.json", "/static/key_file.json", "/api/samples/key_file.json",
                 "/api/samples/..%2Fkey_file.json", "/api/samples/key.png", "/api/samples/notes.txt",
                 "/..%2Fkey_file.json", "/static/%2E%2E/key_file.json"):
        status, body = fetch(playground, path)
        assert status == 404, path
        assert TOKEN.encode() not in body


@pytest.mark.parametrize("transport", ["http"])
def test_page_and_info_hold_no_token(playground: Playground) -> None:
    for path in ("/", "/static/app.js", "/static/style.css", "/api/info", "/api/samples"):
        status, body = fetch(playground, path)
        assert status == 200, path
        assert TOKEN.encode() not in body
    assert json.loads(fetch(playground, "/api/samples")[1]) == {"samples": ["cat.png"]}  # no symlink, no text
    assert fetch(playground, "/api/info", headers={"Host": "evil.example:8765"})[0] == 403  # DNS rebinding
    assert fetch(playground, "/api/samples/cat.png") == (200, PNG)


def test_forwards_the_page_request_with_the_token(playground: Playground, backend, transport: str) -> None:
    backend.reply = Reply(b'{"predictions": []}', content_type="application/json")
    image = b"\xff\xd8\xff" + b"jpeg bytes"
    status, body = call(playground, "classify", {"fields": {"topk": "3"},
                                                 "images": {"image": base64.b64encode(image).decode()}})
    assert (status, body) == (200, b'{"predictions": []}')
    seen = backend.last
    assert seen.model == "classify"
    assert seen.authorization == f"Bearer {TOKEN}"
    assert seen.fields["topk"] == b"3"
    assert seen.fields["image"] == image


def test_passes_the_servers_error_on(playground: Playground, backend) -> None:
    backend.reply = Reply(json_error(400, "InvalidParameter", "must be between 1 and 100, got 0", "topk"), 400,
                          "application/json")
    status, body = call(playground, "classify", {"fields": {"topk": "0"}, "images": {}})
    assert status == 400
    assert json.loads(body) == {"code": 400, "type": "InvalidParameter", "message": "must be between 1 and 100, got 0",
                                "field": "topk"}


@pytest.mark.parametrize("transport", ["http"])
def test_upload_limits(playground: Playground, backend, monkeypatch) -> None:
    # a body over the server's request limit is refused from its Content-Length, before it is read
    status, body = fetch(playground, "/api/predict/classify", b"{}",
                         {**PAGE, "Content-Length": str(forward.MAX_REQUEST_BYTES + 1)})
    assert status == 413 and json.loads(body)["type"] == "TooLarge"
    # one image over the per-image limit: 413 naming its field
    monkeypatch.setattr(forward, "MAX_IMAGE_BYTES", 30)
    status, body = call(playground, "classify", {"images": {"image": base64.b64encode(b"x" * 60).decode()}})
    assert status == 413 and json.loads(body)["field"] == "image"
    status, body = call(playground, "classify", {"images": {"image": "not base64!"}})
    assert status == 400 and json.loads(body)["field"] == "image"
    status, body = call(playground, "classify", {"fields": {"bad name": "1"}})
    assert status == 400
    assert not backend.requests  # nothing reached the server


@pytest.mark.parametrize("transport", ["http"])
@pytest.mark.parametrize("headers", [
    {"Content-Type": "application/json"},  # no page header: a form another site could post
    {**PAGE, "Origin": "http://evil.example"},
    {**PAGE, "Host": "evil.example:8765"},  # DNS rebinding
    {"Content-Type": "text/plain", "X-ConvLens-Playground": "1"},
])
def test_only_the_page_may_call(playground: Playground, backend, headers: dict) -> None:
    status, _ = call(playground, "classify", {"fields": {}}, headers)
    assert status == 403
    assert not backend.requests


@pytest.mark.parametrize("transport", ["http"])
def test_streams_progress_as_ndjson(playground: Playground, backend) -> None:
    preview = base64.b64encode(PNG).decode()
    event = json.dumps({"progress": {"step": 1, "total": 2, "loss": 0.5, "stage": "", "elapsed_s": 0.1,
                                     "preview": preview}})
    backend.reply = Reply(event.encode() + b"\n" + PNG, content_type="application/x-convlens-stream; format=png")
    status, body = call(playground, "deepdream", {"fields": {"steps": "2"}, "stream": True})
    assert status == 200
    lines = [json.loads(line) for line in body.splitlines()]
    assert lines[0] == {"progress": {"step": 1, "total": 2, "loss": 0.5, "stage": "", "elapsed_s": 0.1,
                                     "preview": preview}}
    assert lines[1] == {"result": {"content_type": "image/png", "data": base64.b64encode(PNG).decode()}}
    assert backend.last.fields["progress"] == b"stream"  # the SDK's streaming opt-in, on both transports


@pytest.mark.parametrize("transport", ["http"])
def test_stream_errors_arrive_as_the_last_line(playground: Playground, backend) -> None:
    started = json.dumps({"progress": {"step": 0, "total": 0, "stage": "started"}}).encode() + b"\n"
    backend.reply = Reply(started + json_error(400, "InvalidParameter", "must be between 1 and 200", "steps"))
    _, body = call(playground, "deepdream", {"fields": {"steps": "0"}, "stream": True})
    last = json.loads(body.splitlines()[-1])
    assert last == {"error": {"code": 400, "type": "InvalidParameter", "message": "must be between 1 and 200",
                              "field": "steps"}}
