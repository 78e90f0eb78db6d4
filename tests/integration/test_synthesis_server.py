"""classviz, fooling, inversion, deepdream and texture through a real TorchServe, over HTTP and gRPC, with the
client SDK; streamed progress (progress=true) over both transports; errors that name their field."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from skimage import data

from convlens_client import Client, Progress, SynthesisResult
from convlens_client.errors import InvalidRequest

TRANSPORTS = ("http", "grpc")
GOLDFISH = 1
KOALA = 105


def png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


CAT = png(np.array(Image.fromarray(data.chelsea()).resize((96, 64), Image.BILINEAR)))
CAT_PHOTO = png(data.chelsea())  # fooled at the default size: shorter side 224, as classify sees it resized to 256
BRICKS = png(np.array(Image.fromarray(data.brick()).convert("RGB").resize((48, 48), Image.BILINEAR)))


def client(server, transport: str) -> Client:
    return Client(server.host, transport=transport, http_port=server.ports["http"],
                  grpc_port=server.ports["grpc"], key_file=server.key_file, timeout=120)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_classviz_raises_the_class_score(server, transport):
    with client(server, transport) as c:
        result = c.classviz(target="goldfish", size=48, steps=5, count=2, seed=3, param="pixel")
    assert result.technique == "classviz" and len(result.images) == 2
    assert all((i.width, i.height) == (48, 48) for i in result.images)
    assert result.metrics["final_score"] > result.metrics["initial_score"] + 1.0
    assert result.predicted[0].index == GOLDFISH and result.seed == 3


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_classviz_neuron_objective_with_diverse_images(server, transport):
    """The Lucid recipe (the default) on a neuron, two images pushed apart; the objective rises in both."""
    with client(server, transport) as c:
        # jitter is in image px, seen 256/40 times larger: off here so the centre neuron stays on one spot
        result = c.classviz(layer="block3", channel=5, objective="neuron", count=2, diversity=10, size=40,
                            steps=12, seed=2, jitter=0)
        assert result.layer == "block3" and len(result.images) == 2 and not result.predicted
        assert result.metrics["final_score"] > result.metrics["initial_score"]
        first, second = (i.array.astype(int) for i in result.images)
        assert np.abs(first - second).mean() > 5  # different seeds and the diversity term: different pictures
        with pytest.raises(InvalidRequest) as err:
            c.classviz(target="goldfish", objective="neuron", steps=1)
        assert err.value.code == 400 and err.value.field == "objective"
        with pytest.raises(InvalidRequest) as err:
            c.classviz(target="goldfish", blur_every=2, steps=1)  # pixel-only regularizer with the default
        assert err.value.code == 400 and err.value.field == "blur_every"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_fooling_reaches_the_target_and_the_png_still_fools(server, transport):
    with client(server, transport) as c:
        result = c.fooling(CAT, target="goldfish", max_steps=30, confidence=0.8, size=64)
        assert result.converged and result.steps <= 30
        assert result.original[0].index != GOLDFISH and result.predicted[0].index == GOLDFISH
        assert result.metrics["linf"] <= 8 / 255 + 1e-6 and result.metrics["target_probability"] > 0.8
        fooled = result.get("fooled")
        assert (fooled.width, fooled.height) == (96, 64) and result.get("difference").width == 96
        # The fooled PNG, decoded again by the server at its own size, is already the target: zero steps.
        again = c.fooling(fooled.data, target="goldfish", max_steps=5, confidence=0.8, size=64)
    assert again.steps == 0 and again.original[0].index == GOLDFISH


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_fooled_png_fools_classify(server, transport):
    """The cat photo fooled into a koala at the default fields; its PNG sent to `classify` comes back a koala, with
    the probability `fooling` reported (the old loop, on the squashed photo, left classify saying 'tabby cat')."""
    with client(server, transport) as c:
        assert c.classify(CAT_PHOTO, topk=1)[0].index != KOALA
        result = c.fooling(CAT_PHOTO, target="koala")
        answer = c.classify(result.get("fooled").data, topk=1)[0]
    assert result.converged and result.predicted[0].index == KOALA
    assert answer.index == KOALA and answer.probability > 0.9
    assert answer.probability == pytest.approx(result.metrics["classify_probability"], abs=1e-4)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_inversion_reports_quality(server, transport):
    with client(server, transport) as c:
        result = c.inversion(CAT, layer="stem", steps=40, size=64, tv_weight=0.2)
    picture = result.first.array
    assert picture.shape == (64, 96, 3) and result.layer == "stem"
    assert result.metrics["psnr"] > 20 and 0 < result.metrics["ssim"] <= 1


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_deepdream_keeps_the_size_and_raises_the_activation(server, transport):
    with client(server, transport) as c:
        result = c.deepdream(CAT, layer="block4", octaves=2, steps=4)
    assert (result.first.width, result.first.height) == (96, 64)
    assert result.metrics["activation_norm_after"] > result.metrics["activation_norm_before"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_texture_of_a_larger_size_lowers_the_style_loss(server, transport):
    with client(server, transport) as c:
        result = c.texture(BRICKS, size=64, layers=["pixels", "stem", "block2"], steps=20)
        gram = c.texture(BRICKS, size=48, layers=["stem"], steps=3, loss="gram", palette="none")
    assert (result.first.width, result.first.height) == (64, 64) and result.layer == "pixels,stem,block2"
    assert result.metrics["style_loss"] * 4 < result.metrics["initial_style_loss"]
    assert result.metrics["near_pure_share"] <= 0.01 and result.metrics["palette_distance"] < 0.01
    assert (gram.first.width, gram.first.height) == (48, 48)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_streamed_progress_then_the_result(server, transport):
    with client(server, transport) as c:
        items = list(c.inversion(CAT, layer="stem", steps=12, size=48, stream=True))
    events, result = items[:-1], items[-1]
    assert isinstance(result, SynthesisResult) and result.technique == "inversion"
    assert events and all(isinstance(e, Progress) for e in events)
    assert events[0].stage == "started" and events[-1].step == events[-1].total == 12
    assert [e.step for e in events] == sorted(e.step for e in events)
    assert any(e.preview for e in events) and Image.open(io.BytesIO(events[-1].preview)).format == "PNG"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_streamed_picture_uses_json_event_lines(server, transport):
    with client(server, transport) as c:
        items = list(c.deepdream_image(CAT, layer="block2", octaves=1, steps=3, stream=True))
    assert all(isinstance(e, Progress) for e in items[:-1]) and len(items) >= 2
    assert Image.open(io.BytesIO(items[-1])).size == (96, 64)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_bad_input_is_a_400_naming_the_field(server, transport):
    with client(server, transport) as c:
        with pytest.raises(InvalidRequest) as err:
            c.classviz(target="goldfish", steps=100000)
        assert err.value.code == 400 and err.value.field == "steps"
        with pytest.raises(InvalidRequest) as err:  # also when streaming: the error is the final frame
            list(c.texture(BRICKS, layers="stem,block99", steps=2, stream=True))
        assert err.value.code == 400 and err.value.field == "layers"


def test_grpc_stream_without_progress_completes_and_the_worker_keeps_serving(server):
    """TorchServe's gRPC frontend needs `ts_stream_next: false` on a final answer to end a stream."""
    import grpc

    from convlens_client._proto import inference_pb2, inference_pb2_grpc

    pids = server.worker_pids("inversion")
    channel = grpc.insecure_channel(f"{server.host}:{server.ports['grpc']}")
    stub = inference_pb2_grpc.InferenceAPIsServiceStub(channel)
    metadata = [("authorization", f"Bearer {server.key('inference')}")]
    request = inference_pb2.PredictionsRequest(model_name="inversion", input={
        "image": CAT, "layer": b"stem", "steps": b"2", "size": b"32"})
    replies = list(stub.StreamPredictions(request, metadata=metadata, timeout=60))
    assert len(replies) == 1 and Image.open(io.BytesIO(replies[0].prediction)).format == "PNG"
    assert server.worker_pids("inversion") == pids
    channel.close()


