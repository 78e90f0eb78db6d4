"""Fooling images: change a photo as little as possible until ConvLens's own `classify` sees a chosen class.

Targeted iterative sign-gradient steps (Goodfellow et al. 2015; Kurakin et al. 2016) of whole 8-bit levels,
starting from the 8-bit photo, through exactly the view `classify` takes of an image (shorter side resized to the
backbone's `resize`, centre crop `crop`; `core.inputs.classification_view`). Every image the loop evaluates is
exactly representable in a PNG; after each step the 8-bit picture goes through `classify`'s own Pillow pipeline
(`core.classify.classify_logits`), and the loop stops only when that answer passes `confidence`, so the returned
PNG fools `classify` after the round trip, rounding of the resize included.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from convlens.core import inputs
from convlens.core.backbones import Backbone
from convlens.core.classify import classify_logits, predictions_from_logits
from convlens.core.progress import Deadline, ProgressCallback

from .common import Steps, to_tensor, to_uint8
from .results import SynthesisResult


def fooling(backbone: Backbone, pixels: np.ndarray, target: int, *, max_steps: int = 100,
            confidence: float = 0.9, step_size: int = 1, max_change: int = 32, magnify: float = 10.0,
            topk: int = 5, progress: ProgressCallback | None = None,
            deadline: Deadline | None = None) -> SynthesisResult:
    """Fool `classify` on an HxWx3 uint8 photo until its P(target) > confidence or `max_steps` steps.

    Each step moves every pixel by `step_size` levels (of 255) against the gradient of the target's
    cross-entropy on the classify view; the change stays within `max_change` levels (L-inf) of the photo and
    within [0, 255]. Pixels outside the view's crop never change.
    """
    original = to_tensor(pixels, backbone.device) * 255.0  # whole levels, as float
    levels = original.clone()
    lo, hi = (original - max_change).clamp(min=0), (original + max_change).clamp(max=255)
    tracker = Steps(max_steps, progress, deadline)
    target_t = torch.tensor([target], device=backbone.device)
    first_logits = classify_logits(backbone, pixels)
    steps = 0
    while True:
        tracker.check()
        with torch.enable_grad():
            x = levels.detach().requires_grad_(True)
            logits = backbone.model(backbone.normalize(inputs.classification_view(x / 255.0,
                                                                                  backbone.preprocessing)))
            loss = F.cross_entropy(logits, target_t)
            view_prob = float(torch.softmax(logits.detach(), dim=1)[0, target])
            seen = classify_logits(backbone, to_uint8(levels / 255.0))  # what `classify` answers for this PNG
            prob = float(torch.softmax(seen.float(), dim=0)[target])
            if min(prob, view_prob) > confidence or steps >= max_steps:
                break
            (grad,) = torch.autograd.grad(loss, x)
        with torch.no_grad():
            levels = torch.minimum(torch.maximum(levels - step_size * grad.sign(), lo), hi)
        steps += 1
        tracker.step(float(loss.detach()), stage=f"p(target)={prob:.3f}", picture=lambda: levels / 255.0)  # noqa: B023 - step() calls it at once
    change = (levels - original) / 255.0
    fooled = to_uint8(levels / 255.0)
    difference = np.clip(np.rint(127.5 + magnify * change[0].permute(1, 2, 0).cpu().numpy() * 255.0), 0, 255
                         ).astype(np.uint8)
    topk = min(topk, first_logits.numel())  # a registered model may have fewer classes
    top_before = torch.topk(first_logits, topk).indices.tolist()
    top_after = torch.topk(seen, topk).indices.tolist()
    metrics = {
        "target_probability": view_prob,
        "classify_probability": prob,
        "linf": float(change.abs().max()),
        "l2": float(change.norm()),
        "linf_levels": float(change.abs().max() * 255.0),
        "changed_fraction": float((change != 0).any(dim=1).float().mean()),
        "confidence": confidence,
    }
    return SynthesisResult(
        technique="fooling", backbone=backbone.name, images=[("fooled", fooled), ("difference", difference)],
        metrics=metrics, steps=steps, converged=prob > confidence,
        original=predictions_from_logits(backbone, first_logits, top_before),
        predicted=predictions_from_logits(backbone, seen, top_after),
        raw=change[0].permute(1, 2, 0).cpu().numpy().astype(np.float32))
