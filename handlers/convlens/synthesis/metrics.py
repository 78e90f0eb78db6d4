"""Reconstruction quality: PSNR and SSIM (Wang et al. 2004) of pictures in [0, 1], written here so the engine
needs no image-quality library."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .regularizers import gaussian_kernel


def _as_tensor(image: np.ndarray | torch.Tensor) -> torch.Tensor:
    """HxWx3 uint8 / float [0,1] array, or (3,H,W) tensor -> (1, 3, H, W) float64 in [0, 1]."""
    if isinstance(image, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(image))
        t = t.double() / 255.0 if image.dtype == np.uint8 else t.double()
        return t.permute(2, 0, 1)[None]
    t = image.detach().double().cpu()  # the window is a CPU tensor; metrics of pictures are cheap on CPU
    return t if t.dim() == 4 else t[None]


def psnr(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB for data range 1 (infinite for identical pictures)."""
    mse = float(((_as_tensor(a) - _as_tensor(b)) ** 2).mean())
    return math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)


def ssim(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor, sigma: float = 1.5) -> float:
    """Mean structural similarity over channels: Gaussian window (sigma 1.5, 11 taps), K1=0.01, K2=0.03,
    data range 1, reflect padding, and the border of half a window left out of the mean."""
    x, y = _as_tensor(a), _as_tensor(b)
    c = x.shape[1]
    k = gaussian_kernel(sigma).double()
    r = (len(k) - 1) // 2
    window = (k[:, None] * k[None, :]).expand(c, 1, -1, -1).contiguous()

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(t, (r, r, r, r), mode="reflect"), window, groups=c)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    if s.shape[-1] > 2 * r and s.shape[-2] > 2 * r:
        s = s[..., r:-r, r:-r]
    return float(s.mean())
