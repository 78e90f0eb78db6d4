"""Class activation maps (Selvaraju et al. 2017): Grad-CAM and Guided Grad-CAM over one small base whose steps
subclasses override, in the style of pytorch-grad-cam."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from convlens.core.errors import InvalidParameter

from .base import Attribution, captured
from .guided import GuidedBackprop


class CAM(Attribution):
    """Base of class activation maps: weights per channel of a layer's activations, summed, ReLU, upsampled.

    Subclasses override one step: `channel_weights` (Grad-CAM: the spatial mean of the gradients) or
    `combine` (Guided Grad-CAM: the map times guided backprop).
    """

    options = ("layer",)
    layer: str | None = None

    def layer_name(self) -> str:
        return self.layer or self.backbone.default_layer

    @staticmethod
    def channel_weights(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def cam(self, pixels01: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """(N, 1, h, w) map at the layer's resolution: ReLU(sum_k w_k A_k)."""
        module = self.backbone.layer(self.layer_name())
        x = pixels01.detach().clone().requires_grad_(True)  # so the layer's output is part of a graph
        with torch.enable_grad(), captured(module) as capture:
            scores, _ = self.objective(x, targets)
            activations = capture.output
            if not isinstance(activations, torch.Tensor) or activations.ndim != 4:
                raise InvalidParameter("layer", f"layer '{self.layer_name()}' has no (N, C, H, W) feature map "
                                                "for a class activation map")
            (gradients,) = torch.autograd.grad(scores.sum(), activations)
        weights = self.channel_weights(activations.detach(), gradients)
        return F.relu((weights * activations.detach()).sum(dim=1, keepdim=True))

    def combine(self, pixels01: torch.Tensor, targets: torch.Tensor, cam: torch.Tensor) -> torch.Tensor:
        return cam

    def attribute(self, pixels01, targets):
        cam = self.cam(pixels01, targets)
        return self.combine(pixels01, targets, upsample(cam, pixels01.shape[-2:]))


def upsample(cam: torch.Tensor, size: tuple[int, ...] | torch.Size) -> torch.Tensor:
    """(N, 1, h, w) layer-resolution map -> (N, 1, *size): bilinear, non-negative (the map's ReLU kept)."""
    return F.interpolate(cam, size=tuple(size), mode="bilinear", align_corners=False).clamp(min=0)


class GradCAM(CAM):
    """Selvaraju et al. 2017: channel weights are the spatially averaged gradients of the class score."""

    name = "gradcam"

    @staticmethod
    def channel_weights(activations, gradients):
        return gradients.mean(dim=(2, 3), keepdim=True)


class GuidedGradCAM(GradCAM):
    """Selvaraju et al. 2017: guided backprop (fine detail) times the upsampled Grad-CAM (class locality)."""

    name = "guided_gradcam"

    def combine(self, pixels01, targets, cam):
        return GuidedBackprop(self.backbone).attribute(pixels01, targets) * cam
