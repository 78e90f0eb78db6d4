"""Arbitrary-style stylizer (issue 19, training half): encoder + CIN transformer shapes, a style encoded once equals
recomputed, styles matter, the transformer exports with the existing ONNX tools, the procedural style sampler, and
the resumable trainer (2 steps at 64 px, resumed for 1 more)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage import data
from tools.stylizers import arbitrary, export, nets, patterns, style_sampler, train_arbitrary

TINY = nets.NetConfig(width=4, blocks=1)
ENC = arbitrary.EncoderConfig(hidden=16, embed=8, style_size=64)


@pytest.fixture(scope="module")
def features() -> arbitrary.StyleFeatures:
    torch.set_num_threads(1)
    return arbitrary.StyleFeatures(ENC)


def randomized(seed: int = 0) -> arbitrary.ArbitraryStylizer:
    """A tiny model whose embedding rows are large enough for styles to visibly differ (a fresh one starts near 0)."""
    torch.manual_seed(seed)
    model = arbitrary.ArbitraryStylizer(TINY, ENC).eval()
    with torch.no_grad():
        for m in model.transformer.modules():
            if isinstance(m, nets.CondInstanceNorm):
                m.scale[:-1].normal_(0, 0.3)
                m.shift[:-1].normal_(0, 0.3)
    return model


def style(name: str, seed: int = 0) -> torch.Tensor:
    return arbitrary.style_tensor(patterns.make(name, 64, seed), ENC.style_size)


def test_shapes(features):
    model = randomized()
    stats = features.statistics(torch.cat([style("stained_glass"), style("pointillism")]))
    assert stats.shape == (2, 2 * sum(ENC.channels))
    vector = model.style_vector(stats)
    assert vector.shape == (2, ENC.embed + 1) and torch.all(vector[:, -1] == 1)
    assert model.config.styles == ENC.embed + 1 and model.config.width == TINY.width
    x = torch.rand(2, 3, 37, 50)
    assert model(x, vector).shape == (2, 3, 37, 50)


def test_style_encoded_once_equals_recomputed_and_styles_differ(features):
    model = randomized()
    photos = torch.rand(3, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        cached = model.style_vector(features.statistics(style("brush_flow")))
        once = model(photos, cached.expand(3, -1))
        again = torch.cat([model(photos[k:k + 1], model.style_vector(features.statistics(style("brush_flow"))))
                           for k in range(3)])
        other = model(photos, model.style_vector(features.statistics(style("stained_glass"))).expand(3, -1))
    assert torch.allclose(once, again, atol=1e-6)
    assert (once - other).abs().mean() > 1e-3


def test_transformer_exports_with_the_existing_onnx_tools(tmp_path, features):
    """The embedding goes in through the multi-style net's `weights` input: same network, same export."""
    model = randomized()
    path = tmp_path / "t.pt"
    arbitrary.transformer_checkpoint(model, path, {"steps": 5, "recipe": "r"})
    plain, ckpt = nets.load(str(path))
    assert ckpt["styles"][-1] == "bias" and len(ckpt["styles"]) == ENC.embed + 1
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        vector = model.style_vector(features.statistics(style("cubist")))
        assert torch.allclose(plain(x, vector), model(x, vector), atol=1e-6)
    assert export.max_abs_diff(plain, export.export_onnx(plain), sizes=((32, 40),)) < 1e-4


def test_patterns_recolour_and_keep_their_defaults():
    for name in patterns.PATTERNS:
        default = patterns.make(name, 64, seed=3)
        assert np.array_equal(default, patterns.make(name, 64, seed=3, palette=patterns.PALETTES[name]))
        recoloured = patterns.make(name, 64, seed=3, palette=[(255, 0, 0), (0, 255, 0), (0, 0, 255)] * 2)
        assert not np.array_equal(default, recoloured)


