"""The CLI's cross-cutting options and management subcommands: models, layers, describe, --json,
--retries/--backoff, TLS flags, management port and keys."""

from __future__ import annotations

import io
import json
from unittest import mock

from client_fakes import Reply, Servers, json_error
from convlens_client.cli import build_parser, client_from_args, main
from management_fakes import BACKBONES, LAYERS, ManagementServers


def run(servers: Servers, mgmt: ManagementServers, transport: str, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    argv: list[str] = [
        "--transport", transport,
        "--http-port", str(servers.http_port), "--grpc-port", str(servers.grpc_port),
        "--management-port", str(mgmt.http_port), "--grpc-management-port", str(mgmt.grpc_port),
        "--key-file", str(mgmt.state.key_file), "--retries", "0",
        *args,
    ]
    code = main(argv, out, err)
    return code, out.getvalue(), err.getvalue()


def test_models_table_and_json(servers, backend, mgmt, transport) -> None:
    code, out, err = run(servers, mgmt, transport, "models")
    assert (code, err) == (1, "")  # classify has no READY worker
    assert out.splitlines() == [
        "model     status     workers  queued",
        "classify  not ready  0/1      3",
        "saliency  ready      1/1      3",
    ]
    for argv in (("--json", "models"), ("models", "--json")):  # global or after the subcommand
        code, out, _ = run(servers, mgmt, transport, *argv)
        rows = json.loads(out)
        assert [r["name"] for r in rows] == ["classify", "saliency"] and rows[1]["ready"] is True


def test_layers_and_describe(servers, backend, mgmt, transport) -> None:
    code, out, _ = run(servers, mgmt, transport, "layers", "saliency")
    assert code == 0 and out.split() == LAYERS
    code, out, _ = run(servers, mgmt, transport, "layers", "saliency", "--json")
    assert json.loads(out) == LAYERS
    code, out, _ = run(servers, mgmt, transport, "describe", "saliency")
    assert code == 0 and json.loads(out)["layers"] == LAYERS
    code, out, err = run(servers, mgmt, transport, "describe", "nope")
    assert code == 1 and "Model not found" in err


def test_backbones_lists_the_default_and_the_registered_models(servers, backend, mgmt, transport) -> None:
    code, out, _ = run(servers, mgmt, transport, "backbones", "saliency")
    assert code == 0 and out.splitlines() == [
        "efficientnet_lite0  (default, 1000 classes)",
        "plants  (registered resnet50, 2 classes)  labels: healthy, rust",
    ]
    code, out, _ = run(servers, mgmt, transport, "backbones", "saliency", "--json")
    assert json.loads(out) == BACKBONES


def test_health_json(servers, backend, mgmt, transport) -> None:
    code, out, _ = run(servers, mgmt, transport, "--token", "t", "--json", "health")
    assert (code, json.loads(out)) == (0, {"status": "Healthy"})


def test_retries_flag_reaches_the_client(servers, backend, mgmt, transport) -> None:
    busy = Reply(json_error(503, "ServiceUnavailableException", "busy", with_field=False), 503,
                 "application/json")
    backend.reply = busy if transport == "http" else Reply(json_error(503, "ServiceUnavailableException", "busy"))
    code, _, err = run(servers, mgmt, transport, "--token", "t", "--retries", "2", "--backoff", "0.01",
                       "classify", __file__)
    assert code == 1 and "busy" in err
    assert len(backend.requests) == 3  # --retries 2 (given after the earlier --retries 0): 3 attempts


def test_global_options_build_the_client(tmp_path) -> None:
    ca = tmp_path / "ca.pem"
    args = build_parser().parse_args([
        "--transport", "grpc", "--retries", "4", "--backoff", "0.25", "--ca-cert", str(ca),
        "--client-cert", "c.pem", "--client-key", "k.pem", "--tls-server-name", "api.internal",
        "--management-token", "m", "--api-key", "a", "--token", "t", "health",
    ])
    with mock.patch("convlens_client.cli.Client") as Client:  # records the arguments (no real TLS files)
        client_from_args(args)
    kwargs = Client.call_args.kwargs
    assert kwargs["retries"] == 4 and kwargs["backoff"] == 0.25 and kwargs["scheme"] is None
    assert (kwargs["ca_cert"], kwargs["client_cert"], kwargs["client_key"]) == (str(ca), "c.pem", "k.pem")
    assert kwargs["tls_server_name"] == "api.internal" and kwargs["transport"] == "grpc"
    assert (kwargs["management_token"], kwargs["api_key"], kwargs["token"]) == ("m", "a", "t")


def test_raw_sends_exactly_the_fields_given(servers, backend, mgmt, transport, tmp_path) -> None:
    photo = tmp_path / "cat.jpg"
    photo.write_bytes(b"\xff\xd8\xff jpeg")
    backend.reply = Reply(b"\x89PNG\r\n\x1a\n picture", content_type="image/png")
    out_file = tmp_path / "map.png"
    code, out, _ = run(servers, mgmt, transport, "raw", "saliency", "--image", f"image={photo}", "--set",
                       "method=gradcam", "--set", "view=overlay", "-o", str(out_file))
    assert (code, out) == (0, f"wrote {out_file}\n")
    assert out_file.read_bytes() == b"\x89PNG\r\n\x1a\n picture"
    seen = backend.last
    assert seen.model == "saliency"
    assert seen.fields == {"image": b"\xff\xd8\xff jpeg", "method": b"gradcam", "view": b"overlay"}
    backend.reply = Reply(b'{"predictions": []}', content_type="application/json")  # JSON without -o: printed
    code, out, _ = run(servers, mgmt, transport, "raw", "classify", "--image", f"image={photo}")
    assert (code, out) == (0, '{"predictions": []}\n')


def test_raw_progress_streams(servers, backend, mgmt, tmp_path, capsys) -> None:
    event = json.dumps({"progress": {"step": 1, "total": 1, "stage": ""}}).encode() + b"\n"
    backend.reply = Reply(event + b"\x89PNG\r\n\x1a\n dream", content_type="application/x-convlens-stream")
    code, _, _ = run(servers, mgmt, "http", "raw", "deepdream", "--set", "steps=1", "--progress", "-o",
                         str(tmp_path / "d.png"))
    assert code == 0 and "1/1" in capsys.readouterr().err  # the bar, on stderr
    assert (tmp_path / "d.png").read_bytes() == b"\x89PNG\r\n\x1a\n dream"
    assert backend.last.fields == {"steps": b"1", "progress": b"stream"}
