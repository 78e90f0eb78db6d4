"""Arbitrary-style stylizer (Ghiasi et al. 2017): a style prediction network feeding our conditional-IN transformer.

Style image -> frozen EfficientNet-Lite0 features (the loss network's own layers, plus the RGB pixels) -> per-channel
mean and standard deviation of each layer -> standardized -> MLP -> a `embed`-d style embedding e. The transformer is
`nets.Stylizer` unchanged, with `styles = embed + 1`: its conditional instance norms compute
scale = w @ scale_table and shift = w @ shift_table, so with w = [e, 1] the tables *are* Ghiasi's linear heads from the
embedding to every norm's gamma/beta (the last row is their bias). Hence:

- a style is encoded once (`style_vector`, cacheable) and any number of photos reuse it;
- the transformer's ONNX graph, its fast single-tile rewrite, tiling and runtime stay the tuned ones: the embedding
  goes in through the existing `weights` input (`export.export_checkpoint` works on `transformer_checkpoint`);
- interpolating two styles is interpolating their vectors.

Checkpoints (`save`/`load`, `torch.load(weights_only=True)`): kind "arbitrary", the transformer's NetConfig, the
encoder's config, both state dicts; the frozen backbone is named, not stored.
"""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from convlens.core import backbones
from convlens.style import losses

from . import nets

PIXELS = losses.PIXELS  # the RGB image itself (its statistics carry the palette)


@dataclass(frozen=True)
class EncoderConfig:
    """The style prediction network: which frozen layers, their channel counts, MLP width, embedding size."""

    backbone: str = "efficientnet_lite0"
    layers: tuple[str, ...] = (PIXELS, "stem", "block2", "block5", "block8")
    channels: tuple[int, ...] = (3, 32, 24, 40, 80)
    hidden: int = 256
    embed: int = 100
    style_size: int = 128  # short side the style image is resized to before encoding (its training scale)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> EncoderConfig:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def feature_statistics(feats: dict[str, torch.Tensor], layers: tuple[str, ...]) -> torch.Tensor:
    """(N, 2 * sum(C)) per-channel means and standard deviations of the named (N, C, H, W) feature maps."""
    parts = []
    for name in layers:
        f = feats[name].flatten(2)
        parts += [f.mean(dim=2), (f.var(dim=2, unbiased=False) + 1e-6).sqrt()]
    return torch.cat(parts, dim=1)


