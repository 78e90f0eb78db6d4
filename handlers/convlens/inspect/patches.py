"""Maximally activating patches (Zeiler & Fergus 2014): over a set of images, the input regions that drive one
channel of a layer hardest, each cropped at the receptive field of its unit; optionally with a guided-backprop
picture of the unit (Springenberg et al. 2015) over the same crop.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from convlens.attribution.guided import guided_relus
from convlens.core.backbones import Backbone
from convlens.core.errors import InvalidParameter
from convlens.core.progress import Deadline

from .activations import layer_output, to_batch01
from .receptive_field import UnsupportedReceptiveField, receptive_field
from .results import Patch, TopPatches


def guided_gradients(backbone: Backbone, pixels01: torch.Tensor, module: nn.Module,
                     units: Sequence[tuple[int, int, int, int]], batch_size: int = 8,
                     deadline: Deadline | None = None) -> torch.Tensor:
    """Guided-backprop gradient w.r.t. the pixels of each unit (image n, channel c, y, x): (K, 3, H, W).

    Guided backprop of the attribution module (`guided_relus`: every use of a ReLU/ReLU6 passes only positive
    gradients backwards; hooks always removed).
    """
    grads = []
    with guided_relus(backbone.model, field="guided"):
        for start in range(0, len(units), batch_size):
            chunk = units[start:start + batch_size]
            x = pixels01[[u[0] for u in chunk]].detach().clone().requires_grad_(True)
            with torch.enable_grad():
                out = layer_output(backbone.model, module, backbone.normalize(x))
                idx = torch.arange(len(chunk), device=out.device)
                picked = out[idx, [u[1] for u in chunk], [u[2] for u in chunk], [u[3] for u in chunk]]
                (grad,) = torch.autograd.grad(picked.sum(), x)
            grads.append(grad.detach())
            if deadline is not None:
                deadline.check()
    return torch.cat(grads)


def channel_maps(backbone: Backbone, pixels01: torch.Tensor, module: nn.Module, channel: int, batch_size: int = 8,
                 deadline: Deadline | None = None) -> np.ndarray:
    """The channel's activation map over every image, (N, h, w) float32, in batches of `batch_size`."""
    maps = []
    with torch.inference_mode():
        for start in range(0, len(pixels01), batch_size):
            out = layer_output(backbone.model, module, backbone.normalize(pixels01[start:start + batch_size]))
            if not 0 <= channel < out.shape[1]:
                raise InvalidParameter("channel", f"must be between 0 and {out.shape[1] - 1} for this layer")
            maps.append(out[:, channel].float().cpu().numpy())
            if deadline is not None:
                deadline.check()
    return np.concatenate(maps)


def select_peaks(maps: np.ndarray, top: int, per_image: int) -> list[tuple[float, int, int, int]]:
    """The `top` strongest units (value, image, y, x): at most `per_image` per image, none next to (Chebyshev
    distance 1) a unit already chosen in the same image, so neighbouring, nearly identical patches repeat less."""
    order = np.argsort(-maps, axis=None, kind="stable")
    chosen: list[tuple[float, int, int, int]] = []
    counts: dict[int, int] = {}
    for flat in order:
        n, y, x = np.unravel_index(flat, maps.shape)
        n, y, x = int(n), int(y), int(x)
        if counts.get(n, 0) >= per_image:
            continue
        if any(m == n and abs(y - yy) <= 1 and abs(x - xx) <= 1 for _, m, yy, xx in chosen):
            continue
        chosen.append((float(maps[n, y, x]), n, y, x))
        counts[n] = counts.get(n, 0) + 1
        if len(chosen) == top:
            break
    return chosen


def top_patches(backbone: Backbone, pixels: Sequence[np.ndarray], names: Sequence[str], layer: str, channel: int,
                top: int = 9, per_image: int | None = None, guided: bool = False, batch_size: int = 8,
                deadline: Deadline | None = None) -> TopPatches:
    """The `top` input patches (images of equal size, HxWx3 uint8) that activate `layer`/`channel` most."""
    module = backbone.layer(layer)
    stack = np.stack(list(pixels))
    height, width = stack.shape[1:3]
    try:
        rf = receptive_field(backbone.model, module, height, width)
    except UnsupportedReceptiveField as exc:
        raise InvalidParameter("layer", f"receptive field of '{layer}' is not computed: {exc}") from None
    x01 = to_batch01(stack, backbone.device)
    maps = channel_maps(backbone, x01, module, channel, batch_size, deadline)
    if maps.shape[1:] != (rf.rows.length, rf.cols.length):  # the calculator must agree with the network
        raise RuntimeError(f"receptive-field trace gives {(rf.rows.length, rf.cols.length)}, the layer "
                           f"{maps.shape[1:]}")
    peaks = select_peaks(maps, top, per_image or top)
    grads = None
    if guided and peaks:
        units = [(n, channel, y, x) for _, n, y, x in peaks]
        grads = guided_gradients(backbone, x01, module, units, batch_size, deadline).permute(0, 2, 3, 1).cpu().numpy()
    patches = []
    for k, (value, n, y, x) in enumerate(peaks):
        left, t, right, bottom = rf.box(y, x, clip=True)
        crop = stack[n, t:bottom + 1, left:right + 1]
        guide = grads[k, t:bottom + 1, left:right + 1] if grads is not None else None
        patches.append(Patch(image=n, name=names[n], y=y, x=x, activation=value, box=(left, t, right, bottom),
                             crop=np.ascontiguousarray(crop), guided=guide))
    return TopPatches(patches=patches, maps=maps, layer=layer, channel=channel,
                      rf_size=(rf.rows.size, rf.cols.size), rf_stride=(rf.rows.jump, rf.cols.jump),
                      backbone=backbone.name)
