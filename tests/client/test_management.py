"""Management calls (models, describe, layers) and token refresh, over both transports, against
fake TorchServe management and inference servers that behave as the real ones do."""

from __future__ import annotations

import grpc
import pytest

from client_fakes import Reply, Servers, classification, json_error, proto_reply
from convlens_client import Client, ConvLensError, ModelStatus, NotFound, Unauthorized
from management_fakes import BACKBONES, LAYERS, ManagementServers, ManagementState, describe_entry

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def make_client(servers: Servers, mgmt: ManagementServers, transport: str, **kwargs) -> Client:
    kwargs.setdefault("key_file", mgmt.state.key_file)
    kwargs.setdefault("retries", 0)
    return Client(
        "127.0.0.1",
        transport=transport,
        http_port=servers.http_port,
        grpc_port=servers.grpc_port,
        management_port=mgmt.http_port,
        grpc_management_port=mgmt.grpc_port,
        timeout=10,
        **kwargs,
    )


def test_models_lists_every_model_with_its_workers(servers, backend, mgmt, transport) -> None:
    with make_client(servers, mgmt, transport) as c:
        models = c.models()
    assert [m.name for m in models] == ["classify", "saliency"]
    sal = models[1]
    assert sal == ModelStatus("saliency", "1.0", "saliency.mar", 1, 1, 1, workers=1, ready_workers=1,
                              pending_requests=3)
    assert sal.ready and not models[0].ready  # classify's only worker is not READY
    assert sal.to_dict()["ready"] is True
    # list + one describe per model, all on this transport's management API
    prefix = "grpc " if transport == "grpc" else "http /models"
    assert len(mgmt.state.calls) == 3 and all(call.startswith(prefix) for call in mgmt.state.calls)


def test_models_follows_pages(servers, backend, mgmt, transport) -> None:
    mgmt.state.models = {f"m{i:03d}": describe_entry(f"m{i:03d}") for i in range(130)}  # > one page of 100
    with make_client(servers, mgmt, transport) as c:
        assert [m.name for m in c.models()] == sorted(mgmt.state.models)


def test_describe_and_layers(servers, backend, mgmt, transport) -> None:
    with make_client(servers, mgmt, transport) as c:
        meta = c.describe("saliency")
        assert meta == {"endpoint": "saliency", "backbone": "efficientnet_lite0", "layers": LAYERS,
                        "backbones": BACKBONES}
        assert c.layers("saliency") == LAYERS
        with pytest.raises(NotFound):
            c.describe("nope")


def test_both_transports_give_the_same_management_results(servers, backend, mgmt) -> None:
    with make_client(servers, mgmt, "http") as h, make_client(servers, mgmt, "grpc") as g:
        assert h.models() == g.models()
        assert h.describe("classify") == g.describe("classify")
        assert h.layers("saliency") == g.layers("saliency")


def test_management_uses_the_management_key(servers, backend, mgmt, transport) -> None:
    with make_client(servers, mgmt, transport, key_file=None, management_token="man-1") as c:
        assert c.layers("saliency") == LAYERS
    with make_client(servers, mgmt, transport, key_file=None, management_token="inf-1") as c:
        with pytest.raises(Unauthorized):
            c.models()


def test_management_token_from_the_environment(servers, backend, mgmt, transport, monkeypatch) -> None:
    monkeypatch.setenv("CONVLENS_MANAGEMENT_TOKEN", "man-1")
    with make_client(servers, mgmt, transport, key_file=None, token="x") as c:
        assert c.layers("saliency") == LAYERS


def test_a_model_without_a_description(servers, backend, mgmt, transport) -> None:
    mgmt.state.models["plain"] = describe_entry("plain")  # no customizedMetadata
    with make_client(servers, mgmt, transport) as c, pytest.raises(ConvLensError) as info:
        c.layers("plain")
    assert info.value.type == "MalformedResponse"


# -- token refresh ---------------------------------------------------------------------------


def guarded(state: ManagementState):
    """Inference replies that need the state's current inference key (wrong key: as TorchServe)."""

    def reply(request) -> Reply:
        if request.authorization == f"Bearer {state.keys['inference']}":
            return proto_reply(classification((285, "Egyptian cat", 0.75, 9.5)))
        body = json_error(400, "InvalidKeyException", "Token Authorization failed.", with_field=False)
        return Reply(body, 400, "application/json", grpc_code=grpc.StatusCode.PERMISSION_DENIED,
                     grpc_details="Token Authorization failed.")

    return reply


