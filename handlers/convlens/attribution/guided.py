"""Guided backpropagation (Springenberg et al. 2015).

Written by hand instead of with Captum: Captum's GuidedBackprop hooks only `nn.ReLU` (EfficientNet-Lite uses
`nn.ReLU6`) and uses module backward hooks, which misbehave on an activation module that a block calls twice
(EfficientNet-Lite's `_swish`). Here a forward hook, which fires once per USE of the module, puts a hook on
that use's output tensor that zeroes its negative gradients; the unit's own backward then applies its
(x > 0) mask (and x < 6 for ReLU6), which is exactly Springenberg's rule: only positive gradients pass,
and only through units that were active.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from convlens.core.errors import InvalidParameter

from .base import Attribution

RELU_FAMILY: tuple[type[nn.Module], ...] = (nn.ReLU, nn.ReLU6)


def _keep_positive(grad: torch.Tensor) -> torch.Tensor:
    return grad.clamp(min=0)


def _guide(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
    """Forward hook (one call per use of the module): guide the backward pass through this use's output."""
    if isinstance(output, torch.Tensor) and output.requires_grad:
        output.register_hook(_keep_positive)


@contextmanager
def guided_relus(model: nn.Module, field: str = "method") -> Iterator[list[torch.utils.hooks.RemovableHandle]]:
    """Within the block, backward passes through every ReLU/ReLU6 of `model` are guided; hooks always removed.

    The tensor hooks live on the outputs of this block's forward passes and die with their graphs. A model with
    no ReLU/ReLU6 module (functional activations, SiLU/GELU, TorchScript) cannot be guided: a 400 naming `field`.
    """
    handles: list[torch.utils.hooks.RemovableHandle] = []
    try:
        for module in model.modules():
            if isinstance(module, RELU_FAMILY):
                if getattr(module, "inplace", False):
                    raise ValueError(f"guided backprop needs out-of-place activations; {module} is in-place")
                handles.append(module.register_forward_hook(_guide))
        if not handles:
            raise InvalidParameter(field, "guided backprop needs ReLU or ReLU6 modules to guide, and this model has "
                                          "none (its activations are functional, of another kind, or TorchScript)")
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