def test_sampler_is_deterministic_covers_families_and_keeps_the_holdout_out():
    photos = {"brick": np.full((80, 90, 3), 0.5, np.float32), "grass": np.random.default_rng(0).random((80, 90, 3))}
    kw = dict(size=48, holdout=("cubist", "plaid", "brick"), photos=photos, photo_share=0.2)
    a, b = style_sampler.StyleSampler(seed=1, **kw), style_sampler.StyleSampler(seed=1, **kw)
    draws = [a.draw(k) for k in range(40)]
    assert all(n == m and np.array_equal(x, y) for (n, x), (m, y) in zip(draws, [b.draw(k) for k in range(40)]))
    assert all(x.shape == (48, 48, 3) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1 for _, x in draws)
    families = {n.split(":")[0] for n, _ in draws}
    assert len(families - {"photo"}) >= 6 and not families & {"cubist", "plaid"}
    assert "photo:brick" not in {n for n, _ in draws}
    assert not np.array_equal(draws[0][1], style_sampler.StyleSampler(seed=2, **kw).draw(0)[1])
    held = {n.split(":")[0] if not n.startswith("photo") else n for n, _ in a.eval_styles(6)}
    assert held == {"cubist", "plaid", "photo:brick"}
    assert [n for n, _ in a.batch(3, 2)] == [draws[6][0], draws[7][0]]


def test_training_two_steps_then_resuming_continues_steps_optimizer_and_recipe(tmp_path):
    out, more = tmp_path / "a.pt", tmp_path / "b.pt"
    common = ["--width", "4", "--blocks", "1", "--embed", "8", "--hidden", "16", "--crop", "64", "--style-size",
              "64", "--batch", "2", "--threads", "1", "--device", "cpu", "--eval", "2", "--log-every", "1"]
    first = [*common, "--steps", "2", "--out", str(out)]
    train_arbitrary.main(first)
    model, ckpt = arbitrary.load(out)
    assert ckpt["steps"] == 2 and ckpt["recipe"] == f"{train_arbitrary.RECIPE} {' '.join(first)}"
    assert len(ckpt["evals"]) == 1 and ckpt["evals"][0][0] == 2 and np.isfinite(ckpt["evals"][0][1:]).all()
    assert ckpt["optimizer"]["state"] and json.loads(ckpt["args"])["batch"] == 2
    assert out.with_suffix(".preview.png").stat().st_size > 0
    assert float(model.encoder.spread.min()) > 0 and float(model.encoder.center.abs().sum()) > 0  # standardized

    train_arbitrary.main([*common, "--steps", "1", "--init", str(out), "--out", str(more)])
    resumed, ckpt2 = arbitrary.load(more)
    assert ckpt2["steps"] == 3 and ckpt2["recipe"].startswith(ckpt["recipe"] + f" && {train_arbitrary.RECIPE} ")
    assert [e[0] for e in ckpt2["evals"]] == [2, 3]
    assert int(ckpt2["optimizer"]["state"][0]["step"]) == 3  # Adam's moments carried over, not restarted
    assert torch.equal(resumed.encoder.center, model.encoder.center)
    assert not all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), resumed.state_dict().values()))
    with pytest.raises(SystemExit, match="differ"):
        train_arbitrary.main([*common, "--width", "8", "--steps", "1", "--init", str(out),
                              "--out", str(tmp_path / "x.pt")])


def test_the_committed_checkpoint_loads_resumes_and_paints_held_out_styles():
    """tools/stylizers/checkpoints/arbitrary.pt (the training's latest weights, to resume with --init) loads, and on
    styles it never trained on (held-out families) its output's colour distribution moves from the photo's toward
    the style's."""
    path = Path(__file__).resolve().parents[2] / "tools" / "stylizers" / "checkpoints" / "arbitrary.pt"
    model, ckpt = arbitrary.load(path)
    assert ckpt["steps"] > 0 and ckpt["recipe"].startswith("python -m tools.stylizers.train_arbitrary")
    assert {"cubist", "plaid"} <= set(ckpt["holdout"])
    features = arbitrary.StyleFeatures(model.encoder.config)
    photo = torch.from_numpy(data.chelsea()[::4, ::4].copy()).permute(2, 0, 1)[None].float() / 255
    for name, picture in (("cubist", patterns.make("cubist", 128, 1)), ("plaid", style_sampler.plaid(128, 1))):
        styled = arbitrary.style_tensor(picture, model.encoder.config.style_size)
        with torch.no_grad():
            out = model(photo, model.style_vector(features.statistics(styled)))
        assert out.shape == photo.shape and 0 <= float(out.min()) and float(out.max()) <= 1
        assert palette_distance(out, styled) < palette_distance(photo, styled), name


def palette_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean gap between the two pictures' per-channel colour quantiles (a 1-D Wasserstein distance per channel)."""
    q = torch.linspace(0, 1, 101)
    return float(sum((torch.quantile(a[0, c].flatten(), q) - torch.quantile(b[0, c].flatten(), q)).abs().mean()
                     for c in range(3)) / 3)