def test_unary_grpc_with_progress_true_gets_the_result_and_never_wedges_the_worker(server):
    """Over gRPC only progress=stream streams: a unary call asking progress=true gets its result alone, and the
    worker's next requests are answered at once (intermediate responses on a unary call would wedge it)."""
    import time

    import grpc

    from convlens_client._proto import inference_pb2, inference_pb2_grpc

    pids = server.worker_pids("inversion")
    channel = grpc.insecure_channel(f"{server.host}:{server.ports['grpc']}")
    stub = inference_pb2_grpc.InferenceAPIsServiceStub(channel)
    metadata = [("authorization", f"Bearer {server.key('inference')}")]
    fields = {"image": CAT, "layer": b"stem", "steps": b"2", "size": b"32"}
    reply = stub.Predictions(inference_pb2.PredictionsRequest(
        model_name="inversion", input={**fields, "progress": b"true"}), metadata=metadata, timeout=60)
    assert Image.open(io.BytesIO(reply.prediction)).format == "PNG"
    started = time.monotonic()
    for _ in range(2):
        reply = stub.Predictions(inference_pb2.PredictionsRequest(model_name="inversion", input=fields),
                                 metadata=metadata, timeout=30)
        assert Image.open(io.BytesIO(reply.prediction)).format == "PNG"
    assert time.monotonic() - started < 20 and server.worker_pids("inversion") == pids
    streamed = list(stub.StreamPredictions(inference_pb2.PredictionsRequest(
        model_name="inversion", input={**fields, "progress": b"stream"}), metadata=metadata, timeout=60))
    assert len(streamed) >= 2 and streamed[0].prediction.startswith(b"{\"progress\":")
    assert Image.open(io.BytesIO(streamed[-1].prediction)).format == "PNG"  # one frame per gRPC message
    channel.close()
