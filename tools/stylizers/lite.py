"""The real-time student stylizer: the shipped network's job at a fraction of its cost (issue 20).

Where the teacher (`nets.Stylizer`) spends its work: two full-resolution 9x9 convs and 16-channel full-resolution
maps, and 3 residual blocks of dense 3x3 convs at 64 channels. The student runs nothing at full resolution but its
first conv (5x5, stride 2) and a free `PixelShuffle`: a 5x5 stride-2 conv to `width` channels at 1/2, a 3x3 stride-2
conv to 2 `width` at 1/4, depthwise-separable residual blocks there (MobileNet: a 3x3 depthwise conv, then a 1x1
pointwise conv), nearest upsampling and a separable conv back to `width` at 1/2, one more separable conv, and a
3x3 conv to 12 channels that `PixelShuffle` turns into the full-resolution RGB image. Instance norms (conditional
for multi-style nets) as the teacher's, so the same ONNX export, thumbnail statistics, tiles and runtime serve it;
zero padding inside the convs instead of the teacher's reflection `Pad` ops, which took 11 % of the student's time
in ONNX Runtime (profiled at 512 px).
Trained by distillation from the teacher (`distill.py`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from . import nets
from .nets import ConvNorm

ARCH = "lite"  # the manifest's network["arch"] and the checkpoint's "arch" for this network


@dataclass(frozen=True)
class LiteConfig:
    """Shape of a student: channels at half resolution (twice that at a quarter), separable blocks, styles."""

    width: int = 32
    blocks: int = 4
    styles: int = 1
    arch: str = ARCH

    def to_dict(self) -> dict:
        return asdict(self)


class SepConvNorm(nn.Module):
    """3x3 depthwise conv (zero padding) + 1x1 pointwise conv + conditional instance norm (+ ReLU unless `relu`
    False); nearest 2x upsampling first when `upsample`."""

    def __init__(self, cin: int, cout: int, styles: int, relu: bool = True, upsample: bool = False) -> None:
        super().__init__()
        self.upsample = upsample
        self.depthwise = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1)
        self.norm = nets.CondInstanceNorm(cout, styles)
        self.relu = relu

    def forward(self, x: torch.Tensor, weights: torch.Tensor | None, stats: list[torch.Tensor] | None,
                fixed: list[torch.Tensor] | None = None, alpha: torch.Tensor | None = None) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        x = self.norm(self.pointwise(self.depthwise(x)), weights, stats, fixed, alpha)
        return F.relu(x) if self.relu else x


class SepResidual(nn.Module):
    """x + two separable convs (the second without ReLU), as the teacher's residual block."""

    def __init__(self, channels: int, styles: int) -> None:
        super().__init__()
        self.a = SepConvNorm(channels, channels, styles)
        self.b = SepConvNorm(channels, channels, styles, relu=False)

    def forward(self, x: torch.Tensor, weights: torch.Tensor | None, stats: list[torch.Tensor] | None,
                fixed: list[torch.Tensor] | None = None, alpha: torch.Tensor | None = None) -> torch.Tensor:
        return x + self.b(self.a(x, weights, stats, fixed, alpha), weights, stats, fixed, alpha)


class LiteStylizer(nets.StylizerBase):
    """Image (N, 3, H, W) in [0, 1] -> stylized image of the same size; the teacher's interface (`forward`,
    `core`, `fused`, `statistics`, `norm_channels`), so export, tiles and runtime need nothing new."""

    def __init__(self, config: LiteConfig = LiteConfig()) -> None:
        super().__init__()
        self.config = config
        w, s = config.width, config.styles
        self.down = nn.ModuleList([ConvNorm(3, w, 5, 2, s, reflect=False), ConvNorm(w, 2 * w, 3, 2, s, reflect=False)])
        self.res = nn.ModuleList([SepResidual(2 * w, s) for _ in range(config.blocks)])
        self.up = nn.ModuleList([SepConvNorm(2 * w, w, s, upsample=True), SepConvNorm(w, w, s)])
        self.out = ConvNorm(w, 12, 3, 1, s, relu=False, norm=False, reflect=False)

    def layers(self, x: torch.Tensor, weights: torch.Tensor | None, stats: list[torch.Tensor] | None,
               fixed: list[torch.Tensor] | None = None, alpha: torch.Tensor | None = None) -> torch.Tensor:
        y = x * 2 - 1
        for layer in [*self.down, *self.res, *self.up]:
            y = layer(y, weights, stats, fixed, alpha)
        y = F.pixel_shuffle(self.out(y, weights, stats), 2)
        return (torch.tanh(y) + 1) / 2


RECEPTIVE_RADIUS = 45  # full-resolution pixels one output pixel sees (< runtime.MARGIN: tiles stay seamless)


def flops_per_pixel(config: LiteConfig) -> float:
    """Multiply-adds x 2 per input pixel of one forward pass (convs only), as `nets.flops_per_pixel`."""
    w, q = config.width, 2 * config.width
    macs = (25 * 3 * w / 4 + 9 * w * q / 16 + config.blocks * 2 * (9 * q + q * q) / 16
            + (9 * q + q * w) / 4 + (9 * w + w * w) / 4 + 9 * w * 12 / 4)
    return 2.0 * macs


class LiteFast(nn.Module):
    """The student's single-tile ONNX graph: image (and blend weights) in, stylized image out, fused norms."""

    def __init__(self, model: LiteStylizer) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor, *weights: torch.Tensor) -> torch.Tensor:
        return self.model.fused(image, weights[0] if weights else None)


def build(config: dict) -> nets.Stylizer | LiteStylizer:
    """The network a checkpoint's or manifest's `config`/`network` dict describes: student or teacher."""
    if config.get("arch") == ARCH:
        return LiteStylizer(LiteConfig(**config))
    return nets.Stylizer(nets.NetConfig(**config))


def load(path: str, map_location: str | torch.device = "cpu") -> tuple[nets.Stylizer | LiteStylizer, dict]:
    """A student or teacher from its checkpoint (weights_only: no pickle code runs)."""
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    model = build(ckpt["config"])
    model.load_state_dict(ckpt["state"])
    return model.eval(), ckpt
