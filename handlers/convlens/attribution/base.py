"""What every input-attribution method shares: the explained objective (a class score or an inner neuron),
target resolution, a layer-capture hook and the memory-sized batch; each method lives in a module of its own
(`gradient`, `guided`, `cam`, `paths`) and `methods` is their registry.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from convlens.core.backbones import Backbone
from convlens.core.errors import InvalidParameter

TOP1 = -1  # a target of -1 means "the network's top-1 class for this image"
# The memory layout of every batch the attribution engine feeds the network: EfficientNet-Lite0 classifies
# channels-last batches ~1.4x faster on CPU (`benchmarks/attribution.py` times plain inference in both layouts).
MEMORY_FORMAT = torch.channels_last


def pixels01(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """(N, H, W, 3) uint8 images -> (N, 3, H, W) float pixels in [0, 1] on `device`, in MEMORY_FORMAT."""
    x = torch.from_numpy(np.array(images, copy=True)).permute(0, 3, 1, 2).float().div_(255.0)
    return x.to(device).contiguous(memory_format=MEMORY_FORMAT)


@dataclass(frozen=True)
class Neuron:
    """An inner unit to explain instead of a class: channel `channel` of layer `layer`.

    With `position` (y, x in the layer's feature grid) the unit is that single activation; without it, the
    channel's spatial MEAN (the whole feature map's average response; a mean keeps every location's gradient).
    """

    layer: str
    channel: int
    position: tuple[int, int] | None = None

    def describe(self) -> str:
        where = f" at y={self.position[0]},x={self.position[1]}" if self.position else " (spatial mean)"
        return f"{self.layer} channel {self.channel}{where}"


class LayerCapture:
    """Forward hook that keeps a module's output of the latest forward pass (per use, so reuse is safe)."""

    def __init__(self) -> None:
        self.output: torch.Tensor | None = None

    def __call__(self, module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        self.output = output


@contextmanager
def captured(module: nn.Module) -> Iterator[LayerCapture]:
    """Capture `module`'s output while the block runs; the hook is removed on exit, also after an exception."""
    capture = LayerCapture()
    handle = module.register_forward_hook(capture)
    try:
        yield capture
    finally:
        handle.remove()


def neuron_scores(activation: torch.Tensor, neuron: Neuron) -> torch.Tensor:
    """(N,) value of the neuron in an (N, C, H, W) (or (N, C)) activation; 400s name the field at fault."""
    channels = activation.shape[1]
    if not 0 <= neuron.channel < channels:
        raise InvalidParameter("channel", f"channel {neuron.channel} out of range 0..{channels - 1} "
                                          f"for layer '{neuron.layer}'")
    unit = activation[:, neuron.channel]
    if unit.ndim == 1:
        return unit
    if neuron.position is None:
        return unit.flatten(1).mean(dim=1)
    y, x = neuron.position
    h, w = unit.shape[-2:]
    if not (0 <= y < h and 0 <= x < w):
        raise InvalidParameter("position", f"position {y},{x} is outside layer '{neuron.layer}''s "
                                           f"{h}x{w} feature grid at this image size")
    return unit[:, y, x]


def resolve_targets(targets: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Replace TOP1 entries by the argmax of each image's logits."""
    targets = targets.to(logits.device)
    return torch.where(targets == TOP1, logits.argmax(dim=1), targets)


class Attribution:
    """Base of all input-attribution methods; subclasses override `attribute` (and `reduce` if they must).

    The explained scalar per image is `objective`: the unnormalized score of the target class, or an inner
    neuron's activation when `neuron` is given (only methods with `supports_neuron`).
    """

    name: ClassVar[str] = ""
    supports_neuron: ClassVar[bool] = False
    options: ClassVar[tuple[str, ...]] = ()  # names of the method's own keyword options
    signed: ClassVar[bool] = False  # whether `reduce` keeps a sign (then pixels are ranked by magnitude)

    def __init__(self, backbone: Backbone, neuron: Neuron | None = None, **options: Any) -> None:
        if neuron is not None and not self.supports_neuron:
            raise InvalidParameter("layer", f"method '{self.name}' explains classes only; explaining an inner "
                                            f"neuron (layer + channel) works with: gradient, smoothgrad, "
                                            f"guided_backprop")
        unknown = set(options) - set(self.options)
        if unknown:
            raise TypeError(f"{self.name}: unknown options {sorted(unknown)}")
        self.backbone = backbone
        self.neuron = neuron
        self.neuron_module = backbone.layer(neuron.layer) if neuron is not None else None
        for key, value in options.items():
            setattr(self, key, value)

    def logits(self, pixels01: torch.Tensor) -> torch.Tensor:
        """Unnormalized class scores for pixels in [0, 1] (fed in MEMORY_FORMAT, whatever the caller's layout)."""
        return self.backbone.model(self.backbone.normalize(pixels01).contiguous(memory_format=MEMORY_FORMAT))

    def objective(self, pixels01: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(per-image explained scalar (N,), logits): the target's score, or the neuron's activation."""
        if self.neuron is None:
            logits = self.logits(pixels01)
            return logits.gather(1, targets.to(logits.device)[:, None])[:, 0], logits
        assert self.neuron_module is not None
        with captured(self.neuron_module) as capture:
            logits = self.logits(pixels01)
        assert capture.output is not None
        return neuron_scores(capture.output, self.neuron), logits

    def input_gradient(self, pixels01: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """d objective / d pixels for a batch (images are independent in eval mode, so the sum's gradient)."""
        x = pixels01.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            scores, _ = self.objective(x, targets)
            (grad,) = torch.autograd.grad(scores.sum(), x)
        return grad

    def attribute(self, pixels01: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Attribution of each image's target score to its pixels, shape (N, 3, H, W)."""
        raise NotImplementedError

    def attribute_with_logits(self, pixels01: torch.Tensor, targets: torch.Tensor
                              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(attribution, logits, resolved targets): TOP1 targets are replaced by each image's argmax."""
        with torch.no_grad():  # one forward: logits resolve TOP1, and the neuron's value is recorded
            scores, logits = self.objective(pixels01, targets.clamp(min=0))
        resolved = resolve_targets(targets, logits)
        self.scores = scores if self.neuron is not None else logits.gather(1, resolved[:, None])[:, 0]
        return self.attribute(pixels01, resolved), logits, resolved

    @staticmethod
    def reduce(attribution: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, H, W): max of |attribution| over colour channels, as in Simonyan et al. 2014."""
        return attribution.abs().amax(dim=1)


def auto_batch_size(height: int, width: int, device: torch.device, cap: int = 64,
                    bytes_per_pixel: int = 2048) -> int:
    """Images per forward(+backward) pass sized to memory: a budget over a per-image cost estimate.

    `bytes_per_pixel` is a generous estimate of activations (+ gradients) per input pixel for the served CNNs
    (EfficientNet-Lite0 at 224 px keeps ~30 MB per image for a backward pass); the budget is 1 GiB on CPU and a
    quarter of the free memory on CUDA.
    """
    budget = 1 << 30
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        budget = free // 4
    return int(max(1, min(cap, budget // max(1, height * width * bytes_per_pixel))))
