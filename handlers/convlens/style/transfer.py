"""Optimization-based style transfer (Gatys et al. 2016): optimize the pixels of an image so its features match
the content image at one layer and the style images' statistics at several layers.

Style statistics: the whole feature distributions by the sliced Wasserstein loss (default; Heitz et al. 2021),
with the `pixels` pseudo-layer so the palette is part of the style, or the Gram matrices of the 2016 paper
(`style_loss="gram"`, which paints weakly and in saturated blobs on EfficientNet). `match_palette` recolours the
content to the style's palette first (Pitié et al. 2005). Losses are made relative (each layer divided by its
target's mean square) so the weights carry over between backbones; coarse-to-fine passes (Gatys et al. 2017) make
larger outputs cheaper and better structured.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F

from convlens.core.backbones import Backbone
from convlens.core.progress import Deadline, ProgressCallback, ProgressEvent

from . import color, losses
from .choices import DEFAULT_STYLE_WEIGHT, STYLE_LOSSES
from .results import StyleTransferResult

# (style layers, content layer) per loss network; VGG as in Gatys et al., EfficientNet chosen by stage depth.
LAYERS = {
    "efficientnet_lite0": (("stem", "block2", "block5", "block8", "block11"), "block8"),
    "vgg16": (("relu1_2", "relu2_2", "relu3_3", "relu4_3"), "relu3_3"),
    "vgg19": (("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"), "relu4_2"),
}
MIN_PASS_SIDE = 160  # coarse-to-fine: halve the size while passes stay at least this large


@dataclass(frozen=True)
class TransferSettings:
    """Knobs of one transfer (defaults tuned for EfficientNet-Lite0 at 256 px)."""

    content_weight: float = 1.0
    style_weight: float | None = None  # None: DEFAULT_STYLE_WEIGHT of the style loss
    style_loss: str = "sliced"  # sliced | gram
    match_palette: bool = True  # recolour the content to the (blended) styles' palette before optimizing
    tv_weight: float = 100.0
    style_weights: tuple[float, ...] | None = None  # blend of several styles; normalized to sum 1
    style_scale: float = 1.0
    preserve_colors: bool = False
    init: str = "content"  # content | noise
    optimizer: str = "lbfgs"  # lbfgs | adam
    steps: int = 100
    size: int = 256
    multiscale: bool = True
    learning_rate: float = 0.02  # Adam, pixels in [0, 1]
    smoothing: bool = False  # Wang et al. 2021 softmax smoothing of activations
    seed: int = 0


def pass_sizes(size: int, multiscale: bool) -> list[int]:
    """Output sides of the coarse-to-fine passes, finest last."""
    sizes = [size]
    while multiscale and sizes[0] // 2 >= MIN_PASS_SIDE:
        sizes.insert(0, sizes[0] // 2)
    return sizes


def resize_to(x: torch.Tensor, side: int) -> torch.Tensor:
    """Resize (N, 3, H, W) so the longer side is `side`."""
    h, w = x.shape[-2:]
    scale = side / max(h, w)
    new = (max(16, round(h * scale)), max(16, round(w * scale)))
    return x if new == (h, w) else F.interpolate(x, size=new, mode="bilinear", antialias=True, align_corners=False)


def style_layers_of(backbone_name: str, style_loss: str) -> list[str]:
    """The style layers of a loss network; the sliced loss adds the `pixels` pseudo-layer (the palette)."""
    layers = list(LAYERS[backbone_name][0])
    return [losses.PIXELS, *layers] if style_loss == "sliced" else layers


class Objective:
    """Weighted content + blended-style + TV loss for images of one size; terms are relative to their targets."""

    def __init__(self, extractor: losses.FeatureExtractor, style_layers: Sequence[str], content_layer: str,
                 content: torch.Tensor, styles: Sequence[torch.Tensor], blend: Sequence[float],
                 s: TransferSettings, generator: torch.Generator) -> None:
        self.extractor, self.style_layers, self.content_layer, self.s = extractor, list(style_layers), content_layer, s
        self.style_weight = DEFAULT_STYLE_WEIGHT[s.style_loss] if s.style_weight is None else s.style_weight
        with torch.no_grad():
            self.content_target = extractor(content)[content_layer]
            targets = [losses.with_pixels(extractor(x), x) for x in styles]
        self.content_norm = self.content_target.pow(2).mean().clamp_min(1e-12)
        if s.style_loss == "sliced":
            self.sliced = losses.SlicedLoss(targets, self.style_layers, generator, blend, redraw_every_call=False)
            return
        grams = [{name: losses.gram(t[name]) for name in style_layers} for t in targets]
        # (sum() of tensors is a tensor: `cast` tells the type checker, which sees the start value 0 too)
        self.gram_target = {name: cast(torch.Tensor, sum(w * g[name] for w, g in zip(blend, grams)))
                            for name in style_layers}
        self.style_norm = {name: self.gram_target[name].pow(2).mean().clamp_min(1e-12) for name in style_layers}

    def redraw(self) -> None:
        """New projection directions of the sliced loss, once per optimizer step (not per line-search call)."""
        if self.s.style_loss == "sliced":
            self.sliced.redraw()

    def style(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        """The style term: sliced Wasserstein to the styles, or the mean relative Gram error over the layers."""
        if self.s.style_loss == "sliced":
            return self.sliced(feats)
        return cast(torch.Tensor, sum(losses.style_loss(feats[name], self.gram_target[name]) / self.style_norm[name]
                                      for name in self.style_layers)) / len(self.style_layers)

    def terms(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = losses.with_pixels(self.extractor(image), image)
        content = losses.content_loss(feats[self.content_layer], self.content_target) / self.content_norm
        style = self.style(feats)
        tv = losses.tv_loss(image)
        total = self.s.content_weight * content + self.style_weight * style + self.s.tv_weight * tv
        return {"total": total, "content": content, "style": style, "tv": tv}


def style_transfer(backbone: Backbone, content: torch.Tensor, styles: Sequence[torch.Tensor],
                   settings: TransferSettings = TransferSettings(), deadline: Deadline | None = None,
                   progress: ProgressCallback | None = None) -> StyleTransferResult:
    """Stylize `content` (1, 3, H, W in [0, 1]) with the blended `styles` (each 1, 3, h, w in [0, 1])."""
    s = settings
    started = time.monotonic()
    device = backbone.device
    if backbone.name not in LAYERS:
        raise ValueError(f"no style/content layers configured for backbone {backbone.name}")
    if s.style_loss not in STYLE_LOSSES:
        raise ValueError(f"style_loss must be one of {STYLE_LOSSES}, got {s.style_loss!r}")
    style_layers, content_layer = style_layers_of(backbone.name, s.style_loss), LAYERS[backbone.name][1]
    extractor = losses.FeatureExtractor(backbone, losses.network_layers([*style_layers, content_layer]),
                                        smoothing=s.smoothing)
    blend = np.asarray(s.style_weights or [1.0] * len(styles), dtype=np.float64)
    blend = (blend / blend.sum()).tolist()
    content = content.to(device)
    styles = [x.to(device) for x in styles]
    if s.preserve_colors:  # luminance-only transfer: grey content, grey styles matched to the content's luminance
        content_full = content
        content = color.luminance(content)
        styles = [color.match_luminance(color.luminance(x), content) for x in styles]
    generator = torch.Generator(device="cpu").manual_seed(s.seed)
    if s.match_palette and not s.preserve_colors:  # the content in the styles' palette: content target and start
        palette = torch.cat([resize_to(x, 128).reshape(1, 3, -1) for x in styles], dim=2)[..., None]
        content = color.match_palette(resize_to(content, s.size), palette, generator)  # (cheaper at the output size)
    sizes = pass_sizes(s.size, s.multiscale)
    per_pass = [s.steps // len(sizes)] * len(sizes)
    per_pass[0] += s.steps - sum(per_pass)
    image: torch.Tensor | None = None
    start: dict[str, float] = {}
    final: dict[str, float] = {}
    done = 0
    for index, (side, steps) in enumerate(zip(sizes, per_pass)):
        target = resize_to(content, side)
        style_side = max(16, round(side * s.style_scale))
        objective = Objective(extractor, style_layers, content_layer, target,
                              [resize_to(x, style_side) for x in styles], blend, s, generator)
        if image is None:
            image = (target.clone() if s.init == "content"
                     else torch.rand(target.shape, generator=generator).to(device))
        else:  # the coarser result, upsampled, starts the finer pass
            image = F.interpolate(image, size=target.shape[-2:], mode="bicubic", align_corners=False).clamp(0, 1)
        image = image.detach().contiguous().requires_grad_(True)  # L-BFGS views the gradient flat
        if index == 0:
            with torch.no_grad():
                start = {k: float(v) for k, v in objective.terms(image).items()}
        stage = f"{side}px ({index + 1}/{len(sizes)})"
        done = _optimize(objective, image, steps, s, deadline, progress, done, s.steps, stage, started)
        with torch.no_grad():
            image.clamp_(0, 1)
        if index == len(sizes) - 1:
            with torch.no_grad():
                final = {k: float(v) for k, v in objective.terms(image).items()}
    assert image is not None
    out = image.detach()
    if s.preserve_colors:
        out = color.keep_colors(out, resize_to(content_full, s.size))
    pixels = (out[0].clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)
    return StyleTransferResult(image=pixels, steps=done, seconds=time.monotonic() - started, sizes=sizes,
                               start_losses=start, final_losses=final, style_weights=blend, backbone=backbone.name)


def _optimize(objective: Objective, image: torch.Tensor, steps: int, s: TransferSettings,
              deadline: Deadline | None, progress: ProgressCallback | None, done: int, total: int, stage: str,
              started: float) -> int:
    """Run `steps` optimizer iterations on `image` in place; returns the global step count."""
    if steps <= 0:
        return done
    last = {"total": 0.0}

    def closure() -> float:  # the optimizers only need the loss's value (LBFGS takes float() of it)
        opt.zero_grad(set_to_none=True)
        loss = objective.terms(image)["total"]
        loss.backward()
        last["total"] = float(loss.detach())
        return last["total"]

    if s.optimizer == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam([image], lr=s.learning_rate)
    else:
        opt = torch.optim.LBFGS([image], lr=1.0, max_iter=1, history_size=20, line_search_fn="strong_wolfe")
    for _ in range(steps):
        if deadline is not None:
            deadline.check()
        objective.redraw()
        opt.step(closure)
        with torch.no_grad():
            image.clamp_(0, 1)
        done += 1
        if progress is not None:
            progress(ProgressEvent(step=done, total=total, loss=last["total"], stage=stage,
                                   elapsed_s=time.monotonic() - started))
    return done
