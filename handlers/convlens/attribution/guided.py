"""Guided backpropagation (Springenberg et al. 2015) and the Grad-CAM family (Selvaraju et al. 2017).

Written by hand instead of with Captum: Captum's GuidedBackprop hooks only `nn.ReLU` (EfficientNet-Lite uses
`nn.ReLU6`) and uses module backward hooks, which misbehave on an activation module that a block calls twice
(EfficientNet-Lite's `_swish`). Here a forward hook, which fires once per USE of the module, puts a hook on
that use's output tensor that zeroes its negative gradients; the unit's own backward then applies its
(x > 0) mask (and x < 6 for ReLU6), which is exactly Springenberg's rule: only positive gradients pass,
and only through units that were active. Grad-CAM shares one small base whose steps subclasses override, in
the style of pytorch-grad-cam.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from convlens.core.errors import InvalidParameter

from .base import Attribution, captured

RELU_FAMILY: tuple[type[nn.Module], ...] = (nn.ReLU, nn.ReLU6)


def _keep_positive(grad: torch.Tensor) -> torch.Tensor:
    return grad.clamp(min=0)


def _guide(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
    """Forward hook (one call per use of the module): guide the backward pass through this use's output."""
    if isinstance(output, torch.Tensor) and output.requires_grad:
        output.register_hook(_keep_positive)


@contextmanager
def guided_relus(model: nn.Module) -> Iterator[list[torch.utils.hooks.RemovableHandle]]:
    """Within the block, backward passes through every ReLU/ReLU6 of `model` are guided; hooks always removed.

    The tensor hooks live on the outputs of this block's forward passes and die with their graphs.
    """
    handles: list[torch.utils.hooks.RemovableHandle] = []
    try:
        for module in model.modules():
            if isinstance(module, RELU_FAMILY):
                if getattr(module, "inplace", False):
                    raise ValueError(f"guided backprop needs out-of-place activations; {module} is in-place")
                handles.append(module.register_forward_hook(_guide))
        yield handles
    finally:
        for handle in handles:
            handle.remove()


class GuidedBackprop(Attribution):
    """Springenberg et al. 2015: the input gradient with negative gradients stopped at every ReLU-family unit."""

    name = "guided_backprop"
    supports_neuron = True

    def attribute(self, pixels01, targets):
        with guided_relus(self.backbone.model):
            return self.input_gradient(pixels01, targets)


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
        up = F.interpolate(cam, size=pixels01.shape[-2:], mode="bilinear", align_corners=False).clamp(min=0)
        return self.combine(pixels01, targets, up)


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
