"""The real-time student stylizers (issue 20): cost counted from the convolutions, ONNX = PyTorch, seamless tiles,
resumable distillation, variant resolution, and the shipped students against their teachers."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from tools.stylizers import distill, export, lite, nets, quality

from convlens.core.errors import InvalidParameter
from convlens.stylize import runtime
from convlens.synthesis.metrics import psnr
from test_style import randomized

STORE = Path(__file__).resolve().parents[2] / "model_store" / "stylizers"
STUDENTS = sorted(STORE.glob("*.lite.json"))


def conv_flops_per_pixel(model: torch.nn.Module, side: int = 64) -> float:
    """2 x multiply-adds of every Conv2d in one forward pass, counted by hooks, per input pixel."""
    total = 0

    def count(module: torch.nn.Conv2d, _inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        total += output.numel() * module.weight[0].numel()

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    try:
        with torch.no_grad():
            model(torch.rand(1, 3, side, side))
    finally:
        for h in hooks:
            h.remove()
    return 2.0 * total / side ** 2


def params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A tiny teacher `solo` and its exported tiny student `solo.lite`, as the server would load them."""
    folder = tmp_path_factory.mktemp("lite")
    torch.manual_seed(0)
    nets.save(nets.Stylizer(nets.NetConfig(width=4, blocks=1)), str(folder / "solo.pt"),
              {"styles": ["solo"], "recipe": "test"})
    export.export_checkpoint(folder / "solo.pt", folder)
    student = randomized(lite.LiteConfig(width=8, blocks=1))
    torch.save({"config": student.config.to_dict(), "state": student.state_dict(), "styles": ["solo"],
                "teacher": "solo", "recipe": "test", "steps": 0}, folder / "student.pt")
    export.export_checkpoint(folder / "student.pt", folder)
    return folder


def test_flops_formulas_count_what_the_convolutions_do():
    for config in (lite.LiteConfig(), lite.LiteConfig(width=8, blocks=2, styles=3)):
        assert conv_flops_per_pixel(lite.LiteStylizer(config)) == pytest.approx(lite.flops_per_pixel(config))
    assert conv_flops_per_pixel(nets.Stylizer(nets.SMALL)) == pytest.approx(nets.flops_per_pixel(nets.SMALL))


def test_student_is_fully_convolutional_and_sees_less_than_the_tile_margin():
    model = randomized(lite.LiteConfig(width=8, blocks=4))
    x = torch.rand(1, 3, 150, 150)
    assert model(x[..., :57, :83]).shape == (1, 3, 57, 83)
    # with the statistics held fixed (as tiles hold them), a pixel's change reaches output pixels no farther than
    # RECEPTIVE_RADIUS, which is under the tiles' margin: tiles stitch without seams
    x2 = x.clone()
    x2[..., 75, 75] += 1
    with torch.no_grad():
        stats = model.statistics(x)
        diff = (model(x2, fixed=stats) - model(x, fixed=stats)).abs().amax(dim=1)[0]
    ys, xs = np.nonzero(diff.numpy() > 0)
    reach = max(abs(ys - 75).max(), abs(xs - 75).max())
    assert 30 < reach <= lite.RECEPTIVE_RADIUS < runtime.MARGIN


def test_exported_student_matches_pytorch_and_tiles_without_seams(folder):
    library = runtime.StyleLibrary(folder, threads=1)
    model = library.models["solo.lite"]
    assert model.manifest["variant"] == "lite" and model.manifest["teacher"] == "solo"
    assert model.manifest["onnx_max_abs_diff"] < 1e-4 and model.manifest["fast_max_abs_diff"] < 1e-4
    torch_model, _ = lite.load(str(folder / "student.pt"))
    img = (np.random.default_rng(1).random((200, 270, 3)) * 255).astype(np.uint8)
    with torch.no_grad():
        want = torch_model(torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255)[0].permute(1, 2, 0).numpy()
    assert np.abs(runtime.stylize_array(model, img) - want).max() < 1e-4  # the fast graph
    whole, stats = model.run(runtime._pad4(runtime._chw(img)), None, None)
    assert np.abs(whole[0, :, :200, :270].transpose(1, 2, 0) - want).max() < 1e-4  # the statistics graph
    tiled = runtime.stylize_tiles(model, img, None, stats, tile=64, margin=48)
    assert np.abs(tiled - want).max() < 1e-4
    seamy = runtime.stylize_tiles(model, img, None, stats, tile=64, margin=8)  # the check above is not vacuous
    assert np.abs(seamy - want).max() > 1e-2