class StyleEncoder(nn.Module):
    """Feature statistics -> style embedding (the trainable part of the style prediction network)."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.config = config
        dim = 2 * sum(config.channels)
        # standardization of the statistics (set once from sampled styles by the trainer, then fixed)
        self.register_buffer("center", torch.zeros(dim))
        self.register_buffer("spread", torch.ones(dim))
        self.mlp = nn.Sequential(nn.Linear(dim, config.hidden), nn.ReLU(), nn.Linear(config.hidden, config.embed))

    def forward(self, stats: torch.Tensor) -> torch.Tensor:
        return self.mlp((stats - self.center) / self.spread)


class ArbitraryStylizer(nn.Module):
    """`style_vector(stats)` once per style, then `forward(content, vector)` for any number of photos."""

    def __init__(self, net: nets.NetConfig = nets.SMALL, encoder: EncoderConfig | None = None) -> None:
        super().__init__()
        encoder = encoder or EncoderConfig()
        self.encoder = StyleEncoder(encoder)
        self.transformer = nets.Stylizer(dataclasses.replace(net, styles=encoder.embed + 1))
        with torch.no_grad():  # start as plain instance norm with identity affine; the embedding rows learn from 0
            for m in self.transformer.modules():
                if isinstance(m, nets.CondInstanceNorm):
                    m.scale.normal_(0.0, 0.01)
                    m.scale[-1] = 1.0
                    m.shift.normal_(0.0, 0.01)
                    m.shift[-1] = 0.0

    @property
    def config(self) -> nets.NetConfig:
        return self.transformer.config

    def style_vector(self, stats: torch.Tensor) -> torch.Tensor:
        """(N, embed + 1): the embedding with the constant 1 of the heads' bias row; the transformer's `weights`."""
        e = self.encoder(stats)
        return torch.cat([e, torch.ones_like(e[:, :1])], dim=1)

    def forward(self, content: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
        return self.transformer(content, vector)


class StyleFeatures:
    """The frozen backbone half of the style prediction network (shared with the loss network when training)."""

    def __init__(self, config: EncoderConfig, extractor: losses.FeatureExtractor | None = None,
                 device: torch.device | None = None) -> None:
        self.config = config
        if extractor is None:
            backbone = backbones.load_backbone(config.backbone, device=device or torch.device("cpu"))
            extractor = losses.FeatureExtractor(backbone, losses.network_layers(config.layers))
        self.extractor = extractor

    def features(self, image01: torch.Tensor) -> dict[str, torch.Tensor]:
        return losses.with_pixels(self.extractor(image01), image01)

    def statistics(self, image01: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return feature_statistics(self.features(image01), self.config.layers)


def style_tensor(image: np.ndarray, size: int, device: torch.device | None = None) -> torch.Tensor:
    """HxWx3 (uint8 or float [0, 1]) -> (1, 3, h, w) float on `device`, short side `size` (the encoder's scale)."""
    from PIL import Image

    a = np.asarray(image)
    a = a if a.dtype == np.uint8 else (np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8)
    h, w = a.shape[:2]
    scale = size / min(h, w)
    if scale != 1:
        a = np.asarray(Image.fromarray(a).resize((max(1, round(w * scale)), max(1, round(h * scale))),
                                                 Image.LANCZOS))
    return torch.from_numpy(np.ascontiguousarray(a).astype(np.float32) / 255).permute(2, 0, 1)[None].to(
        device or torch.device("cpu"))


def save(model: ArbitraryStylizer, path: str | Path, extra: dict | None = None) -> None:
    """Atomic checkpoint (written beside, then renamed: a kill mid-save keeps the previous one)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"kind": "arbitrary", "config": model.config.to_dict(),
                "encoder": model.encoder.config.to_dict(), "state": model.state_dict(), **(extra or {})}, tmp)
    tmp.replace(path)


def load(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[ArbitraryStylizer, dict]:
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    if ckpt.get("kind") != "arbitrary":
        raise SystemExit(f"{path}: not an arbitrary-style checkpoint")
    model = ArbitraryStylizer(nets.NetConfig(**ckpt["config"]), EncoderConfig.from_dict(ckpt["encoder"]))
    model.load_state_dict(ckpt["state"])
    return model.eval(), ckpt


def transformer_checkpoint(model: ArbitraryStylizer, path: str | Path, ckpt: dict) -> None:
    """The transformer alone as a `nets` checkpoint (styles e0..e{embed-1}, bias), for `export.py` to export."""
    names = [f"e{i}" for i in range(model.encoder.config.embed)] + ["bias"]
    nets.save(model.transformer, str(path), {"styles": names, "steps": int(ckpt.get("steps", 0)),
                                             "recipe": str(ckpt.get("recipe", ""))})


def size_report(model: ArbitraryStylizer) -> dict:
    """Parameter counts (and float32 MB) of the shipped parts: transformer, trainable encoder, frozen backbone part."""
    frozen = StyleFeatures(model.encoder.config).extractor.backbone
    last = max(int(n.removeprefix("block")) for n in model.encoder.config.layers if n.startswith("block"))
    used = sum(p.numel() for n, p in frozen.model.named_parameters()
               if n.startswith("stem") or (n.startswith("blocks.") and int(n.split(".")[1]) < last))
    counts = {"transformer": sum(p.numel() for p in model.transformer.parameters()),
              "encoder_mlp": sum(p.numel() for p in model.encoder.parameters()), "backbone_to_last_layer": used}
    return {**counts, "total": sum(counts.values()), "MB_float32": round(sum(counts.values()) * 4 / 1e6, 2)}


def preview(model: ArbitraryStylizer, features: StyleFeatures, contents: list[np.ndarray],
            styles: list[np.ndarray], path: str | Path, side: int = 160) -> None:
    """A PNG with one row per (content, style) pair: content | style | output, each `side` px."""
    from PIL import Image

    device = next(model.parameters()).device

    def square(a: np.ndarray) -> torch.Tensor:
        t = style_tensor(a, side, device)
        h, w = t.shape[-2:]
        return t[:, :, (h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]

    rows = []
    with torch.no_grad():
        for content, style in zip(contents, styles):
            size = model.encoder.config.style_size
            vector = model.style_vector(features.statistics(style_tensor(style, size, device)))
            x = square(content)
            y = model(x, vector)
            rows.append(torch.cat([x, square(style), y], dim=3))
    grid = (torch.cat(rows, dim=2)[0].permute(1, 2, 0).clamp(0, 1) * 255 + 0.5).byte().cpu().numpy()
    Image.fromarray(grid).save(path)


def main(argv: list[str] | None = None) -> None:
    """`python -m tools.stylizers.arbitrary CKPT --png out.png [--style FAMILY_OR_FILE ...] [--content PHOTO ...]`."""
    from . import style_sampler, train

    p = argparse.ArgumentParser(prog="python -m tools.stylizers.arbitrary", description=main.__doc__)
    p.add_argument("checkpoint")
    p.add_argument("--png", required=True)
    p.add_argument("--style", action="append", help="a family name or an image file (default: one per family)")
    p.add_argument("--content", action="append", help="a bundled photo name or an image file (default: astronaut)")
    p.add_argument("--side", type=int, default=160)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    model, ckpt = load(args.checkpoint)
    size = model.encoder.config.style_size
    names = args.style or list(style_sampler.FAMILIES)
    styles = [style_sampler.resize(style_sampler.FAMILIES[s](size=size, seed=1), size) if s in style_sampler.FAMILIES
              else (train.load_rgb(s) * 255).astype(np.uint8) for s in names]
    photos = dict(zip(train.SKIMAGE_PHOTOS, train.content_images("skimage")))
    contents = [photos[c] if c in photos else train.load_rgb(c) for c in (args.content or ["astronaut"])]
    contents = [contents[i % len(contents)] for i in range(len(styles))]
    preview(model, StyleFeatures(model.encoder.config), contents, styles, args.png, args.side)
    print(f"{args.png}: {len(styles)} rows, checkpoint step {ckpt.get('steps')}, {size_report(model)}")


if __name__ == "__main__":
    main()
