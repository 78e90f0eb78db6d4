"""The client's calls over both transports against the fake servers: what is sent, what comes back."""

from __future__ import annotations

import socket

import pytest

from client_fakes import TOKEN, Reply, Servers, classification, heatmap, proto_reply
from convlens_client import (
    AsyncClient,
    Busy,
    Classification,
    Client,
    Connection,
    Heatmap,
    Prediction,
    RetryPolicy,
    Unsupported,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32  # the fake servers never decode images
CAT = [(285, "Egyptian cat", 0.75, 9.5), (281, "tabby", 0.125, 7.75)]


def _expected_predictions() -> list[Prediction]:
    return [Prediction(i, label, p, s) for i, label, p, s in CAT]


def test_classify_sends_the_contract_fields(client: Client, backend, transport: str) -> None:
    backend.reply = proto_reply(classification(*CAT))
    assert client.classify(PNG, topk=2) == _expected_predictions()
    req = backend.last
    assert req.model == "classify"
    assert req.fields == {"image": PNG, "topk": b"2", "format": b"proto"}
    if transport == "http":
        assert req.path == "/predictions/classify"
        assert set(req.files) == {"image"}  # the image is a file part, the rest text fields
    else:
        assert req.path == "Predictions"


def test_both_transports_give_equal_results(servers: Servers, backend) -> None:
    backend.reply = lambda req: proto_reply(
        classification(*CAT) if req.model == "classify" else heatmap(width=4, height=3, layer="block16")
    )
    results = {}
    for transport in ("http", "grpc"):
        with servers.client(transport) as c:
            results[transport] = (
                c.classify(PNG, topk=2),
                c.saliency(PNG, target="tabby", method="gradcam", layer="block16"),
            )
    assert results["http"] == results["grpc"]
    http_fields = [r.fields for r in backend.requests if r.transport == "http"]
    grpc_fields = [r.fields for r in backend.requests if r.transport == "grpc"]
    assert http_fields == grpc_fields


def test_saliency_returns_a_typed_heatmap(client: Client, backend) -> None:
    backend.reply = proto_reply(heatmap(width=3, height=2))
    heat = client.saliency(PNG, target=281)
    assert isinstance(heat, Heatmap)
    assert (heat.width, heat.height, heat.method, heat.layer) == (3, 2, "gradient", None)
    assert heat.values == [v / 8 for v in range(6)]
    assert (heat.min, heat.max) == (0.0, 0.625)
    assert heat.target == Prediction(281, "tabby", 0.25, 3.5)
    assert heat.predicted == Prediction(285, "Egyptian cat", 0.5, 4.0)
    array = heat.array
    assert array.shape == (2, 3) and str(array.dtype) == "float32"
    assert array[1, 2] == pytest.approx(0.625)
    fields = backend.last.fields
    assert fields["target"] == b"281" and fields["method"] == b"gradient"
    assert fields["format"] == b"proto" and "size" not in fields  # None fields are not sent


def test_saliency_passes_optional_fields(client: Client, backend) -> None:
    backend.reply = proto_reply(heatmap())
    client.saliency(PNG, target="tabby", method="smoothgrad", size=128, samples=16, noise=0.15)
    fields = backend.last.fields
    assert fields["target"] == b"tabby" and fields["method"] == b"smoothgrad"
    assert fields["size"] == b"128" and fields["samples"] == b"16" and fields["noise"] == b"0.15"


def test_saliency_image_returns_the_servers_bytes(client: Client, backend) -> None:
    picture = b"\x89PNG\r\n\x1a\n picture bytes"
    backend.reply = Reply(picture, 200, "image/png")
    assert client.saliency_image(PNG, view="overlay", format="png") == picture
    fields = backend.last.fields
    assert fields["view"] == b"overlay" and fields["format"] == b"png" and fields["method"] == b"gradient"
    assert "target" not in fields


def test_format_is_fixed_for_typed_calls(client: Client) -> None:
    with pytest.raises(TypeError, match="format=proto"):
        client.classify(PNG, format="json")


def test_token_is_sent_as_bearer(client: Client, backend) -> None:
    backend.reply = proto_reply(classification(*CAT))
    client.classify(PNG)
    assert backend.last.authorization == f"Bearer {TOKEN}"


def test_no_token_sends_no_authorization(servers: Servers, backend, transport: str) -> None:
    backend.reply = proto_reply(classification(*CAT))
    with servers.client(transport, token=None) as c:
        c.classify(PNG)
        assert c.health() == "Healthy"
    assert [r.authorization for r in backend.requests] == [None, None]


def test_health(client: Client, backend) -> None:
    assert client.health() == "Healthy"
    assert backend.last.authorization == f"Bearer {TOKEN}"
    backend.health = "Unhealthy"  # TorchServe: HTTP 500 / gRPC OK with the JSON status
    assert client.health() == "Unhealthy"


def test_explain_over_http_posts_to_explanations(servers: Servers, backend) -> None:
    backend.reply = Reply(b"\x89PNG explanation", 200, "image/png")
    with servers.client("http") as c:
        assert c.explain(PNG, target=281) == b"\x89PNG explanation"
    assert backend.last.path == "/explanations/classify"
    assert backend.last.fields == {"image": PNG, "target": b"281"}


def test_explain_over_grpc_is_unsupported(servers: Servers, backend) -> None:
    with servers.client("grpc") as c, pytest.raises(Unsupported, match="no gRPC explanations RPC"):
        c.explain(PNG)
    assert backend.requests == []
    assert issubclass(Unsupported, NotImplementedError)


def test_large_messages_pass_the_grpc_default_limit(servers: Servers, backend) -> None:
    """gRPC's default 4 MiB receive limit is raised to 64 MiB on the client's channel."""
    big_in, big_out = b"\x89PNG" + bytes(6 * 2**20), b"\x89PNG" + bytes(12 * 2**20)
    backend.reply = Reply(big_out, 200, "image/png")
    with servers.client("grpc") as c:
        assert c.saliency_image(big_in) == big_out
    assert backend.last.fields["image"] == big_in


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_is_busy_on_both_transports(transport: str) -> None:
    port = _free_port()
    client = Client(transport=transport, http_port=port, grpc_port=port, token="t", timeout=5, retries=0)
    with client, pytest.raises(Busy) as info:
        client.classify(PNG)
    assert info.value.code == 503


def test_ipv6_hosts_are_bracketed() -> None:
    with Client(host="::1", http_port=8443, scheme="https") as c:
        assert c._transport.base_url == "https://[::1]:8443"  # type: ignore[attr-defined]
    with Client(host="::1", transport="grpc", grpc_port=7070) as c:
        assert c._transport.target == "[::1]:7070"  # type: ignore[attr-defined]


def test_invalid_client_arguments() -> None:
    with pytest.raises(ValueError, match="transport"):
        Client(transport="websocket")
    with pytest.raises(ValueError, match="scheme"):
        Client(scheme="ftp")


def test_classification_keeps_the_backbone(client: Client, backend) -> None:
    backend.reply = proto_reply(classification(*CAT, backbone="resnet18"))
    assert client.classification(PNG, topk=2) == Classification(_expected_predictions(), "resnet18")


def test_raw_sends_any_fields_and_returns_the_body(client: Client, backend) -> None:
    backend.reply = Reply(b"GIF89a picture", 200, "image/gif")
    assert client.raw("saliency", {"image": PNG}, view="overlay", format="png", timeout=5) == b"GIF89a picture"
    assert backend.last.model == "saliency"
    assert backend.last.fields == {"image": PNG, "view": b"overlay", "format": b"png"}  # timeout is not a field


def test_one_settings_object_configures_the_client(servers: Servers, backend, transport: str) -> None:
    backend.reply = proto_reply(classification(*CAT))
    settings = Connection(transport=transport, http_port=servers.http_port, grpc_port=servers.grpc_port,
                          token=TOKEN, timeout=10.0, retry=RetryPolicy(retries=0))
    with Client(settings=settings) as c:
        assert c.settings is settings and c.transport_name == transport and c.retry.retries == 0
        assert c.classify(PNG, topk=2) == _expected_predictions()
    assert backend.last.authorization == f"Bearer {TOKEN}"
    with Client(token=TOKEN, transport=transport, http_port=servers.http_port, grpc_port=servers.grpc_port,
                timeout=10.0, retries=0) as c:
        assert c.settings == Connection(transport=transport, http_port=servers.http_port,
                                        grpc_port=servers.grpc_port, token=TOKEN, timeout=10.0,
                                        retry=RetryPolicy(retries=0))
    client = AsyncClient(settings=settings)
    assert client.sync.settings is settings
    client.sync.close()


def test_settings_exclude_other_arguments_and_hide_secrets() -> None:
    with pytest.raises(TypeError, match="host, retries"):
        Client("example.org", retries=5, settings=Connection())
    settings = Connection(token="s3cr3t", management_token="m4n", api_key="4p1")
    assert not any(secret in repr(settings) for secret in ("s3cr3t", "m4n", "4p1"))
    assert Connection(host="::1").url(8443) == "http://[::1]:8443"
    with pytest.raises(ValueError, match="transport"):
        Connection(transport="websocket")