def test_library_resolves_the_variant_and_names_the_field(folder):
    library = runtime.StyleLibrary(folder, threads=1)
    assert library.variants() == ["full", "lite"]
    assert library.resolve("solo", None)[0].name == "solo"
    assert library.resolve("solo", None, "lite")[0].name == "solo.lite"
    described = {d["name"]: d for d in library.describe()}
    assert described["solo.lite"]["variant"] == "lite" and described["solo"]["variant"] == "full"
    only_full = runtime.StyleLibrary(folder, threads=1)
    only_full.models = only_full.variant("full")
    with pytest.raises(InvalidParameter) as err:
        only_full.resolve("solo", None, "lite")
    assert err.value.field == "variant" and "full" in err.value.message


def test_distillation_resumes_where_it_stopped(folder, tmp_path):
    """Two steps, then a resume to three, end with the weights of three steps in one go (the learning rate's
    schedule follows --steps, the crops the step number)."""
    common = [str(folder / "solo.json"), "--width", "4", "--blocks", "1", "--crop", "32", "--batch", "1",
              "--checkpoint-every", "1", "--threads", "1", "--steps", "3"]
    distill.main([*common, "--out", str(tmp_path / "straight.pt")])
    distill.main([*common, "--until", "2", "--out", str(tmp_path / "resumed.pt")])
    distill.main([*common, "--out", str(tmp_path / "resumed.pt"), "--resume"])
    a = torch.load(tmp_path / "straight.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed.pt", weights_only=True)
    assert a["steps"] == b["steps"] == 3 and a["teacher"] == "solo" and len(b["history"]) == 3
    assert all(torch.equal(a["state"][k], b["state"][k]) for k in a["state"])
    assert b["recipe"].startswith(distill.RECIPE + " ")


@pytest.mark.skipif(not STUDENTS, reason="no distilled students shipped")
@pytest.mark.parametrize("manifest_path", STUDENTS, ids=lambda p: p.stem)
def test_shipped_student_is_cheaper_and_paints_as_its_teacher(manifest_path):
    """At least 2.5x fewer FLOPs and parameters than the teacher (counted, not timed), and on a small gallery
    photo every style within its committed PSNR of the teacher's picture (the threshold: 0.5 dB under the
    measured worst style, and never under 22 dB)."""
    manifest = json.loads(manifest_path.read_text())
    teacher_manifest = json.loads((STORE / f"{manifest['teacher']}.json").read_text())
    student = export.model_from_onnx(STORE / manifest["file"], manifest["network"])
    teacher = export.model_from_onnx(STORE / teacher_manifest["file"], teacher_manifest["network"])
    assert conv_flops_per_pixel(teacher) / conv_flops_per_pixel(student) >= 2.5
    assert params(teacher) / params(student) >= 2.5
    library = runtime.StyleLibrary(STORE, threads=1)
    threshold = manifest["quality"]["check"]["min_psnr_db"]
    assert threshold >= 22
    got = quality.check_psnr(library.models[manifest["name"]], library.models[manifest["teacher"]])
    assert min(got.values()) >= threshold, got
    # and not by painting the photo back: the teacher's picture is far from the photo
    photo = quality.gallery_photos(quality.CHECK_SIDE)[0]
    style = manifest["styles"][0]
    painted = runtime.stylize(library.models[manifest["teacher"]], photo,
                              quality.style_weights(library.models[manifest["teacher"]], style))
    assert psnr(painted, photo) < threshold - 5
