"""The real-time student stylizers (issue 20): cost counted from the convolutions, ONNX = PyTorch, seamless tiles,
resumable distillation, variant resolution, and the shipped students against their teachers."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter
from tools.stylizers import distill, export, lite, nets, quality, student_style

from convlens.core.errors import InvalidParameter
from convlens.style.metrics import near_pure_share, palette_distance
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
    assert library.resolve("solo", None)[0].name == "solo.lite"  # the default: the student where there is one
    assert library.resolve("solo", None, "lite")[0].name == "solo.lite"
    assert library.resolve("solo", None, "full")[0].name == "solo"
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


def test_palette_term_is_the_reports_palette_distance_and_skips_blends():
    """The fine-tuning's palette term is the report's palette distance (the same sliced Wasserstein distance on
    other random directions): zero for the style image itself, near the report's figure for a photo, nothing for
    an image painted in a blend; and descending it moves a photo's palette toward the style."""
    style = student_style.reference("pointillism")
    photo = quality.gallery_photos(64)[1]
    term = student_style.PaletteTerm([style], seed=0)
    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.astype(np.float32) / 255).permute(2, 0, 1)[None]

    one = torch.tensor([[1.0]])
    assert float(term(tensor(style), one)) == 0
    assert float(term(tensor(photo), one)) == pytest.approx(palette_distance(photo, style), rel=0.3)
    assert float(term(tensor(photo).repeat(2, 1, 1, 1), torch.tensor([[0.5, 0.5], [0.3, 0.7]]))) == 0
    x = tensor(photo).requires_grad_(True)
    opt = torch.optim.Adam([x], lr=0.01)
    for _ in range(20):
        opt.zero_grad()
        term(x, one).backward()
        opt.step()
    after = student_style.palette_of(x.detach().clamp(0, 1), one, [style])
    assert after < 0.5 * palette_distance(photo, style)


def test_pure_penalty_is_zero_on_painted_pixels_and_grows_toward_pure_hues():
    grey, pastel, red = (torch.tensor(c).reshape(1, 3, 1, 1).float() for c in
                         ([0.5, 0.5, 0.5], [0.9, 0.5, 0.3], [1.0, 0.0, 0.0]))
    assert float(student_style.pure_penalty(grey)) == 0 and float(student_style.pure_penalty(pastel)) == 0
    margin = 1.0 - (0.85 - student_style.PURE_MARGIN)  # pure red's spread 1.0 over the penalty's start
    assert float(student_style.pure_penalty(red)) == pytest.approx(margin)
    assert near_pure_share(np.array([[[255, 0, 0]]], np.uint8)) == 1  # the report counts what the term penalizes


def test_better_style_bar_by_hand():
    """The issue's alternative bar: palette strictly closer, near-pure pixels no more, content kept."""
    row = {"palette": 0.002, "teacher_palette": 0.003, "extreme_share": 0.001, "teacher_extreme_share": 0.001,
           "content": 0.50, "teacher_content": 0.50}
    assert quality.better_style(row)
    assert not quality.better_style({**row, "palette": 0.003})  # a tie is not better
    assert not quality.better_style({**row, "extreme_share": 0.002})
    assert not quality.better_style({**row, "content": 0.50 * quality.CONTENT_SLACK + 0.01})  # washed out


def test_content_distance_is_zero_for_the_photo_and_grows_as_it_is_washed_out():
    photo = quality.gallery_photos(96)[0]
    content = quality.ContentDistance()
    flat = np.full_like(photo, int(photo.mean()))
    blurred = np.array(Image.fromarray(photo).filter(ImageFilter.GaussianBlur(3)))
    assert content(photo, photo) == 0
    assert 0 < content(blurred, photo) < content(flat, photo)


