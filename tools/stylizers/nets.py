"""Feed-forward stylizers (Johnson et al. 2016) with instance norm (Ulyanov et al. 2016).

Downsampling convs, residual blocks, upsampling by nearest resize + conv (no checkerboard), reflection padding,
pixels in [0, 1] in and out. `width`/`blocks` scale the network; the small variant runs fast on 2 CPU cores.
With `styles > 1` every norm is a conditional instance norm (Dumoulin et al. 2017): each style owns a scale and
shift per channel, and a convex blend weight vector mixes them at run time.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class NetConfig:
    """Shape of a stylizer: base channel width, residual block count, number of styles (CIN when > 1)."""

    width: int = 16
    blocks: int = 3
    styles: int = 1
    outer_kernel: int = 9

    def to_dict(self) -> dict:
        return asdict(self)


SMALL = NetConfig(width=16, blocks=3)
PAPER = NetConfig(width=32, blocks=5)  # Johnson et al.: c9s1-32, d64, d128, 5 x R128, u64, u32, c9s1-3


class CondInstanceNorm(nn.Module):
    """Instance norm whose per-channel scale/shift are a blend (weights @ table) of per-style rows.

    `fixed` (mean, var) with `alpha` = 1 replaces the map's own statistics (thumbnail instance norm, Chen et al.
    2022): tiles of a large image then share one set of statistics and stitch without seams. The layer records
    the statistics it used in `stats` so a thumbnail pass can provide them; with `stats` None it neither records
    nor replaces them and runs as one fused instance norm (the fast single-tile graph).
    """

    def __init__(self, channels: int, styles: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(styles, channels))
        self.shift = nn.Parameter(torch.zeros(styles, channels))

    def forward(self, x: torch.Tensor, weights: torch.Tensor | None, stats: list[torch.Tensor] | None,
                fixed: list[torch.Tensor] | None, alpha: torch.Tensor | None) -> torch.Tensor:
        # weights: (N, styles), or None for style 0 alone
        if stats is None:  # nothing recorded or replaced: one fused op (ONNX InstanceNormalization)
            if weights is None:
                return F.instance_norm(x, weight=self.scale[0], bias=self.shift[0], eps=1e-5)
            return self.affine(F.instance_norm(x, eps=1e-5), weights)
        # normalization written out so ONNX export has no running-stat branches and exposes the statistics
        mean = x.mean(dim=(2, 3), keepdim=True)
        var = ((x - mean) ** 2).mean(dim=(2, 3), keepdim=True)
        if fixed is not None and alpha is not None:
            k = len(stats)
            mean = alpha * fixed[k] + (1 - alpha) * mean
            var = alpha * fixed[k + 1] + (1 - alpha) * var
        stats.extend((mean, var))
        return self.affine((x - mean) / torch.sqrt(var + 1e-5), weights)

    def affine(self, y: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
        """The blended per-channel scale and shift applied to normalized maps."""
        if weights is None:
            return y * self.scale[0][:, None, None] + self.shift[0][:, None, None]
        scale = (weights @ self.scale)[:, :, None, None]
        shift = (weights @ self.shift)[:, :, None, None]
        return y * scale + shift


class ConvNorm(nn.Module):
    """Reflection pad (zeros in the conv with `reflect` False) + conv (+ conditional instance norm + ReLU unless
    `relu` False)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, styles: int, relu: bool = True,
                 norm: bool = True, upsample: bool = False, reflect: bool = True) -> None:
        super().__init__()
        self.upsample = upsample
        self.pad: nn.Module = nn.ReflectionPad2d(kernel // 2) if reflect else nn.Identity()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding=0 if reflect else kernel // 2)
        self.norm = CondInstanceNorm(cout, styles) if norm else None
        self.relu = relu

    def forward(self, x: torch.Tensor, weights: torch.Tensor | None, stats: list[torch.Tensor] | None,
                fixed: list[torch.Tensor] | None = None, alpha: torch.Tensor | None = None) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        x = self.conv(self.pad(x))
        if self.norm is not None:
            x = self.norm(x, weights, stats, fixed, alpha)
        return F.relu(x) if self.relu else x


class Residual(nn.Module):
    def __init__(self, channels: int, styles: int) -> None:
        super().__init__()
        self.a = ConvNorm(channels, channels, 3, 1, styles)
        self.b = ConvNorm(channels, channels, 3, 1, styles, relu=False)

    def forward(self, x: torch.Tensor, weights: torch.Tensor | None, stats: list[torch.Tensor] | None,
                fixed: list[torch.Tensor] | None = None, alpha: torch.Tensor | None = None) -> torch.Tensor:
        return x + self.b(self.a(x, weights, stats, fixed, alpha), weights, stats, fixed, alpha)


class StylizerBase(nn.Module):
    """What every feed-forward stylizer shares: blend weights, padding to the stride grid, statistics in and out.

    Subclasses build their layers and define `layers(x, weights, stats, fixed, alpha)` on H, W multiples of 4.
    `forward(x)` uses style 0 (single-style nets); `forward(x, weights)` blends styles with (N, S) or (S,) weights.
    """

    config: Any

    def blend_weights(self, x: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
        if weights is None:
            weights = torch.zeros(self.config.styles, dtype=x.dtype, device=x.device)
            weights[0] = 1.0
        weights = weights.to(dtype=x.dtype, device=x.device)
        return weights.reshape(1, -1).expand(x.shape[0], -1) if weights.dim() == 1 else weights

    def forward(self, x: torch.Tensor, weights: torch.Tensor | None = None,
                fixed: list[torch.Tensor] | None = None) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % 4, (-w) % 4
        y = F.pad(x, (0, pw, 0, ph), mode="reflect") if ph or pw else x
        alpha = None if fixed is None else torch.ones((), dtype=x.dtype, device=x.device)
        return self.core(y, self.blend_weights(x, weights), fixed, alpha)[0][:, :, :h, :w]

    def core(self, x: torch.Tensor, weights: torch.Tensor, fixed: list[torch.Tensor] | None = None,
             alpha: torch.Tensor | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The network on H, W multiples of 4: (image, [mean, var] of every norm layer in order)."""
        stats: list[torch.Tensor] = []
        return self.layers(x, weights, stats, fixed, alpha), stats

    def fused(self, x: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """The network on H, W multiples of 4 with its own statistics, norms fused (weights None: style 0)."""
        return self.layers(x, weights, None)

    def layers(self, x: torch.Tensor, weights: torch.Tensor | None, stats: list[torch.Tensor] | None,
               fixed: list[torch.Tensor] | None = None, alpha: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def norm_channels(self) -> list[int]:
        """Channel count of each statistics tensor `core` returns (mean and var per norm layer)."""
        return [c for m in self.modules() if isinstance(m, CondInstanceNorm) for c in (m.scale.shape[1],) * 2]

    def statistics(self, x: torch.Tensor, weights: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Instance-norm statistics of every layer for `x` (e.g. a thumbnail of a large image)."""
        h, w = x.shape[-2:]
        y = F.pad(x, (0, (-w) % 4, 0, (-h) % 4), mode="reflect") if h % 4 or w % 4 else x
        return self.core(y, self.blend_weights(x, weights))[1]


class Stylizer(StylizerBase):
    """Image (N, 3, H, W) in [0, 1] -> stylized image of the same size in [0, 1]; fully convolutional.

    Any H, W work: the input is reflect-padded to a multiple of 4 and the output cropped back.
    """

    def __init__(self, config: NetConfig = SMALL) -> None:
        super().__init__()
        self.config = config
        w, s, k = config.width, config.styles, config.outer_kernel
        self.down = nn.ModuleList([ConvNorm(3, w, k, 1, s), ConvNorm(w, 2 * w, 3, 2, s),
                                   ConvNorm(2 * w, 4 * w, 3, 2, s)])
        self.res = nn.ModuleList([Residual(4 * w, s) for _ in range(config.blocks)])
        self.up = nn.ModuleList([ConvNorm(4 * w, 2 * w, 3, 1, s, upsample=True),
                                 ConvNorm(2 * w, w, 3, 1, s, upsample=True)])
        self.out = ConvNorm(w, 3, k, 1, s, relu=False, norm=False)

    def layers(self, x: torch.Tensor, weights: torch.Tensor | None, stats: list[torch.Tensor] | None,
               fixed: list[torch.Tensor] | None = None, alpha: torch.Tensor | None = None) -> torch.Tensor:
        return (torch.tanh(self.out(self.trunk(x, weights, stats, fixed, alpha), weights, stats)) + 1) / 2

    def trunk(self, x: torch.Tensor, weights: torch.Tensor | None, stats: list[torch.Tensor] | None,
              fixed: list[torch.Tensor] | None = None, alpha: torch.Tensor | None = None) -> torch.Tensor:
        """Every layer before the output conv (which the fast ONNX graph rewrites)."""
        y = x * 2 - 1
        for layer in self.down:
            y = layer(y, weights, stats, fixed, alpha)
        for block in self.res:
            y = block(y, weights, stats, fixed, alpha)
        for layer in self.up:
            y = layer(y, weights, stats, fixed, alpha)
        return y


RECEPTIVE_RADIUS = 40  # pixels of context one output pixel sees in the default nets (9+3+3+3x2x3+3+3+9 convs)


def flops_per_pixel(config: NetConfig) -> float:
    """Multiply-adds x 2 per input pixel of one forward pass (convs only), for the GFLOP/s benchmark."""
    w, k = config.width, config.outer_kernel
    macs = (k * k * 3 * w + 9 * w * 2 * w / 4 + 9 * 2 * w * 4 * w / 16 + config.blocks * 2 * 9 * (4 * w) ** 2 / 16
            + 9 * 4 * w * 2 * w / 4 + 9 * 2 * w * w + k * k * w * 3)
    return 2.0 * macs


def save(model: Stylizer, path: str, extra: dict | None = None) -> None:
    """A checkpoint: config + state dict (+ anything JSON-like), loadable with weights_only=True."""
    torch.save({"config": model.config.to_dict(), "state": model.state_dict(), **(extra or {})}, path)


def load(path: str, map_location: str | torch.device = "cpu") -> tuple[Stylizer, dict]:
    """A stylizer from `save`'s checkpoint (weights_only: no pickle code runs)."""
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    model = Stylizer(NetConfig(**ckpt["config"]))
    model.load_state_dict(ckpt["state"])
    return model.eval(), ckpt
