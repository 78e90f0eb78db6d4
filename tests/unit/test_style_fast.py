"""The stylizers' fast single-tile graph and execution-provider choice (issue 8): same output, chosen when it may be."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from tools.stylizers import export, fastgraph, nets

from convlens.stylize import runtime
from test_style import library  # noqa: F401 - the module fixture of exported tiny nets

STORE = Path(__file__).resolve().parents[2] / "model_store" / "stylizers"


def ops(path: Path) -> set[str]:
    return {node.op_type for node in onnx.load(str(path)).graph.node}


def test_fast_graph_fuses_the_norms_and_has_no_statistics(library):  # noqa: F811 - `library` is the fixture imported from test_style
    for model in library.models.values():
        assert model.fast_path is not None and model.manifest["fast_max_abs_diff"] < 1e-4
        assert "InstanceNormalization" in ops(model.fast_path) and "ReduceMean" not in ops(model.fast_path)
        assert {"SpaceToDepth", "DepthToSpace"} <= ops(model.fast_path)
        assert "InstanceNormalization" not in ops(model.path) and "ReduceMean" in ops(model.path)
        session = model.session(fast=True)
        assert [i.name for i in session.get_inputs()] == ["image", *(["weights"] if model.multi else [])]
        assert [o.name for o in session.get_outputs()] == ["stylized"]


@pytest.mark.parametrize("kernel", [1, 3, 9])
def test_output_conv_at_half_resolution_is_the_same_conv(kernel):
    torch.manual_seed(kernel)
    conv = torch.nn.Conv2d(5, 3, kernel)
    x = torch.randn(2, 5, 20 + kernel - 1, 24 + kernel - 1)
    weight, bias = fastgraph.space_to_depth_conv(conv)
    assert weight.shape == (12, 20, kernel // 2 + 1, kernel // 2 + 1)
    with torch.no_grad():
        rewritten = fastgraph.DepthToSpace.apply(
            torch.nn.functional.conv2d(fastgraph.SpaceToDepth.apply(x), weight, bias))
        assert torch.allclose(rewritten, conv(x)[..., :20, :24], atol=1e-5)
    assert torch.equal(fastgraph.DepthToSpace.apply(fastgraph.SpaceToDepth.apply(x[..., :20, :24])), x[..., :20, :24])


@pytest.mark.parametrize("name", ["one", "trio"])
def test_fast_graph_equals_the_statistics_graph_and_pytorch(library, name):  # noqa: F811 - `library` is the fixture imported from test_style
    model = library.models[name]
    torch_model, _ = nets.load(str(library.folder / f"{name}.pt"))
    weights = np.array([0.2, 0.5, 0.3], np.float32) if model.multi else None
    image = runtime._chw((np.random.default_rng(4).random((72, 100, 3)) * 255).astype(np.uint8))
    fast = model.run_own(image, weights)
    stats_graph = model.run(image, weights, None)[0]
    with torch.no_grad():
        want = torch_model(torch.from_numpy(image), None if weights is None else torch.from_numpy(weights)).numpy()
        fused = torch_model.fused(torch.from_numpy(image),
                                  None if weights is None else torch.from_numpy(weights)[None]).numpy()
    assert np.abs(fast - stats_graph).max() < 1e-4 and np.abs(fast - want).max() < 1e-4
    assert np.abs(fused - want).max() < 1e-5  # the fused PyTorch path is the written-out one
    if model.multi:  # the blend reaches the fast graph
        assert np.abs(fast - model.run_own(image, np.array([1.0, 0.0, 0.0], np.float32))).max() > 1e-3


def test_every_shipped_network_has_its_fast_graph():
    for manifest in (json.loads(p.read_text()) for p in STORE.glob("*.json")):
        assert manifest["fast_file"] == f"{manifest['name']}.fast.onnx" and manifest["fast_max_abs_diff"] < 1e-4
        assert (STORE / manifest["fast_file"]).stat().st_size < 2_000_000


@pytest.mark.parametrize("name", ["stained_glass", "mosaic4"])
def test_shipped_fast_graphs_equal_their_statistics_graphs(name):
    model = runtime.StyleLibrary(STORE, threads=1).models[name]
    weights = np.array([0.1, 0.2, 0.3, 0.4], np.float32) if model.multi else None
    image = runtime._chw((np.random.default_rng(5).random((64, 96, 3)) * 255).astype(np.uint8))
    assert np.abs(model.run_own(image, weights) - model.run(image, weights, None)[0]).max() < 1e-4


def test_single_tiles_run_the_fast_graph_and_tiles_the_statistics_graph(library):  # noqa: F811 - `library` is the fixture imported from test_style
    manifest = library.models["one"].manifest
    image = (np.random.default_rng(6).random((96, 120, 3)) * 255).astype(np.uint8)
    model = runtime.StylizerModel(manifest, library.folder / manifest["file"], threads=1)
    whole = runtime.stylize_array(model, image, tile=128)
    assert set(model._sessions) == {"fast"}
    model = runtime.StylizerModel(manifest, library.folder / manifest["file"], threads=1)
    tiled = runtime.stylize_array(model, image, tile=64, thumbnail=128)  # thumbnail = the image itself
    assert set(model._sessions) == {"stats"}
    assert np.abs(tiled - whole).max() < 1e-4
    # an export without a fast graph (older manifests) still serves, from the statistics graph
    old = {k: v for k, v in manifest.items() if k not in ("fast_file", "fast_max_abs_diff")}
    model = runtime.StylizerModel(old, library.folder / manifest["file"], threads=1)
    assert np.abs(runtime.stylize_array(model, image, tile=128) - whole).max() < 1e-4
    assert set(model._sessions) == {"stats"}


def test_add_fast_derives_the_graph_from_the_onnx_weights(library, tmp_path):  # noqa: F811 - `library` is the fixture imported from test_style
    for suffix in (".onnx", ".json"):
        shutil.copy(library.folder / f"trio{suffix}", tmp_path / f"trio{suffix}")
    manifest = json.loads((tmp_path / "trio.json").read_text())
    (tmp_path / "trio.json").write_text(json.dumps({k: v for k, v in manifest.items() if k != "fast_file"}))
    export.main(["--add-fast", str(tmp_path / "trio.json")])
    assert json.loads((tmp_path / "trio.json").read_text())["fast_file"] == "trio.fast.onnx"
    model = runtime.StyleLibrary(tmp_path, threads=1).models["trio"]
    image = runtime._chw((np.random.default_rng(7).random((48, 52, 3)) * 255).astype(np.uint8))
    weights = np.array([0.6, 0.0, 0.4], np.float32)
    assert np.abs(model.run_own(image, weights) - library.models["trio"].run(image, weights, None)[0]).max() < 1e-4


# --- execution providers ------------------------------------------------------------------------------------------

GPU_BUILD = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


@pytest.mark.parametrize("cuda, tensorrt, listed, want", [
    (False, True, GPU_BUILD, ["CPUExecutionProvider"]),  # no GPU: CPU only, though the GPU build lists the others
    (True, True, GPU_BUILD, GPU_BUILD),
    (True, False, GPU_BUILD, ["CUDAExecutionProvider", "CPUExecutionProvider"]),  # TensorRT libraries missing
    (True, True, ["CPUExecutionProvider"], ["CPUExecutionProvider"]),  # CPU-only onnxruntime
])
def test_provider_choice(monkeypatch, cuda, tensorrt, listed, want):
    monkeypatch.setattr(runtime, "_cuda_usable", lambda: cuda)
    monkeypatch.setattr(runtime, "_tensorrt_present", lambda: tensorrt)
    monkeypatch.setattr(ort, "get_available_providers", lambda: listed)
    assert runtime.providers() == want


def test_this_machine_without_a_gpu_runs_on_the_cpu():
    if runtime._cuda_usable():
        pytest.skip("a GPU is present")
    assert runtime.providers() == ["CPUExecutionProvider"]


def test_tensorrt_options_build_fp16_engines_for_every_input(library):  # noqa: F811 - `library` is the fixture imported from test_style
    manifest = library.models["trio"].manifest
    stats_graph = dict(runtime.provider_options(GPU_BUILD, manifest, fast=False))
    fast_graph = dict(runtime.provider_options(GPU_BUILD, manifest, fast=True))
    assert stats_graph["TensorrtExecutionProvider"]["trt_fp16_enable"] is True
    assert stats_graph["CUDAExecutionProvider"] == {"device_id": 0} and stats_graph["CPUExecutionProvider"] == {}
    max_shapes = stats_graph["TensorrtExecutionProvider"]["trt_profile_max_shapes"].split(",")
    assert "image:1x3x608x608" in max_shapes and "weights:1x3" in max_shapes
    assert len(max_shapes) == 2 + len(manifest["stats_channels"]) and "stats_0:1x4x1x1" in max_shapes
    assert fast_graph["TensorrtExecutionProvider"]["trt_profile_min_shapes"] == "image:1x3x32x32,weights:1x3"
    # dynamic batching feeds the fast graph up to MAX_BATCH images; tiles run one at a time
    assert f"image:{runtime.MAX_BATCH}x3x608x608" in fast_graph["TensorrtExecutionProvider"]["trt_profile_max_shapes"]


def test_gpu_providers_run_on_the_gpu_torchserve_assigned(library):  # noqa: F811 - `library` is the fixture imported from test_style
    manifest = library.models["trio"].manifest
    options = dict(runtime.provider_options(GPU_BUILD, manifest, fast=True, device_id=3))
    assert options["CUDAExecutionProvider"]["device_id"] == 3
    assert options["TensorrtExecutionProvider"]["device_id"] == 3


def test_a_gpu_provider_that_fails_to_start_falls_back_to_the_cpu(library, monkeypatch):  # noqa: F811 - `library` is the fixture imported from test_style
    real = ort.InferenceSession
    asked: list[list[str]] = []

    def session(path, sess_options=None, providers=None):
        names = [p if isinstance(p, str) else p[0] for p in providers]
        asked.append(names)
        if names != ["CPUExecutionProvider"]:
            raise RuntimeError("libcudnn.so.9: cannot open shared object file")
        return real(path, sess_options=sess_options, providers=providers)

    monkeypatch.setattr(runtime, "providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(ort, "InferenceSession", session)
    manifest = library.models["one"].manifest
    model = runtime.StylizerModel(manifest, library.folder / manifest["file"], threads=1)
    out = runtime.stylize_array(model, np.full((40, 40, 3), 100, np.uint8))
    assert out.shape == (40, 40, 3)
    assert asked == [["CUDAExecutionProvider", "CPUExecutionProvider"], ["CPUExecutionProvider"]]


def test_served_sessions_do_not_spin_idle_threads():
    """Spinning pools steal the shared cores from the frontend and the other workers between requests."""
    assert runtime.session_options(2).get_session_config_entry("session.intra_op.allow_spinning") == "0"
