"""Colour control of style transfer: the luminance/chroma split (YIQ, as in Gatys et al. 2017 'Controlling
Perceptual Factors') to keep the content's colours, and palette transfer (Pitié et al. 2005) to take the style's."""
from __future__ import annotations

import torch
import torch.nn.functional as F

_RGB2YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def rgb_to_yiq(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB -> YIQ (Y in [0, 1])."""
    return torch.einsum("ij,njhw->nihw", _RGB2YIQ.to(x), x)


def yiq_to_rgb(x: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,njhw->nihw", torch.linalg.inv(_RGB2YIQ).to(x), x)


def luminance(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) -> (N, 3, H, W) grey image of the luminance, so a colour network can see it."""
    return rgb_to_yiq(x)[:, :1].expand(-1, 3, -1, -1).contiguous()


def match_luminance(style_y: torch.Tensor, content_y: torch.Tensor) -> torch.Tensor:
    """Shift/scale the style luminance to the content's mean and std (Gatys et al. 2017, section 5.1)."""
    s_mean, s_std = style_y.mean(), style_y.std().clamp_min(1e-6)
    return ((style_y - s_mean) / s_std * content_y.std() + content_y.mean()).clamp(0, 1)


def keep_colors(stylized: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The stylized luminance with the content's chroma (I, Q), back in RGB, clamped to [0, 1]."""
    out = rgb_to_yiq(stylized)
    out[:, 1:] = rgb_to_yiq(content)[:, 1:]
    return yiq_to_rgb(out).clamp(0, 1)


def match_palette(image: torch.Tensor, reference: torch.Tensor, generator: torch.Generator,
                  iterations: int = 12) -> torch.Tensor:
    """`image` (1, 3, H, W) recoloured to the RGB distribution of `reference` (1, 3, h, w): iterative distribution
    transfer (Pitié et al. 2005) -- along random rotations of the colour axes, each pixel's coordinate is moved to
    the reference's value of the same rank. Keeps the image's structure (ranks) and takes the style's palette."""
    x = image.reshape(3, -1).clone()
    ref = reference.reshape(3, -1)
    for _ in range(iterations):
        rotation, _ = torch.linalg.qr(torch.randn(3, 3, generator=generator))
        rotation = rotation.to(x)
        px, pr = rotation.t() @ x, rotation.t() @ ref
        order = px.argsort(dim=1)
        matched = F.interpolate(pr.sort(dim=1).values[None], size=x.shape[1], mode="linear", align_corners=True)[0]
        moved = torch.empty_like(px)
        moved.scatter_(1, order, matched)
        x = x + rotation @ (moved - px)
    return x.reshape(image.shape).clamp(0, 1)
