"""Shared pieces of the synthesis loops: feature capture with hooks, Gram matrices, seeds, steps with
progress events and a deadline, and conversions between tensors and pictures."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, overload

import numpy as np
import torch
import torch.nn.functional as F

from convlens.core.backbones import Backbone
from convlens.core.progress import Deadline, ProgressCallback, ProgressEvent


class _Captured(Exception):
    """Raised inside a forward hook to stop the forward pass once every wanted layer has run."""


@overload
def features(backbone: Backbone, pixels01: torch.Tensor, layers: Sequence[str], logits: Literal[True]
             ) -> tuple[dict[str, torch.Tensor], torch.Tensor]: ...


@overload
def features(backbone: Backbone, pixels01: torch.Tensor, layers: Sequence[str], logits: bool = False
             ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]: ...


def features(backbone: Backbone, pixels01: torch.Tensor, layers: Sequence[str], logits: bool = False
             ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """Outputs of the named layers for pixels in [0, 1] (differentiable), and the logits when asked.

    Without `logits` the forward pass stops after the deepest wanted layer, so early layers are cheap.
    Hooks are removed in `finally`, also when the forward pass fails.
    """
    modules = {name: backbone.layer(name) for name in dict.fromkeys(layers)}
    captured: dict[str, torch.Tensor] = {}

    def hook_for(name: str) -> Callable:
        def hook(module, inputs, output):
            captured[name] = output
            if not logits and len(captured) == len(modules):
                raise _Captured
        return hook

    handles = []
    out = None
    try:
        for name, module in modules.items():
            handles.append(module.register_forward_hook(hook_for(name)))
        try:
            out = backbone.model(backbone.normalize(pixels01))
        except _Captured:
            pass
    finally:
        for handle in handles:
            handle.remove()
    return captured, out


def gram(feature: torch.Tensor) -> torch.Tensor:
    """Gram matrices (N, C, C) of (N, C, H, W) features, normalized by C*H*W (Gatys et al. 2015)."""
    n, c, h, w = feature.shape
    flat = feature.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def generator(seed: int) -> torch.Generator:
    """A CPU generator: the same seed gives the same noise on every device."""
    return torch.Generator(device="cpu").manual_seed(int(seed))


def noise(shape: Sequence[int], gen: torch.Generator, device: torch.device, scale: float = 1.0) -> torch.Tensor:
    return (torch.randn(tuple(shape), generator=gen) * scale).to(device)


def to_tensor(pixels: np.ndarray, device: torch.device) -> torch.Tensor:
    """HxWx3 uint8 -> (1, 3, H, W) float32 in [0, 1] on `device`."""
    array = np.ascontiguousarray(pixels)
    return torch.from_numpy(array).permute(2, 0, 1)[None].float().div(255.0).to(device)


def to_uint8(x01: torch.Tensor) -> np.ndarray:
    """(3, H, W) or (1, 3, H, W) in [0, 1] -> HxWx3 uint8 (rounded)."""
    x = x01.detach()
    x = x[0] if x.dim() == 4 else x
    return x.clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()


def to_float_hwc(x01: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) -> (N, H, W, 3) float32 numpy."""
    return x01.detach().float().permute(0, 2, 3, 1).cpu().numpy()


def preview(x01: torch.Tensor, max_side: int = 64) -> np.ndarray:
    """A small HxWx3 uint8 picture of the first image of a batch, for progress events."""
    x = x01.detach()[:1].float()
    h, w = x.shape[-2:]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        x = F.interpolate(x, size=(max(1, round(h * scale)), max(1, round(w * scale))), mode="area")
    return to_uint8(x)


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of (N, C, H, W) to (h, w)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class Steps:
    """Counts the steps of an engine loop: checks the deadline and reports progress events.

    A preview (a callable giving the current picture) is rendered about ten times per run, not every step.
    """

    def __init__(self, total: int, progress: ProgressCallback | None, deadline: Deadline | None) -> None:
        self.total = max(1, int(total))
        self.done = 0
        self.progress = progress
        self.deadline = deadline or Deadline(None)
        self.preview_every = max(1, self.total // 10)

    def check(self) -> None:
        """Raise TimeLimitExceeded once the budget has passed (call before each costly step)."""
        self.deadline.check()

    def step(self, loss: float | None = None, stage: str = "",
             picture: Callable[[], torch.Tensor] | None = None) -> None:
        """One step done: report it (with a preview now and then)."""
        self.done += 1
        if self.progress is None:
            return
        image = None
        if picture is not None and (self.done % self.preview_every == 0 or self.done == self.total):
            image = preview(picture())
        self.progress(ProgressEvent(step=self.done, total=self.total, loss=None if loss is None else float(loss),
                                    stage=stage, elapsed_s=self.deadline.elapsed_s, preview=image))
