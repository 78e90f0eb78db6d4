"""Simonyan et al. 2014: gradient saliency, the simplest attribution method."""
from __future__ import annotations

import torch

from .base import Attribution, resolve_targets


class Gradient(Attribution):
    """Simonyan et al. 2014: the gradient of the unnormalized class score with respect to the input pixels.

    Written by hand rather than with Captum's `Saliency` so the logits of the same forward pass give the
    predicted class (one forward + one backward per batch instead of two forwards). Captum's `Saliency` returns
    the absolute gradient per colour channel (shape kept); `reduce` then takes the paper's max over channels.
    """

    name = "gradient"
    supports_neuron = True

    def attribute_with_logits(self, pixels01, targets):
        x = pixels01.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            if self.neuron is None:
                logits = self.logits(x)
                resolved = resolve_targets(targets, logits.detach())
                scores = logits.gather(1, resolved[:, None])[:, 0]
            else:
                scores, logits = self.objective(x, targets)
                resolved = resolve_targets(targets, logits.detach())
            (grad,) = torch.autograd.grad(scores.sum(), x)
        self.scores = scores.detach()
        return grad, logits.detach(), resolved

    def attribute(self, pixels01, targets):
        return self.input_gradient(pixels01, targets)
