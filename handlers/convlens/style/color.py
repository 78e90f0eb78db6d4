"""Luminance/chroma split (YIQ, as in Gatys et al. 2017 'Controlling Perceptual Factors') for colour-preserving
style transfer: transfer the luminance only, then put the content's chroma back."""
from __future__ import annotations

import torch

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
