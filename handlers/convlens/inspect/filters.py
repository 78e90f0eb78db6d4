"""Filters: a convolution's weights as pictures (first layer: one RGB image per filter; deeper: grayscale slices).

As in the lecture, each filter is scaled to 0..255 on its own (its minimum to 0, its maximum to 255) and biases
are ignored. Rendering into a grid lives in render_grids; this module picks the convolution and scales weights.
"""
from __future__ import annotations

import numpy as np
from torch import nn

from convlens.core.backbones import Backbone
from convlens.core.errors import InvalidParameter

from .results import FilterBank


def module_name(model: nn.Module, module: nn.Module) -> str:
    return next((name for name, m in model.named_modules() if m is module), "")


def convolution(backbone: Backbone, layer: str | None) -> tuple[str, nn.Conv2d]:
    """(dotted name, conv) of a named layer: the layer itself when it is a convolution, else the convolution
    inside it with the largest kernel (the first such); no layer = the network's first convolution."""
    model = backbone.model
    if not layer:
        first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
        if first is None:
            raise InvalidParameter("layer", f"backbone {backbone.name} shows no convolution module"
                                            f"{': ' + backbone.no_layers_reason if backbone.no_layers_reason else ''}")
        return module_name(model, first), first
    module = backbone.layer(layer)
    convs = [module] if isinstance(module, nn.Conv2d) else [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise InvalidParameter("layer", f"layer '{layer}' holds no convolution")
    conv = max(convs, key=lambda c: c.kernel_size[0] * c.kernel_size[1])  # max() keeps the first of equals
    return module_name(model, conv), conv


def filter_bank(backbone: Backbone, layer: str | None = None, max_filters: int = 64,
                max_channels: int = 16) -> FilterBank:
    """The first `max_filters` filters of the layer's convolution, each with its first `max_channels` input slices
    (all three colour channels for an RGB first layer)."""
    name, conv = convolution(backbone, layer)
    weights = conv.weight.detach().float().cpu().numpy()
    rgb = conv.in_channels == 3 and conv.groups == 1  # a layer that sees the colour image itself
    shown = weights[:max_filters] if rgb else weights[:max_filters, :max_channels]
    return FilterBank(weights=np.ascontiguousarray(shown), layer=layer or "", module=name, rgb=bool(rgb),
                      total_filters=weights.shape[0], total_channels=weights.shape[1], backbone=backbone.name)


def scale_filters(weights: np.ndarray) -> np.ndarray:
    """Each filter (first axis) mapped linearly to 0..255 by its own min and max -> uint8; constant filters -> 128."""
    w = np.asarray(weights, dtype=np.float64)
    flat = w.reshape(len(w), -1)
    lo, hi = flat.min(axis=1), flat.max(axis=1)
    span = np.where(hi > lo, hi - lo, 1.0)
    scaled = (flat - lo[:, None]) / span[:, None] * 255.0
    scaled[hi <= lo] = 128.0
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8).reshape(w.shape)
