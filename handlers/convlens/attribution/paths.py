"""Multi-pass gradient methods: SmoothGrad (Smilkov et al. 2017) and Integrated Gradients (Sundararajan et al.
2017). Both evaluate many perturbed copies of the image, in batches (`batch_size`, auto = sized to memory).
"""
from __future__ import annotations

import math

import torch

from .base import Attribution, auto_batch_size

BASELINES = ("black", "zero", "blur", "noise")


def blurred(pixels01: torch.Tensor, sigma: float) -> torch.Tensor:
    """A Gaussian-blurred copy of an (N, 3, H, W) batch (reflect padding), for baselines and occlusion fills."""
    radius = max(1, math.ceil(3 * sigma))
    size = 2 * radius + 1
    h, w = pixels01.shape[-2:]
    if radius >= min(h, w):  # reflect padding needs the kernel radius below the image size
        return pixels01.mean(dim=(2, 3), keepdim=True).expand_as(pixels01).clone()
    from torchvision.transforms.functional import gaussian_blur  # only when blurring: not in every worker's start

    return gaussian_blur(pixels01, [size, size], [sigma, sigma])


class SmoothGrad(Attribution):
    """Smilkov et al. 2017: the mean gradient over `samples` noisy copies, noise std = `noise` x the image's
    value range (the paper's "noise level"; 10-20% works best there). Hand-written rather than Captum's
    NoiseTunnel so it serves inner neurons too, takes the noise as a fraction of the range (NoiseTunnel's
    `stdevs` is absolute) and is reproducible from `seed`."""

    name = "smoothgrad"
    supports_neuron = True
    options = ("noise", "samples", "batch_size", "seed")
    noise: float = 0.15
    samples: int = 25
    batch_size: int | None = None
    seed: int = 0

    def attribute(self, pixels01, targets):
        n, c, h, w = pixels01.shape
        generator = torch.Generator().manual_seed(self.seed)
        span = (pixels01.flatten(1).amax(1) - pixels01.flatten(1).amin(1)).clamp(min=1e-6).cpu()
        noise = torch.randn((n, self.samples, c, h, w), generator=generator, dtype=pixels01.dtype)
        noise = (noise * (self.noise * span).view(n, 1, 1, 1, 1)).to(pixels01.device)
        noisy = (pixels01[:, None] + noise).flatten(0, 1)  # (n * samples, c, h, w), image-major
        repeated = targets.repeat_interleave(self.samples)
        batch = self.batch_size or auto_batch_size(h, w, pixels01.device)
        grads = torch.cat([self.input_gradient(noisy[i:i + batch], repeated[i:i + batch])
                           for i in range(0, len(noisy), batch)])
        return grads.view(n, self.samples, c, h, w).mean(dim=1)


class IntegratedGradients(Attribution):
    """Sundararajan et al. 2017, computed by Captum's IntegratedGradients (Gauss-Legendre quadrature over
    `steps` points, `batch_size` points per pass). The map is the SIGNED sum over colour channels, so it keeps
    completeness per pixel: the map sums to F(image) - F(baseline)."""

    name = "integrated_gradients"
    signed = True
    options = ("baseline", "steps", "batch_size", "seed")
    baseline: str = "black"
    steps: int = 32
    batch_size: int | None = None
    seed: int = 0

    def baseline_pixels(self, pixels01: torch.Tensor) -> torch.Tensor:
        """black: all-zero pixels; zero: the network input 0 (= the normalization mean pixel); blur: a heavily
        blurred copy; noise: uniform random pixels (from `seed`)."""
        if self.baseline == "black":
            return torch.zeros_like(pixels01)
        if self.baseline == "zero":
            mean = torch.tensor(self.backbone.preprocessing.mean, dtype=pixels01.dtype, device=pixels01.device)
            return mean.view(1, 3, 1, 1).expand_as(pixels01).clone()
        if self.baseline == "blur":
            return blurred(pixels01, sigma=max(1.0, 0.05 * min(pixels01.shape[-2:])))
        if self.baseline == "noise":
            generator = torch.Generator().manual_seed(self.seed)
            return torch.rand(pixels01.shape, generator=generator, dtype=pixels01.dtype).to(pixels01.device)
        raise ValueError(f"unknown baseline '{self.baseline}'; choose one of {', '.join(BASELINES)}")

    def attribute(self, pixels01, targets):
        from captum.attr import IntegratedGradients as CaptumIG

        n, _, h, w = pixels01.shape
        batch = self.batch_size or auto_batch_size(h, w, pixels01.device)
        # Captum's internal_batch_size counts path points of ALL images per pass (at least one per image), so
        # the memory-sized batch is the cap whatever the number of images
        with torch.enable_grad():
            return CaptumIG(self.logits).attribute(
                pixels01.detach(), baselines=self.baseline_pixels(pixels01), target=targets.tolist(),
                n_steps=self.steps, method="gausslegendre", internal_batch_size=max(n, batch))

    @staticmethod
    def reduce(attribution: torch.Tensor) -> torch.Tensor:
        return attribution.sum(dim=1)
