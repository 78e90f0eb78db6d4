#!/usr/bin/env python
"""README pictures of the inspect tools (filters, activations, top patches, neighbours, t-SNE), engine only.

Usage: python scripts/gallery_inspect.py docs/gallery   (`make gallery` runs every scripts/gallery_*.py)
Images come from scikit-image's bundled samples; nothing is downloaded.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "handlers"))

from convlens.core import images, inputs
from convlens.core.backbones import load_backbone
from convlens.inspect import activations, embedding, filters, patches, render


def samples(size: int) -> dict[str, np.ndarray]:
    from skimage import data

    names = ("chelsea", "astronaut", "coffee", "rocket", "camera", "cat")
    out = {}
    for name in names:
        image = Image.fromarray(getattr(data, name)()).convert("RGB")
        out[name] = np.array(inputs.center_crop(inputs.resize_shorter_side(image, size), size))
    return out


def crops(image: np.ndarray, n: int, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Random crops of 60-90% of the side, flipped at random, resized to size: variations of one photo."""
    out = []
    side = image.shape[0]
    for _ in range(n):
        s = int(side * rng.uniform(0.6, 0.9))
        y, x = rng.integers(0, side - s + 1, 2)
        crop = Image.fromarray(image[y:y + s, x:x + s]).resize((size, size), Image.Resampling.BILINEAR)
        array = np.array(crop)
        out.append(array[:, ::-1].copy() if rng.random() < 0.5 else array)
    return out


def save(directory: Path, name: str, picture: np.ndarray) -> None:
    path = directory / f"inspect_{name}.png"
    path.write_bytes(images.encode_png(picture, compress_level=9))
    print(f"wrote {path} {picture.shape[1]}x{picture.shape[0]}")


def main(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    backbone = load_backbone()
    photos = samples(224)
    save(directory, "filters", render.filters_picture(filters.filter_bank(backbone), min_tile=36))
    save(directory, "filters_block2", render.filters_picture(
        filters.filter_bank(backbone, "block2", max_filters=48)))

    maps = activations.activations(backbone, photos["chelsea"], "block3")
    save(directory, "activations", render.activations_picture(maps, min_tile=56))
    save(directory, "activations_channel", render.activations_picture(maps, channel=maps.order[0]))

    rng = np.random.default_rng(0)
    pool = [crop for name in ("chelsea", "astronaut", "coffee", "rocket", "cat") for crop in
            crops(photos[name], 3, 224, rng)]
    result = patches.top_patches(backbone, pool, [str(i) for i in range(len(pool))], "block6", channel=7, top=8,
                                 per_image=2, guided=True)
    save(directory, "top_patches", render.patches_picture(result, 96))

    query = crops(photos["chelsea"], 1, 224, np.random.default_rng(5))[0]
    gallery = [photos[n] for n in ("astronaut", "coffee", "camera", "rocket", "chelsea", "cat")]
    ranking = embedding.neighbors(backbone, query, gallery, list(range(len(gallery))))
    save(directory, "neighbors", render.neighbors_picture(ranking, 96))

    names = ("chelsea", "astronaut", "coffee", "rocket", "camera")
    varied = [crop for name in names for crop in crops(photos[name], 5, 224, rng)]
    layout = embedding.tsne_layout(backbone, varied, [str(i) for i in range(len(varied))], perplexity=5, seed=0)
    save(directory, "tsne", render.layout_picture(layout, "scatter", canvas=640, thumb=72))
    save(directory, "tsne_grid", render.layout_picture(layout, "grid", thumb=72))
    vectors = embedding.embed(backbone, list(photos.values()), list(photos))
    save(directory, "embed", render.embedding_picture(vectors))
    print(f"inspect gallery in {time.perf_counter() - started:.1f}s")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/gallery"))
