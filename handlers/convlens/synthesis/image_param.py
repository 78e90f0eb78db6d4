"""Image parameterizations: what the optimizer moves. Pixels directly, or a colour-decorrelated Fourier
spectrum (Olah et al., Distill 2017 / Lucid) whose low frequencies dominate, for more natural pictures."""
from __future__ import annotations

import torch

from .common import noise

# Square root of the ImageNet colour correlation (Lucid's `color_correlation_svd_sqrt`), scaled so its largest
# column has unit norm: decorrelated channels -> RGB.
_COLOR_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
COLOR_MATRIX = _COLOR_SQRT / _COLOR_SQRT.norm(dim=0).max()


class PixelParam:
    """The pixels themselves, in [0, 1]: a grey image plus a little seeded noise per image."""

    def __init__(self, init: torch.Tensor) -> None:
        self.x = init.detach().clone().clamp_(0, 1).requires_grad_(True)

    @classmethod
    def grey_noise(cls, count: int, size: tuple[int, int], gens: list[torch.Generator], device: torch.device,
                   sd: float = 0.05) -> PixelParam:
        init = torch.cat([0.5 + noise((1, 3, *size), g, device, sd) for g in gens[:count]])
        return cls(init)

    def parameters(self) -> list[torch.Tensor]:
        return [self.x]

    def image(self) -> torch.Tensor:
        return self.x


def fft_scale(height: int, width: int, decay_power: float = 1.0) -> torch.Tensor:
    """1/f^decay amplitude of each rfft2 coefficient (the lowest frequency capped at 1/max side)."""
    fy = torch.fft.fftfreq(height)[:, None]
    fx = torch.fft.rfftfreq(width)[None, :]
    freqs = torch.sqrt(fx * fx + fy * fy)
    return 1.0 / torch.clamp(freqs, min=1.0 / max(height, width)) ** decay_power


class FourierParam:
    """A random spectrum per image (sd 0.01), scaled by 1/f, inverse FFT, colour decorrelation, sigmoid."""

    def __init__(self, count: int, size: tuple[int, int], gens: list[torch.Generator], device: torch.device,
                 sd: float = 0.01, decay_power: float = 1.0) -> None:
        height, width = size
        self.size = size
        shape = (1, 3, height, width // 2 + 1, 2)
        self.spectrum = torch.cat([noise(shape, g, device, sd) for g in gens[:count]]).requires_grad_(True)
        self.scale = fft_scale(height, width, decay_power).to(device)[None, None]
        self.color = COLOR_MATRIX.to(device)

    def parameters(self) -> list[torch.Tensor]:
        return [self.spectrum]

    def image(self) -> torch.Tensor:
        spectrum = torch.view_as_complex(self.spectrum) * self.scale
        x = torch.fft.irfft2(spectrum, s=self.size, norm="ortho") / 4.0
        x = torch.einsum("nchw,dc->ndhw", x, self.color)
        return torch.sigmoid(x)



__all__ = ["COLOR_MATRIX", "FourierParam", "PixelParam", "fft_scale"]
