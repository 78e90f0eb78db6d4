"""Client and CLI of the attribution endpoints against the fake servers: fields sent, typed results back."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from client_fakes import Reply, heatmap, proto_reply
from convlens_client import Client, OcclusionMap, Segmentation
from convlens_client._proto import convlens_pb2 as pb
from test_cli import run

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def occlusion_msg() -> pb.Response:
    heat = heatmap(width=3, height=2).heatmap
    heat.method = "occlusion"
    return pb.Response(occlusion=pb.OcclusionMap(heatmap=heat, rows=2, cols=2, grid=[0.5, 0.25, 0.75, 1.0],
                                                 patch=2, stride=1, fill="blur", base_probability=0.875))


def png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def segmentation_msg() -> pb.Response:
    mask = np.array([[0, 255, 255], [0, 0, 255]], np.uint8)
    cut = np.zeros((2, 3, 4), np.uint8)
    cut[..., 3] = mask
    return pb.Response(segmentation=pb.Segmentation(
        mask=pb.Image(data=png(mask), format="png", width=3, height=2, name="mask"),
        cutout=pb.Image(data=png(cut), format="png", width=3, height=2, name="cutout"),
        width=3, height=2, foreground_fraction=0.5, method="guided_gradcam", backbone="efficientnet_lite0"))


def test_occlusion_returns_the_grid(client: Client, backend) -> None:
    backend.reply = proto_reply(occlusion_msg())
    occ = client.occlusion(PNG, target=281, patch=2, stride=1, fill="blur", batch_size=8)
    assert isinstance(occ, OcclusionMap) and (occ.rows, occ.cols, occ.patch, occ.stride) == (2, 2, 2, 1)
    assert occ.grid_array.tolist() == [[0.5, 0.25], [0.75, 1.0]] and occ.base_probability == 0.875
    assert occ.heatmap.array.shape == (2, 3) and occ.target.index == 281
    assert occ.to_dict()["grid"]["values"] == [[0.5, 0.25], [0.75, 1.0]]
    fields = backend.last.fields
    assert backend.last.model == "occlusion" and fields["format"] == b"proto"
    assert (fields["patch"], fields["stride"], fields["fill"], fields["batch_size"]) == (b"2", b"1", b"blur", b"8")


def test_segment_returns_mask_and_cutout(client: Client, backend, tmp_path: Path) -> None:
    backend.reply = proto_reply(segmentation_msg())
    seg = client.segment(PNG, method="gradient", size=64)
    assert isinstance(seg, Segmentation) and seg.foreground_fraction == 0.5
    assert seg.mask.tolist() == [[False, True, True], [False, False, True]] and seg.cutout.mode == "RGBA"
    assert seg.save(tmp_path / "m.png", "mask").read_bytes() == seg.mask_png
    assert backend.last.fields["method"] == b"gradient" and backend.last.model == "segment"


def test_saliency_passes_neuron_fields(client: Client, backend) -> None:
    backend.reply = proto_reply(heatmap())
    client.saliency(PNG, method="guided_backprop", layer="block6", channel=3, position="1,2")
    fields = backend.last.fields
    assert (fields["layer"], fields["channel"], fields["position"]) == (b"block6", b"3", b"1,2")
    assert "target" not in fields


@pytest.mark.parametrize("command, extra, expected", [
    ("occlusion", ["--patch", "8", "--fill", "zero", "--view", "overlay"], {"patch": b"8", "fill": b"zero"}),
    ("occlusion", ["--evaluate", "deletion", "--format", "json", "--evaluate-removal", "zero", "--evaluate-patch", "1"],
     {"evaluate": b"deletion", "evaluate_removal": b"zero", "evaluate_patch": b"1"}),
    ("segment", ["--method", "gradcam", "--view", "mask"], {"method": b"gradcam", "view": b"mask"}),
])
def test_cli_writes_the_servers_picture(servers, backend, transport, tmp_path: Path, command, extra, expected):
    image = tmp_path / "cat.png"
    image.write_bytes(PNG)
    backend.reply = Reply(b"picture", 200, "image/png")
    out_path = tmp_path / "out.png"
    code, out, err = run(servers, transport, command, str(image), "-o", str(out_path), *extra)
    assert (code, err) == (0, "") and out_path.read_bytes() == b"picture"
    assert len(backend.requests) == 1 and backend.last.model == command
    assert all(backend.last.fields[k] == v for k, v in expected.items())


def test_cli_saliency_layer_and_channel(servers, backend, transport, tmp_path: Path):
    image = tmp_path / "cat.png"
    image.write_bytes(PNG)
    backend.reply = Reply(b"picture", 200, "image/png")
    code, _, err = run(servers, transport, "saliency", str(image), "--layer", "block3", "--channel", "5",
                       "-o", str(tmp_path / "s.png"))
    assert (code, err) == (0, "")
    assert backend.last.fields["layer"] == b"block3" and backend.last.fields["channel"] == b"5"


def evaluated_heatmap() -> pb.Response:
    reply = heatmap(width=3, height=2)
    reply.heatmap.evaluation.extend([
        pb.Faithfulness(metric="deletion", auc=0.125, random_auc=0.375, fractions=[0, 0.5, 1],
                        probabilities=[0.5, 0.0, 0.0], random_probabilities=[0.5, 0.25, 0.0], removal="zero",
                        patch=8),
        pb.Faithfulness(metric="insertion", auc=0.25, random_auc=0.5, fractions=[0, 0.5, 1],
                        probabilities=[0.0, 0.0, 0.5], random_probabilities=[0.0, 0.5, 0.5])])
    return reply


def test_saliency_evaluation_is_typed_and_sent(client: Client, backend) -> None:
    backend.reply = proto_reply(evaluated_heatmap())
    heat = client.saliency(PNG, method="gradcam", evaluate="deletion,insertion", evaluate_steps=8,
                           evaluate_removal="zero", evaluate_patch=8)
    fields = backend.last.fields
    assert fields["evaluate"] == b"deletion,insertion" and fields["evaluate_steps"] == b"8"
    assert fields["evaluate_removal"] == b"zero" and fields["evaluate_patch"] == b"8"
    assert (heat.faithfulness["deletion"].removal, heat.faithfulness["deletion"].patch) == ("zero", 8)
    assert heat.to_dict()["evaluation"]["deletion"]["removal"] == "zero"
    deletion, insertion = heat.faithfulness["deletion"], heat.faithfulness["insertion"]
    assert (deletion.auc, deletion.random_auc, deletion.beats_random) == (0.125, 0.375, True)
    assert (insertion.auc, insertion.beats_random) == (0.25, False)  # below the random map's 0.5
    assert list(deletion.probabilities) == [0.5, 0.0, 0.0] and list(insertion.fractions) == [0, 0.5, 1]
    assert heat.to_dict()["evaluation"]["deletion"]["random_probabilities"] == [0.5, 0.25, 0.0]
    backend.reply = proto_reply(heatmap())
    assert client.saliency(PNG).faithfulness == {} and "evaluation" not in client.saliency(PNG).to_dict()


def test_cli_saliency_prints_the_aucs(servers, backend, transport, tmp_path: Path):
    image = tmp_path / "cat.png"
    image.write_bytes(PNG)
    backend.reply = proto_reply(evaluated_heatmap())
    code, out, err = run(servers, transport, "saliency", str(image), "--format", "json", "--evaluate",
                         "deletion,insertion", "--evaluate-removal", "mean", "--evaluate-patch", "4",
                         "-o", str(tmp_path / "s.json"))
    assert (code, err) == (0, "") and backend.last.fields["evaluate"] == b"deletion,insertion"
    assert backend.last.fields["evaluate_removal"] == b"mean" and backend.last.fields["evaluate_patch"] == b"4"
    assert "deletion:  AUC 0.125 (random map 0.375)" in out and "insertion: AUC 0.250 (random map 0.500)" in out
