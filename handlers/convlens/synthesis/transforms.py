"""The robustness transformations of Olah et al. 2017 (Lucid's standard stack), drawn anew before every step:
padding, jitter, random scaling and small random rotations, and a random resolution (the image seen through a
random low-pass). An image that still excites the objective under all of them cannot rely on pixel-exact
high-frequency patterns, so what survives is structure."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import NamedTuple

import torch
import torch.nn.functional as F


class Draw(NamedTuple):
    """One image's transform: shift (dy, dx) in image px, scale, angle in radians, resolution (1: every pixel,
    0.5: the image seen at half its resolution)."""

    dy: float
    dx: float
    scale: float
    angle: float
    resolution: float = 1.0


@dataclass(frozen=True)
class Robustness:
    """One random similarity transform per image and step: shift up to `jitter` px, scale in `scales`, rotation up
    to `degrees`, on a canvas `pad` image px wider on each side, outside the image the mean grey (Lucid: pad 12,
    jitter 8 then 4, scales 0.9..1.1, rotations -10..10 degrees), sampled `zoom` times finer (the scale at which
    the network will look at the picture), from the image first reduced to a fraction in `resolution` of its
    pixels (antialiased; 1..1: never)."""

    jitter: int = 8
    pad: float = 6.0
    scales: tuple[float, float] = (0.9, 1.1)
    degrees: float = 10.0
    zoom: float = 1.0
    resolution: tuple[float, float] = (1.0, 1.0)

    def canvas(self, size: tuple[int, int]) -> tuple[int, int]:
        """The output side in network pixels: the image plus `pad` on each side (negative: cropped), zoomed."""
        return tuple(max(1, round((side + 2 * self.pad) * self.zoom)) for side in size)  # type: ignore[return-value]

    def still(self) -> Robustness:
        """The same view without randomness: how the picture is finally looked at (classify's view)."""
        return replace(self, jitter=0, scales=(1.0, 1.0), degrees=0.0, resolution=(1.0, 1.0))

    def sample(self, gen: torch.Generator) -> Draw:
        """One image's draw from its own generator."""
        u = torch.rand(5, generator=gen).tolist()
        lo, hi = self.scales
        res_lo, res_hi = self.resolution
        shift = [round((2 * v - 1) * self.jitter) for v in u[:2]]
        return Draw(shift[0], shift[1], lo + (hi - lo) * u[2], math.radians((2 * u[3] - 1) * self.degrees),
                    res_lo + (res_hi - res_lo) * u[4])

    def theta(self, params: list[Draw], size: tuple[int, int], device: torch.device) -> torch.Tensor:
        """(N, 2, 3) affine matrices for `grid_sample`: output (canvas) coordinates -> input coordinates."""
        h, w = size
        ch, cw = h + 2 * self.pad, w + 2 * self.pad  # the canvas in image pixels
        rows = []
        for dy, dx, scale, angle, _ in params:
            cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
            # normalized coordinates differ per axis (canvas vs image side): scale each by its ratio
            rows.append([[cos * cw / w, -sin * ch / w, 2 * dx / w],
                         [sin * cw / h, cos * ch / h, 2 * dy / h]])
        return torch.tensor(rows, dtype=torch.float32, device=device)

    def __call__(self, x: torch.Tensor, gens: list[torch.Generator]) -> torch.Tensor:
        """The batch (N, 3, H, W) in [0, 1] transformed, each image by its own draw, on the padded canvas."""
        return self.apply(x, [self.sample(g) for g in gens])

    def apply(self, x: torch.Tensor, params: list[Draw]) -> torch.Tensor:
        """The batch under the given draws, one per image; outside the image the mean grey 0.5."""
        n, c, h, w = x.shape
        theta = self.theta(params, (h, w), x.device).to(x.dtype)
        grid = F.affine_grid(theta, [n, c, *self.canvas((h, w))], align_corners=False)
        if all(d.resolution >= 1.0 for d in params):
            return F.grid_sample(x - 0.5, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + 0.5
        # normalized coordinates address any resolution alike: the reduced image is sampled by the same grid
        return torch.cat([F.grid_sample(reduced(x[i:i + 1], d.resolution) - 0.5, grid[i:i + 1], mode="bilinear",
                                        padding_mode="zeros", align_corners=False) + 0.5
                          for i, d in enumerate(params)])


def reduced(x: torch.Tensor, fraction: float) -> torch.Tensor:
    """The image at `fraction` of its sides (antialiased area-weighted resampling; at least 8 px), as a low-pass."""
    if fraction >= 1.0:
        return x
    h, w = x.shape[-2:]
    size = (max(8, round(h * fraction)), max(8, round(w * fraction)))
    return F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)


__all__ = ["Draw", "Robustness", "reduced"]