def test_finetuning_starts_from_the_exported_student(folder, tmp_path):
    """--init reads the student's weights back from its ONNX graph: a run whose one step cannot move them (lr 0)
    ends with exactly those weights, and its holdout PSNR equals the exported student's."""
    manifest = json.loads((folder / "solo.lite.json").read_text())
    start = export.model_from_onnx(folder / manifest["file"], manifest["network"])
    distill.main([str(folder / "solo.json"), "--init", str(folder / "solo.lite.json"), "--width", "8", "--blocks",
                  "1", "--crop", "32", "--batch", "1", "--steps", "1", "--lr", "0", "--threads", "1",
                  "--pure-weight", "1", "--out", str(tmp_path / "tuned.pt")])
    tuned = torch.load(tmp_path / "tuned.pt", weights_only=True)
    assert all(torch.equal(tuned["state"][k], v) for k, v in start.state_dict().items())
    assert tuned["recipe"].startswith(f"{manifest['recipe']} && {distill.RECIPE} ")  # how the start was made, too
    assert "--init" in tuned["recipe"].split(" && ")[-1]
    with pytest.raises(SystemExit, match="procedural patterns"):  # `solo` has no style image to match
        distill.main([str(folder / "solo.json"), "--init", str(folder / "solo.lite.json"), "--width", "8",
                      "--blocks", "1", "--steps", "1", "--palette-weight", "1", "--out", str(tmp_path / "x.pt")])


@pytest.mark.skipif(not STUDENTS, reason="no distilled students shipped")
@pytest.mark.parametrize("manifest_path", STUDENTS, ids=lambda p: p.stem)
def test_shipped_student_is_cheaper_and_paints_as_its_teacher(manifest_path):
    """At least 2.5x fewer FLOPs and parameters than the teacher (counted, not timed), and on a small gallery
    photo every style within its committed PSNR of the teacher's picture (the threshold: 0.5 dB under the
    measured worst style, and never under 21.5 dB: `mosaic4.lite` measures 22.3 dB since the fine-tuning for
    style)."""
    manifest = json.loads(manifest_path.read_text())
    teacher_manifest = json.loads((STORE / f"{manifest['teacher']}.json").read_text())
    student = export.model_from_onnx(STORE / manifest["file"], manifest["network"])
    teacher = export.model_from_onnx(STORE / teacher_manifest["file"], teacher_manifest["network"])
    assert conv_flops_per_pixel(teacher) / conv_flops_per_pixel(student) >= 2.5
    assert params(teacher) / params(student) >= 2.5
    library = runtime.StyleLibrary(STORE, threads=1)
    threshold = manifest["quality"]["check"]["min_psnr_db"]
    assert threshold >= 21.5
    got = quality.check_psnr(library.models[manifest["name"]], library.models[manifest["teacher"]])
    assert min(got.values()) >= threshold, got
    # and not by painting the photo back: the teacher's picture is far from the photo
    photo = quality.gallery_photos(quality.CHECK_SIDE)[0]
    style = manifest["styles"][0]
    painted = runtime.stylize(library.models[manifest["teacher"]], photo,
                              quality.style_weights(library.models[manifest["teacher"]], style))
    assert psnr(painted, photo) < threshold - 5


@pytest.mark.skipif(not STUDENTS, reason="no distilled students shipped")
def test_students_are_the_default_only_where_their_quality_holds():
    """`stylize` runs the students by default only because every shipped student's quality report (the manifest's,
    4 gallery photos at 512 px) meets the issue's bar on every style: 30 dB to the teacher or better style metrics."""
    reports = {p.stem: json.loads(p.read_text())["quality"]["styles"] for p in STUDENTS}
    assert runtime.DEFAULT_VARIANT == "lite"
    assert all(quality.holds(row) for styles in reports.values() for row in styles.values()), reports


@pytest.mark.skipif(not STUDENTS, reason="no distilled students shipped")
@pytest.mark.parametrize("manifest_path", STUDENTS, ids=lambda p: p.stem)
def test_shipped_student_paints_the_style_closer_than_its_teacher(manifest_path):
    """On the gallery photos at 128 px, every style: the student's palette closer to the style image than its
    teacher's, with no more near-pure pixels (the report's metrics, measured here, not read from the manifest)."""
    manifest = json.loads(manifest_path.read_text())
    library = runtime.StyleLibrary(STORE, threads=1)
    student, teacher = library.models[manifest["name"]], library.models[manifest["teacher"]]
    photos = quality.gallery_photos(quality.CHECK_SIDE)
    for style in student.styles:
        reference = student_style.reference(style)
        ours, theirs = ([runtime.stylize(m, photo, quality.style_weights(m, style)) for photo in photos]
                        for m in (student, teacher))
        assert (np.mean([palette_distance(a, reference) for a in ours])
                < np.mean([palette_distance(b, reference) for b in theirs])), style
        assert (np.mean([near_pure_share(a) for a in ours]) <= np.mean([near_pure_share(b) for b in theirs])), style
