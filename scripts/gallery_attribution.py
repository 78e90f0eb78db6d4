#!/usr/bin/env python
"""README pictures of the attribution suite (engine only, no server): every saliency method, an inner neuron,
occlusion and segmentation on skimage's chelsea photo.

    .venv/bin/python scripts/gallery_attribution.py docs/gallery/
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "handlers"))

import numpy as np
from PIL import Image
from skimage import data

from convlens import attribution
from convlens.attribution import occlusion, render, segment
from convlens.attribution.base import Neuron
from convlens.core import backbones, colormaps, images, inputs

SIZE = 160
CAT = 285  # Egyptian cat


def labelled_strip(tiles: list[tuple[str, np.ndarray]]) -> np.ndarray:
    """Tiles side by side with their names drawn above (Pillow's default font)."""
    from PIL import ImageDraw

    h, w = tiles[0][1].shape[:2]
    strip = Image.new("RGB", (w * len(tiles), h + 14), "white")
    draw = ImageDraw.Draw(strip)
    for k, (name, tile) in enumerate(tiles):
        strip.paste(Image.fromarray(tile[..., :3]), (k * w, 14))
        draw.text((k * w + 3, 1), name, fill="black")
    return np.asarray(strip)


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    bb = backbones.load_backbone()
    pixels = inputs.explanation_pixels(Image.fromarray(data.chelsea()), SIZE)
    tiles = [("photo", pixels)]
    for method in attribution.METHODS:
        result = attribution.saliency(bb, pixels, [CAT], method=method)[0]
        view = "overlay" if "cam" in method else "heatmap"
        tiles.append((method, render.saliency_picture(result, view)))  # signed maps: |map| (the default sign)
        if result.signed:
            tiles.append((f"{method[:10]}, diverging", render.saliency_picture(result, view, sign="diverging")))
    (out / "attribution_methods.png").write_bytes(images.encode_image(labelled_strip(tiles[:4]), "png"))
    (out / "attribution_methods_2.png").write_bytes(images.encode_image(labelled_strip(tiles[4:]), "png"))

    neuron = attribution.saliency(bb, pixels, method="guided_backprop", neuron=Neuron("block12", 10))[0]
    occ = occlusion.occlusion(bb, pixels, CAT)  # the endpoint's defaults: patch 32, stride 16
    seg = segment.segment(bb, pixels, CAT)
    white = np.where(seg.mask[..., None], pixels, 255).astype(np.uint8)
    more = [("neuron block12:10", colormaps.heatmap_image(neuron.values)),
            ("occlusion drop", colormaps.overlay(pixels, occ.importance)), ("segment", white)]
    (out / "attribution_neuron_occlusion_segment.png").write_bytes(
        images.encode_image(labelled_strip(more), "png"))
    print(f"wrote {len(list(out.glob('attribution_*.png')))} pictures to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/gallery"))