def test_an_expired_inference_token_is_rotated_with_the_api_key(servers, backend, mgmt, transport) -> None:
    backend.reply = guarded(mgmt.state)
    with make_client(servers, mgmt, transport) as c:
        assert c.classify(PNG)[0].index == 285
        mgmt.state.keys["inference"] = "inf-expired"  # the server forgets the key (expiry)
        assert c.classify(PNG)[0].index == 285  # refused, rotated, repeated
        assert c.classify(PNG)[0].index == 285  # and the new key sticks
    assert mgmt.state.rotations == ["inference"]
    assert [r.authorization for r in backend.requests] == [
        "Bearer inf-1", "Bearer inf-1", "Bearer inference-rotated-1", "Bearer inference-rotated-1"
    ]


def test_a_key_rotated_elsewhere_is_reread_without_rotating_again(servers, backend, mgmt, transport) -> None:
    backend.reply = guarded(mgmt.state)
    with make_client(servers, mgmt, transport) as c:
        assert c.classify(PNG)[0].index == 285
        mgmt.state.rotate("inference")  # another client rotated the key: the file has the new one
        assert c.classify(PNG)[0].index == 285
    assert mgmt.state.rotations == ["inference"]  # only the other client's
    # the key file changed, so the client sent the new key straight away
    assert [r.authorization for r in backend.requests] == ["Bearer inf-1", "Bearer inference-rotated-1"]


def test_refresh_rereads_a_key_file_that_looks_unchanged(tmp_path) -> None:
    """Same size and mtime (coarse file-system clocks): the refusal still makes the client re-read."""
    import os

    from convlens_client.transport.auth import TokenSource

    path = tmp_path / "key_file.json"
    path.write_text('{"inference": {"key": "aaaa"}, "API": {"key": "k"}}')
    stamp = path.stat()
    source = TokenSource(key_file=path, env={})
    rotations = []
    source.rotator = lambda kind, key: rotations.append((kind, key))
    path.write_text('{"inference": {"key": "bbbb"}, "API": {"key": "k"}}')
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert source() == "aaaa"  # looks unchanged
    assert source.refresh("aaaa") is True and source() == "bbbb" and rotations == []
    assert source.refresh("bbbb") is False and rotations == [("inference", "k")]  # rotator wrote nothing new


def test_refresh_happens_once_then_unauthorized(servers, backend, mgmt, transport) -> None:
    backend.reply = Reply(json_error(400, "InvalidKeyException", "refused", with_field=False), 400,
                          grpc_code=grpc.StatusCode.PERMISSION_DENIED, grpc_details="refused")
    with make_client(servers, mgmt, transport, retries=3) as c, pytest.raises(Unauthorized):
        c.classify(PNG)
    assert mgmt.state.rotations == ["inference"] and len(backend.requests) == 2


def test_an_explicit_token_is_never_refreshed(servers, backend, mgmt, transport) -> None:
    backend.reply = guarded(mgmt.state)
    with make_client(servers, mgmt, transport, token="inf-old") as c, pytest.raises(Unauthorized):
        c.classify(PNG)
    assert mgmt.state.rotations == [] and len(backend.requests) == 1


def test_an_expired_management_token_is_rotated(servers, backend, mgmt, transport) -> None:
    with make_client(servers, mgmt, transport) as c:
        assert c.layers("saliency") == LAYERS
        mgmt.state.keys["management"] = "man-expired"
        assert c.layers("saliency") == LAYERS
    assert mgmt.state.rotations == ["management"]


def test_without_an_api_key_the_refusal_stands(servers, backend, mgmt, transport) -> None:
    del mgmt.state.keys["API"]
    mgmt.state.write_key_file()
    backend.reply = guarded(mgmt.state)
    with make_client(servers, mgmt, transport) as c:
        mgmt.state.keys["inference"] = "inf-expired"
        with pytest.raises(Unauthorized):
            c.classify(PNG)
    assert mgmt.state.rotations == [] and len(backend.requests) == 1


def test_an_api_key_from_the_environment(servers, backend, mgmt, transport, monkeypatch) -> None:
    del mgmt.state.keys["API"]
    mgmt.state.write_key_file()
    mgmt.state.keys["API"] = "api-env"  # the server knows it; the key file does not
    monkeypatch.setenv("CONVLENS_API_KEY", "api-env")
    backend.reply = guarded(mgmt.state)
    with make_client(servers, mgmt, transport) as c:
        mgmt.state.keys["inference"] = "inf-expired"
        assert c.classify(PNG)[0].index == 285
    assert mgmt.state.rotations == ["inference"]
