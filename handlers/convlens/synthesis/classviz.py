"""Class and neuron visualization: synthesize images that maximize an unnormalized class score (Simonyan et
al. 2014) or an inner channel's mean activation, with the regularizers of Yosinski et al. 2015 (L2 decay,
Gaussian blur every k steps, clipping of small-norm / small-contribution pixels), jitter, and optionally a
colour-decorrelated Fourier parameterization (Olah et al. 2017)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from convlens.core.backbones import Backbone
from convlens.core.classify import predictions_from_logits
from convlens.core.errors import InvalidParameter
from convlens.core.progress import Deadline, ProgressCallback

from . import regularizers as reg
from .common import Steps, features, generator, to_float_hwc, to_uint8
from .image_param import FourierParam, PixelParam
from .results import SynthesisResult


@dataclass(frozen=True)
class Objective:
    """What to maximize: a class score (`target`), or the mean of `channel` at `layer`."""

    target: int | None = None
    layer: str | None = None
    channel: int | None = None

    def check(self, backbone: Backbone) -> None:
        if self.target is None and (self.layer is None or self.channel is None):
            raise InvalidParameter("target", "give a class `target`, or a `layer` and a `channel`")
        if self.layer is not None:
            backbone.layer(self.layer)

    def score(self, backbone: Backbone, x01: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Per-image objective (N,), and the logits when a class is the objective."""
        if self.target is not None:
            _, logits = features(backbone, x01, [], logits=True)
            return logits[:, self.target], logits
        layer, channel = self.layer, self.channel
        if layer is None or channel is None:
            raise InvalidParameter("target", "give a class `target`, or a `layer` and a `channel`")
        acts, _ = features(backbone, x01, [layer])
        act = acts[layer]
        if not 0 <= channel < act.shape[1]:
            raise InvalidParameter("channel", f"layer {self.layer} has channels 0..{act.shape[1] - 1}, "
                                              f"got {self.channel}")
        return act[:, self.channel].flatten(1).mean(dim=1), None


def classviz(backbone: Backbone, objective: Objective, *, size: int = 128, steps: int = 100, lr: float = 0.05,
             l2: float = 1e-3, blur_every: int | None = None, blur_sigma: float = 0.5, jitter: int = 8,
             clip_norm_pct: float = 0.0, clip_contrib_pct: float = 0.0, param: str = "pixel", count: int = 1,
             seed: int = 0, batch_size: int = 4, progress: ProgressCallback | None = None,
             deadline: Deadline | None = None) -> SynthesisResult:
    """`count` images (seeds seed, seed+1, ...) that maximize the objective, in batches of `batch_size`.

    Pixel parameterization: gradient ascent on S(x) - l2 * ||x - mean||^2 with the step normalized by the mean
    absolute gradient (so `lr` is the mean pixel change per step, in [0, 1] units), clipped to valid pixels.
    Fourier: Adam on the spectrum with learning rate `lr`; blur and clipping do not apply.
    """
    objective.check(backbone)
    if blur_every is None:
        blur_every = 4 if param == "pixel" else 0
    if param == "fourier" and (blur_every or clip_norm_pct or clip_contrib_pct):
        field = "blur_every" if blur_every else ("clip_norm_pct" if clip_norm_pct else "clip_contrib_pct")
        raise InvalidParameter(field, "blur and pixel clipping apply to param=pixel only")
    gens = [generator(seed + i) for i in range(count)]
    tracker = Steps(steps * ((count + batch_size - 1) // batch_size), progress, deadline)
    images, first_scores, last_scores, logits_all = [], [], [], []
    for start in range(0, count, batch_size):
        batch = gens[start:start + batch_size]
        x, first, last, logits = _optimize(backbone, objective, batch, size, steps, lr, l2, blur_every,
                                           blur_sigma, jitter, clip_norm_pct, clip_contrib_pct, param, tracker)
        images.append(x)
        first_scores += first
        last_scores += last
        if logits is not None:
            logits_all.append(logits)
    x = torch.cat(images)
    result_images = [(f"seed {seed + i}", to_uint8(x[i])) for i in range(count)]
    metrics = {"initial_score": sum(first_scores) / count, "final_score": sum(last_scores) / count}
    predicted = []
    if objective.target is not None:
        logits = torch.cat(logits_all)
        probs = torch.softmax(logits, dim=1)[:, objective.target]
        metrics["target_probability"] = float(probs.mean())
        predicted = predictions_from_logits(backbone, logits[0], [objective.target, int(logits[0].argmax())])
    return SynthesisResult(technique="classviz", backbone=backbone.name, images=result_images, metrics=metrics,
                           steps=steps, layer=objective.layer or "", seed=seed, predicted=predicted,
                           raw=to_float_hwc(x))


def _optimize(backbone, objective, gens, size, steps, lr, l2, blur_every, blur_sigma, jitter, clip_norm_pct,
              clip_contrib_pct, param, tracker):
    device = backbone.device
    n = len(gens)
    mean = torch.tensor(backbone.preprocessing.mean, device=device).view(1, 3, 1, 1)
    if param == "fourier":
        image = FourierParam(n, (size, size), gens, device)
        optimizer = torch.optim.Adam(image.parameters(), lr=lr)
    else:
        image = PixelParam.grey_noise(n, (size, size), gens, device)
        optimizer = None
    first: list[float] = []
    scores = torch.zeros(n, device=device)
    for step in range(steps):
        tracker.check()
        with torch.enable_grad():
            x = image.image()
            scores, _ = objective.score(backbone, reg.roll(x, reg.random_shifts(gens, jitter)))
            penalty = ((x - mean) ** 2).flatten(1).sum(dim=1)
            total = scores.sum() - l2 * penalty.sum()
            if optimizer is not None:
                optimizer.zero_grad()
                (-total).backward()
            else:
                (grad,) = torch.autograd.grad(total, image.x)
        if step == 0:
            first = scores.detach().tolist()
        if optimizer is not None:
            optimizer.step()
        else:
            with torch.no_grad():
                grad_scale = grad.abs().flatten(1).mean(dim=1).view(-1, 1, 1, 1) + 1e-12
                centered = image.x + lr * grad / grad_scale - mean
                if blur_every and (step + 1) % blur_every == 0:
                    centered = reg.gaussian_blur(centered, blur_sigma)
                centered = reg.clip_small_norm(centered, clip_norm_pct)
                centered = reg.clip_small_contribution(centered, grad, clip_contrib_pct)
                image.x.copy_((centered + mean).clamp(0, 1))
        tracker.step(float(scores.detach().mean()), picture=image.image)
    with torch.no_grad():
        x = image.image().detach()
        final, logits = objective.score(backbone, x)
    return x, first, final.tolist(), None if logits is None else logits.detach()
