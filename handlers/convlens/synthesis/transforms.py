"""The robustness transformations of Olah et al. 2017 (Lucid's standard stack), drawn anew before every step:
padding, jitter, random scaling and small random rotations. An image that still excites the objective under all
of them cannot rely on pixel-exact high-frequency patterns, so what survives is structure."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Robustness:
    """One random similarity transform per image and step: shift up to `jitter` px, scale in `scales`, rotation up
    to `degrees`, on a canvas `pad` image px wider on each side, outside the image the mean grey (Lucid: pad 12,
    jitter 8 then 4, scales 0.9..1.1, rotations -10..10 degrees), sampled `zoom` times finer (the scale at which
    the network will look at the picture)."""

    jitter: int = 8
    pad: float = 6.0
    scales: tuple[float, float] = (0.9, 1.1)
    degrees: float = 10.0
    zoom: float = 1.0

    def canvas(self, size: tuple[int, int]) -> tuple[int, int]:
        """The output side in network pixels: the image plus `pad` on each side (negative: cropped), zoomed."""
        return tuple(max(1, round((side + 2 * self.pad) * self.zoom)) for side in size)  # type: ignore[return-value]

    def still(self) -> Robustness:
        """The same view without randomness: how the picture is finally looked at (classify's view)."""
        return replace(self, jitter=0, scales=(1.0, 1.0), degrees=0.0)

    def sample(self, gen: torch.Generator) -> tuple[float, float, float, float]:
        """(dy, dx in px, scale, angle in radians), drawn from one image's generator."""
        u = torch.rand(4, generator=gen).tolist()
        lo, hi = self.scales
        shift = [round((2 * v - 1) * self.jitter) for v in u[:2]]
        return shift[0], shift[1], lo + (hi - lo) * u[2], math.radians((2 * u[3] - 1) * self.degrees)

    def theta(self, params: list[tuple[float, float, float, float]], size: tuple[int, int],
              device: torch.device) -> torch.Tensor:
        """(N, 2, 3) affine matrices for `grid_sample`: output (canvas) coordinates -> input coordinates."""
        h, w = size
        ch, cw = h + 2 * self.pad, w + 2 * self.pad  # the canvas in image pixels
        rows = []
        for dy, dx, scale, angle in params:
            cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
            # normalized coordinates differ per axis (canvas vs image side): scale each by its ratio
            rows.append([[cos * cw / w, -sin * ch / w, 2 * dx / w],
                         [sin * cw / h, cos * ch / h, 2 * dy / h]])
        return torch.tensor(rows, dtype=torch.float32, device=device)

    def __call__(self, x: torch.Tensor, gens: list[torch.Generator]) -> torch.Tensor:
        """The batch (N, 3, H, W) in [0, 1] transformed, each image by its own draw, on the padded canvas."""
        return self.apply(x, [self.sample(g) for g in gens])

    def apply(self, x: torch.Tensor, params: list[tuple[float, float, float, float]]) -> torch.Tensor:
        """The batch under the given (dy, dx, scale, angle) per image; outside the image the mean grey 0.5."""
        n, c, h, w = x.shape
        theta = self.theta(params, (h, w), x.device).to(x.dtype)
        grid = F.affine_grid(theta, [n, c, *self.canvas((h, w))], align_corners=False)
        return F.grid_sample(x - 0.5, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + 0.5

__all__ = ["Robustness"]
