"""Image priors of the synthesis techniques: blur, L2 and alpha norms, total variation, jitter, and the
small-norm / small-contribution pixel clipping of Yosinski et al. 2015. All on (N, 3, H, W) tensors."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gaussian_kernel(sigma: float) -> torch.Tensor:
    """A normalized 1-D Gaussian of radius ceil(3 sigma)."""
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur per channel with reflect padding (size kept)."""
    if sigma <= 0:
        return x
    k = gaussian_kernel(sigma).to(x.device, x.dtype)
    r = (len(k) - 1) // 2
    c = x.shape[1]
    r_h, r_w = min(r, x.shape[-2] - 1), min(r, x.shape[-1] - 1)
    k_h, k_w = k[r - r_h: r + r_h + 1], k[r - r_w: r + r_w + 1]
    k_h, k_w = k_h / k_h.sum(), k_w / k_w.sum()
    y = F.conv2d(F.pad(x, (r_w, r_w, 0, 0), mode="reflect"), k_w.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(F.pad(y, (0, 0, r_h, r_h), mode="reflect"), k_h.view(1, 1, -1, 1).repeat(c, 1, 1, 1),
                    groups=c)


def total_variation(x: torch.Tensor, beta: float = 2.0) -> torch.Tensor:
    """Per-image mean of ((x[i,j+1]-x[i,j])^2 + (x[i+1,j]-x[i,j])^2)^(beta/2) (Mahendran & Vedaldi's R_V^beta)."""
    dx = x[..., :-1, 1:] - x[..., :-1, :-1]
    dy = x[..., 1:, :-1] - x[..., :-1, :-1]
    squared = (dx * dx + dy * dy).sum(dim=1)
    value = squared if beta == 2.0 else (squared + 1e-12) ** (beta / 2)
    return value.flatten(1).mean(dim=1)


def alpha_norm(x: torch.Tensor, alpha: float = 6.0) -> torch.Tensor:
    """Per-image mean of |x|^alpha (the alpha-norm prior: keeps values in range)."""
    return x.abs().pow(alpha).flatten(1).mean(dim=1)


def roll(x: torch.Tensor, shifts: list[tuple[int, int]]) -> torch.Tensor:
    """Roll each image of the batch by its own (dy, dx): jitter that gradients undo automatically."""
    if all(s == (0, 0) for s in shifts):
        return x
    return torch.cat([torch.roll(x[i:i + 1], shifts=s, dims=(2, 3)) for i, s in enumerate(shifts)])


def random_shifts(gens: list[torch.Generator], jitter: int) -> list[tuple[int, int]]:
    """One (dy, dx) in [-jitter, jitter]^2 per image, drawn from that image's own generator."""
    if jitter <= 0:
        return [(0, 0)] * len(gens)
    pairs = [torch.randint(-jitter, jitter + 1, (2,), generator=g) for g in gens]
    return [(int(dy), int(dx)) for dy, dx in pairs]


def clip_below_percentile(centered: torch.Tensor, score: torch.Tensor, pct: float) -> torch.Tensor:
    """Zero (set to the mean colour) the pixels whose (N, H, W) score is below each image's percentile."""
    if pct <= 0:
        return centered
    threshold = torch.quantile(score.flatten(1), pct / 100.0, dim=1).view(-1, 1, 1)
    return centered * (score >= threshold)[:, None]


def clip_small_norm(centered: torch.Tensor, pct: float) -> torch.Tensor:
    """Yosinski's theta_n_pct: pixels with a small colour norm go to the mean colour."""
    return clip_below_percentile(centered, centered.norm(dim=1), pct)


def clip_small_contribution(centered: torch.Tensor, grad: torch.Tensor, pct: float) -> torch.Tensor:
    """Yosinski's theta_c_pct: pixels whose linearized contribution |sum_c x * dJ/dx| is small go to the mean."""
    return clip_below_percentile(centered, (centered * grad).sum(dim=1).abs(), pct)
