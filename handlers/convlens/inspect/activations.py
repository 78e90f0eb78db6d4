"""Activation maps: run images to a named layer (and no further) and read its output, with per-channel statistics.

`layer_output` installs one forward hook in try/finally and stops the forward pass at the layer, so deep
networks do no work past it; the hook is removed on every path, also after an exception.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import nn

from convlens.core.backbones import Backbone
from convlens.core.errors import InvalidParameter

from .results import ActivationMaps, ChannelStat


class Reached(Exception):
    """Raised by the capturing hook once the layer has run: the rest of the network is not needed."""


@contextlib.contextmanager
def capturing(module: nn.Module, stop: bool = True) -> Iterator[dict]:
    """Record `module`'s output in the yielded dict under 'out' (and stop the forward there when `stop`)."""
    captured: dict = {}

    def hook(_module, _inputs, output):
        captured["out"] = output
        if stop:
            raise Reached

    handle = module.register_forward_hook(hook)
    try:
        yield captured
    finally:
        handle.remove()


def layer_output(model: nn.Module, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The output of `module` when `model` runs on `x` (the forward stops right after it)."""
    with capturing(module) as captured:
        try:
            model(x)
        except Reached:
            pass
    if "out" not in captured:
        raise InvalidParameter("layer", "the layer did not run in the forward pass")
    out = captured["out"]
    if not isinstance(out, torch.Tensor) or out.dim() != 4:
        raise InvalidParameter("layer", "the layer's output is not a feature map (N, C, H, W)")
    return out


def to_batch01(pixels: Sequence[np.ndarray] | np.ndarray, device: torch.device) -> torch.Tensor:
    """HxWx3 uint8 images (a stacked array or a list of equal-size ones) -> (N, 3, H, W) in [0, 1] on `device`."""
    stack = np.stack(list(pixels)) if not isinstance(pixels, np.ndarray) else pixels
    stack = stack[None] if stack.ndim == 3 else stack
    return torch.from_numpy(np.ascontiguousarray(stack)).permute(0, 3, 1, 2).float().div_(255.0).to(device)


def pixels_to_batch(backbone: Backbone, pixels: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) or (H, W, 3) uint8 -> normalized (N, 3, H, W) float on the backbone's device."""
    return backbone.normalize(to_batch01(pixels, backbone.device))


def channel_stats(values: np.ndarray) -> list[ChannelStat]:
    """Mean, max and fraction of positive positions of each channel of a (C, H, W) map."""
    flat = values.reshape(len(values), -1)
    return [ChannelStat(channel=c, mean=float(flat[c].mean()), max=float(flat[c].max()),
                        fraction_active=float((flat[c] > 0).mean())) for c in range(len(flat))]


@torch.inference_mode()
def activations(backbone: Backbone, pixels: np.ndarray, layer: str) -> ActivationMaps:
    """Every channel of `layer` for one HxWx3 uint8 image, with channels ordered by mean activation."""
    out = layer_output(backbone.model, backbone.layer(layer), pixels_to_batch(backbone, pixels))
    values = out[0].float().cpu().numpy()
    stats = channel_stats(values)
    order = sorted(range(len(stats)), key=lambda c: (-stats[c].mean, c))
    return ActivationMaps(values=values, stats=stats, order=order, layer=layer, backbone=backbone.name,
                          image=pixels)
