"""Saliency: which pixels made the network decide? One class per method behind one shape-preserving call.

Every method maps a batch of pixels in [0, 1], (N, 3, H, W), and one target class per image to an attribution of
the same shape; `saliency()` reduces it to one (H, W) map per image and packs the classes with it. Gradients are
taken with respect to the pixels the user sent (the normalization is part of the differentiated function).
"""
from __future__ import annotations

from typing import ClassVar, Sequence

import numpy as np
import torch

from .backbones import Backbone
from .classify import predictions_from_logits
from .errors import InvalidParameter
from .results import SaliencyResult

TOP1 = -1  # a target of -1 means "the network's top-1 class for this image"


class Attribution:
    """Base of all input-attribution methods; subclasses override `attribute` (and `reduce` if they must)."""

    name: ClassVar[str] = ""

    def __init__(self, backbone: Backbone) -> None:
        self.backbone = backbone

    def logits(self, pixels01: torch.Tensor) -> torch.Tensor:
        """Unnormalized class scores for pixels in [0, 1]."""
        return self.backbone.model(self.backbone.normalize(pixels01))

    def attribute(self, pixels01: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Attribution of each image's target score to its pixels, shape (N, 3, H, W)."""
        raise NotImplementedError

    def attribute_with_logits(self, pixels01: torch.Tensor, targets: torch.Tensor
                              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(attribution, logits, resolved targets): TOP1 targets are replaced by each image's argmax."""
        with torch.no_grad():
            logits = self.logits(pixels01)
        resolved = resolve_targets(targets, logits)
        return self.attribute(pixels01, resolved), logits, resolved

    @staticmethod
    def reduce(attribution: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, H, W): max of |attribution| over colour channels, as in Simonyan et al. 2014."""
        return attribution.abs().amax(dim=1)


class Gradient(Attribution):
    """Simonyan et al. 2014: the gradient of the unnormalized class score with respect to the input pixels.

    Written by hand rather than with Captum's `Saliency` so the logits of the same forward pass give the
    predicted class (one forward + one backward per batch instead of two forwards), and because Captum sums
    channels where the paper takes the max of absolute values.
    """

    name = "gradient"

    def attribute_with_logits(self, pixels01, targets):
        x = pixels01.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            logits = self.logits(x)
            resolved = resolve_targets(targets, logits.detach())
            score = logits.gather(1, resolved[:, None]).sum()  # images are independent in eval mode
            (grad,) = torch.autograd.grad(score, x)
        return grad, logits.detach(), resolved

    def attribute(self, pixels01, targets):
        return self.attribute_with_logits(pixels01, targets)[0]


METHODS: dict[str, type[Attribution]] = {cls.name: cls for cls in (Gradient,)}


def resolve_targets(targets: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Replace TOP1 entries by the argmax of each image's logits."""
    targets = targets.to(logits.device)
    return torch.where(targets == TOP1, logits.argmax(dim=1), targets)


def saliency(backbone: Backbone, pixels: np.ndarray | Sequence[np.ndarray], targets: Sequence[int] | None = None,
             method: str = "gradient") -> list[SaliencyResult]:
    """Saliency maps for images of equal size (HxWx3 uint8, or a stacked NxHxWx3) and class indices (TOP1 = -1)."""
    if method not in METHODS:
        raise InvalidParameter("method", f"unknown method '{method}'; available: {', '.join(METHODS)}")
    images = pixels if isinstance(pixels, np.ndarray) else np.stack(list(pixels))
    images = images[None] if images.ndim == 3 else images
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0).to(backbone.device)
    t = torch.tensor([TOP1] * len(x) if targets is None else list(targets), dtype=torch.long)
    attribution, logits, resolved = METHODS[method](backbone).attribute_with_logits(x, t)
    maps = METHODS[method].reduce(attribution).float().cpu().numpy()
    results = []
    for n in range(len(x)):
        target, predicted = predictions_from_logits(backbone, logits[n], [int(resolved[n]), int(logits[n].argmax())])
        results.append(SaliencyResult(values=maps[n], image=images[n], method=method, backbone=backbone.name,
                                      target=target, predicted=predicted))
    return results
