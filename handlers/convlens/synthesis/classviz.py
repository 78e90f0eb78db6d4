"""Feature visualization: images that maximize a class score (Simonyan et al. 2014), an inner channel or one
neuron. Two recipes: Olah et al. 2017 (Lucid), the default: a colour-decorrelated Fourier parameterization
optimized with Adam under random padding, jitter, scaling and rotation, optionally several images pushed apart
by a diversity term; and Yosinski et al. 2015 on pixels (`param=pixel`): normalized gradient steps with L2 decay,
Gaussian blur every k steps, clipping of small-norm / small-contribution pixels and jitter."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from convlens.core.backbones import Backbone
from convlens.core.classify import predictions_from_logits
from convlens.core.errors import InvalidParameter
from convlens.core.progress import Deadline, ProgressCallback

from . import regularizers as reg
from .common import Steps, generator, to_float_hwc, to_uint8
from .image_param import FourierParam, PixelParam
from .objectives import DIVERSITY, Objective, diversity
from .results import SynthesisResult
from .transforms import Robustness

FOURIER_LR = 0.005  # Adam on the spectrum: at 0.05 with 1/f^2, 90 % of the pixels clip (measured, issue 17)
PIXEL_LR = 0.05  # Yosinski's mean pixel change per step
SCALES = (0.75, 1.25)  # random zoom per step (Lucid: 0.9-1.1); wider: 6/8 classes survive, not 5/8 (issue 17)
RESOLUTION = (0.75, 1.0)  # seen at 75-100 % of its pixels, a random low-pass: 8/8 survive (was 6/8), 7/8 at seeds 1, 2


@dataclass(frozen=True)
class Recipe:
    """How the images are optimized: the parameterization and its step, priors and transformations."""

    param: str = "fourier"
    steps: int = 256
    lr: float = FOURIER_LR
    l2: float = 0.0
    blur_every: int = 0
    blur_sigma: float = 0.5
    jitter: int = 8
    clip_norm_pct: float = 0.0
    clip_contrib_pct: float = 0.0
    diversity: float = DIVERSITY
    decay_power: float = 2.0  # Lucid: 1; 1/f^2 keeps the class through a halving (5/8 classes vs 3/8, issue 17)
    diversity_layer: str | None = None


def recipe(param: str = "fourier", *, steps: int | None = None, lr: float | None = None, l2: float | None = None,
           blur_every: int | None = None, diversity: float | None = None, **options: Any) -> Recipe:
    """A recipe with each parameterization's own defaults for what is not given (pixel: 100 steps, lr PIXEL_LR,
    L2 1e-3, blur every 4 steps, no diversity; fourier: 256 steps, lr FOURIER_LR, no L2, no blur, diversity
    DIVERSITY); 400 for a pixel-only option with fourier."""
    pixel = param == "pixel"
    r = Recipe(param=param, steps=steps or (100 if pixel else 256),
               lr=(PIXEL_LR if pixel else FOURIER_LR) if lr is None else lr,
               l2=(1e-3 if pixel else 0.0) if l2 is None else l2,
               blur_every=(4 if pixel else 0) if blur_every is None else blur_every,
               diversity=(0.0 if pixel else DIVERSITY) if diversity is None else diversity, **options)
    if not pixel:
        for name in ("blur_every", "clip_norm_pct", "clip_contrib_pct"):
            if getattr(r, name):
                raise InvalidParameter(name, "blur and pixel clipping apply to param=pixel only")
    return r


def classviz(backbone: Backbone, objective: Objective, *, size: int = 128, count: int = 1, seed: int = 0,
             batch_size: int = 4, progress: ProgressCallback | None = None, deadline: Deadline | None = None,
             **options: Any) -> SynthesisResult:
    """`count` images (seeds seed, seed+1, ...) that maximize the objective, in batches of `batch_size` (the
    diversity term acts within a batch). `options`: the Recipe's fields (`param`, `steps`, `lr`, ...); absent
    ones take the parameterization's defaults (see `recipe`)."""
    objective.check(backbone)
    r = recipe(**options)
    if r.diversity_layer is not None:
        backbone.layer(r.diversity_layer, "diversity_layer")
    gens = [generator(seed + i) for i in range(count)]
    tracker = Steps(r.steps * ((count + batch_size - 1) // batch_size), progress, deadline)
    images, first_scores, last_scores, logits_all = [], [], [], []
    for start in range(0, count, batch_size):
        x, first, last, logits = _optimize(backbone, objective, gens[start:start + batch_size], size, r, tracker)
        images.append(x)
        first_scores += first
        last_scores += last
        if logits is not None:
            logits_all.append(logits)
    x = torch.cat(images)
    result_images = [(f"seed {seed + i}", to_uint8(x[i])) for i in range(count)]
    metrics = {"initial_score": sum(first_scores) / count, "final_score": sum(last_scores) / count}
    predicted = []
    if objective.kind == "class":
        assert objective.target is not None
        logits = torch.cat(logits_all)
        probs = torch.softmax(logits, dim=1)[:, objective.target]
        metrics["target_probability"] = float(probs.mean())
        predicted = predictions_from_logits(backbone, logits[0], [objective.target, int(logits[0].argmax())])
    return SynthesisResult(technique="classviz", backbone=backbone.name, images=result_images, metrics=metrics,
                           steps=r.steps, layer=objective.layer or "", seed=seed, predicted=predicted,
                           raw=to_float_hwc(x))


def diversity_layer(backbone: Backbone, objective: Objective, r: Recipe) -> str:
    """Where the diversity term compares images: as asked, else the objective's layer, else the middle layer."""
    if r.diversity_layer:
        return r.diversity_layer
    names = list(backbone.layers)
    return objective.layer if objective.kind != "class" and objective.layer else names[len(names) // 2]


def network_view(backbone: Backbone, size: int, jitter: int) -> Robustness:
    """The transforms at the scale `classify` looks at the picture (shorter side resized, centre crop), so the
    structure is made at the size the network will see it."""
    prep = backbone.preprocessing
    zoom = prep.resize / size
    return Robustness(jitter=jitter, pad=(prep.crop / zoom - size) / 2, scales=SCALES, zoom=zoom,
                      resolution=RESOLUTION)


def transforms_summary() -> str:
    """What `param=fourier` draws each step, in words (describe() shows it), from the constants above."""
    degrees = Robustness().degrees
    return (f"param=fourier: random pad, jitter, scale {SCALES[0]:g}-{SCALES[1]:g}, rotation up to {degrees:g} "
            f"degrees, resolution {RESOLUTION[0]:.0%}-{RESOLUTION[1]:.0%} of the pixels")


def _optimize(backbone: Backbone, objective: Objective, gens: list[torch.Generator], size: int, r: Recipe,
              tracker: Steps) -> tuple[torch.Tensor, list[float], list[float], torch.Tensor | None]:
    device = backbone.device
    n = len(gens)
    mean = torch.tensor(backbone.preprocessing.mean, device=device).view(1, 3, 1, 1)
    image: FourierParam | PixelParam
    pixels: torch.Tensor | None = None  # what Yosinski's update moves in place (param=pixel)
    if r.param == "fourier":
        image = FourierParam(n, (size, size), gens, device, decay_power=r.decay_power)
        optimizer = torch.optim.Adam(image.parameters(), lr=r.lr)
    else:
        image = PixelParam.grey_noise(n, (size, size), gens, device)
        pixels = image.x
    transform = network_view(backbone, size, r.jitter)
    extra = diversity_layer(backbone, objective, r) if r.diversity and n > 1 else None
    first: list[float] = []
    scores = torch.zeros(n, device=device)
    for step in range(r.steps):
        tracker.check()
        with torch.enable_grad():
            x = image.image()
            seen = transform(x, gens) if pixels is None else reg.roll(x, reg.random_shifts(gens, r.jitter))
            scores, _, acts = objective.score(backbone, seen, extra)
            total = scores.sum()
            if r.l2:
                total = total - r.l2 * ((x - mean) ** 2).flatten(1).sum(dim=1).sum()
            if acts is not None:
                total = total - r.diversity * n * diversity(acts)
            if pixels is None:
                optimizer.zero_grad()
                (-total).backward()
            else:
                (grad,) = torch.autograd.grad(total, pixels)
        if step == 0:
            first = scores.detach().tolist()
        if pixels is None:
            optimizer.step()
        else:
            _pixel_step(pixels, grad, mean, step, r)
        tracker.step(float(scores.detach().mean()), picture=image.image)
    with torch.no_grad():
        x = image.image().detach()
        final, logits, _ = objective.score(backbone, transform.still()(x, gens) if pixels is None else x)
    return x, first, final.tolist(), None if logits is None else logits.detach()


def _pixel_step(x: torch.Tensor, grad: torch.Tensor, mean: torch.Tensor, step: int, r: Recipe) -> None:
    """Yosinski's update in place: a step of mean size `lr`, then blur and clipping of the centred image."""
    with torch.no_grad():
        grad_scale = grad.abs().flatten(1).mean(dim=1).view(-1, 1, 1, 1) + 1e-12
        centered = x + r.lr * grad / grad_scale - mean
        if r.blur_every and (step + 1) % r.blur_every == 0:
            centered = reg.gaussian_blur(centered, r.blur_sigma)
        centered = reg.clip_small_norm(centered, r.clip_norm_pct)
        centered = reg.clip_small_contribution(centered, grad, r.clip_contrib_pct)
        x.copy_((centered + mean).clamp(0, 1))


__all__ = ["FOURIER_LR", "PIXEL_LR", "RESOLUTION", "SCALES", "Objective", "Recipe", "classviz", "recipe"]
