"""Saliency: which pixels made the network decide? One class per method behind one shape-preserving call.

Every method maps a batch of pixels in [0, 1], (N, 3, H, W), and one target class per image to an attribution of
the same shape; `saliency()` reduces it to one (H, W) map per image and packs the classes with it. Gradients are
taken with respect to the pixels the user sent (the normalization is part of the differentiated function).
The methods live in `gradient`, `guided` (guided backprop), `cam` (Grad-CAM family) and `paths` (SmoothGrad,
integrated gradients) over `base`; this module is their registry.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from convlens.core.backbones import Backbone
from convlens.core.classify import predictions_from_logits
from convlens.core.errors import InvalidParameter
from convlens.core.results import Prediction

from .base import TOP1, Attribution, Neuron, pixels01, resolve_targets
from .cam import GradCAM, GuidedGradCAM
from .gradient import Gradient
from .guided import GuidedBackprop
from .paths import IntegratedGradients, SmoothGrad
from .results import Heatmap

__all__ = ["METHODS", "TOP1", "Attribution", "batch_independent", "Gradient", "Neuron", "resolve_targets", "saliency",
           "to_pixels01"]

METHODS: dict[str, type[Attribution]] = {
    cls.name: cls for cls in (Gradient, SmoothGrad, GuidedBackprop, IntegratedGradients, GradCAM, GuidedGradCAM)}
NEURON_METHODS = tuple(name for name, cls in METHODS.items() if cls.supports_neuron)


def batch_independent(method: str, options: Mapping[str, Any]) -> bool:
    """Whether an image's map is the same alone as in a batch: not for seeded noise, which is drawn per batch
    (SmoothGrad's samples, Integrated Gradients' noise baseline). Dynamic batching only groups these."""
    if method == "smoothgrad":
        return False
    return not (method == "integrated_gradients" and options.get("baseline") == "noise")


def to_pixels01(pixels: np.ndarray | Sequence[np.ndarray], device: torch.device) -> tuple[np.ndarray, torch.Tensor]:
    """(stacked NxHxWx3 uint8 images, (N, 3, H, W) float tensor in [0, 1] on `device`)."""
    images = pixels if isinstance(pixels, np.ndarray) else np.stack(list(pixels))
    images = images[None] if images.ndim == 3 else images
    return images, pixels01(images, device)


def saliency(backbone: Backbone, pixels: np.ndarray | Sequence[np.ndarray], targets: Sequence[int] | None = None,
             method: str = "gradient", neuron: Neuron | None = None,
             options: Mapping[str, Any] | None = None) -> list[Heatmap]:
    """Saliency maps for images of equal size (HxWx3 uint8, or a stacked NxHxWx3) and class indices (TOP1 = -1).

    `neuron` explains an inner unit instead of a class (methods in NEURON_METHODS); `options` are the method's
    own settings (e.g. SmoothGrad's noise/samples, IG's baseline/steps, Grad-CAM's layer).
    """
    if method not in METHODS:
        raise InvalidParameter("method", f"unknown method '{method}'; available: {', '.join(METHODS)}")
    images, x = to_pixels01(pixels, backbone.device)
    t = torch.tensor([TOP1] * len(x) if targets is None else list(targets), dtype=torch.long, device=x.device)
    explainer = METHODS[method](backbone, neuron=neuron, **dict(options or {}))
    attribution, logits, resolved = explainer.attribute_with_logits(x, t)
    maps = METHODS[method].reduce(attribution).float().cpu().numpy()
    layer = neuron.layer if neuron else getattr(explainer, "layer_name", lambda: None)()
    results = []
    for n in range(len(x)):
        target, predicted = predictions_from_logits(backbone, logits[n], [int(resolved[n]), int(logits[n].argmax())])
        if neuron is not None:  # the explained unit: its channel as index, its activation as score
            target = Prediction(index=neuron.channel, label=neuron.describe(), probability=0.0,
                                score=float(explainer.scores[n]))
        results.append(Heatmap(values=maps[n], image=images[n], method=method, backbone=backbone.name,
                               target=target, predicted=predicted, layer=layer, signed=METHODS[method].signed))
    return results
