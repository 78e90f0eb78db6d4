#!/usr/bin/env python
"""README pictures of the attribution suite (engine only, no server): every saliency method, an inner neuron,
occlusion and segmentation on skimage's chelsea photo, and the faithfulness protocol (deletion and insertion,
docs/api/attribution.md#which-map-to-trust) for three maps against the random one.

    .venv/bin/python scripts/gallery_attribution.py docs/gallery/ [--only methods faithfulness]
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "handlers"))

import numpy as np
from PIL import Image
from skimage import data

from convlens import attribution
from convlens.attribution import faithfulness, occlusion, render, segment
from convlens.attribution.base import Neuron
from convlens.attribution.results import Faithfulness
from convlens.core import backbones, colormaps, grids, images, inputs
from convlens.core.backbones import Backbone

SIZE = 160
CAT = 285  # Egyptian cat
FAITH_SIZE = 224  # the docs' faithfulness table is measured at the backbone's native size, square photos
FAITH_METHODS = ("gradient", "smoothgrad", "gradcam")
FAITH_FRACTIONS = (0.2, 0.5)  # deleted shares shown (points of the default 20-step curve)
CURVE_COLOURS = {"gradient": (214, 39, 40), "smoothgrad": (31, 119, 180), "gradcam": (44, 160, 44),
                 "random": (128, 128, 128)}


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


@dataclass
class Protocol:
    """One map's side of the faithfulness figure: the map, its deletion pictures, its two curves."""

    name: str
    values: np.ndarray          # (H, W) the map (random: its cell scores)
    deleted: np.ndarray         # (len(FAITH_FRACTIONS), H, W, 3) the photo with those shares of cells deleted
    curves: tuple[Faithfulness, ...]  # deletion, insertion (random: the random map's, as the engine computes it)


def faithfulness_runs(bb: Backbone, pixels: np.ndarray, target: int) -> list[Protocol]:
    """Each FAITH_METHODS map of `target` and, last, the random map, through the engine's default protocol
    (blurred removal, 16-px cells): the cell orders' deletion pictures and the deletion/insertion curves."""
    runs, random_images = [], None
    for method in FAITH_METHODS:
        values = attribution.saliency(bb, pixels, [target], method=method)[0].importance
        curves = faithfulness.deletion_insertion(bb, pixels, values, target)
        deleted, random_images = faithfulness.deleted_images(bb, pixels, values, FAITH_FRACTIONS)
        runs.append(Protocol(method, values, deleted, curves))
    cells, _, random_ranks = faithfulness.cell_rankings(runs[0].values, faithfulness.DEFAULT_PATCH)
    order = (1.0 - random_ranks[cells].double() / int(cells.max())).numpy()  # first removed = brightest
    assert random_images is not None
    runs.append(Protocol("random", order, random_images, runs[0].curves))
    return runs


def plot(curves: list[tuple[str, np.ndarray, np.ndarray, float]], title: str, size: int, legend_low: bool
         ) -> np.ndarray:
    """A size x size line chart of (name, fractions, probabilities, auc) curves on 0..1 axes, legend with AUCs
    at the top right (or the bottom right: `legend_low`, where rising curves leave room)."""
    from PIL import ImageDraw

    chart = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(chart)
    left, top, right, bottom = 34, 18, size - 8, size - 24
    draw.text((left, 3), title, fill="black")
    draw.rectangle((left, top, right, bottom), outline=(90, 90, 90))
    for tick in (0.0, 0.5, 1.0):
        x = left + tick * (right - left)
        y = bottom - tick * (bottom - top)
        draw.text((x - 8, bottom + 3), f"{tick:.1f}", fill="black")
        draw.text((4, y - 6), f"{tick:.1f}", fill="black")
    draw.text(((left + right) // 2 - 40, bottom + 12), "fraction of cells", fill="black")
    for k, (name, fractions, probabilities, auc) in enumerate(curves):
        points = [(left + f * (right - left), bottom - p * (bottom - top)) for f, p in zip(fractions, probabilities)]
        colour = CURVE_COLOURS[name]
        draw.line(points, fill=colour, width=2)
        legend_top = bottom - 4 - 12 * len(curves) if legend_low else top + 4
        draw.text((right - 118, legend_top + 12 * k), f"{name}  AUC {auc:.3f}", fill=colour)
    return np.asarray(chart)


def faithfulness_picture(runs: list[Protocol], photo_name: str, label: str) -> np.ndarray:
    """Rows of map | photo after each deleted share (its target probability), then the deletion and insertion
    curves of every map and the random one side by side underneath."""
    rows = []
    for run in runs:
        picture = colormaps.heatmap_image(run.values) if run.name != "random" else colormaps.heatmap_image(
            run.values, "gray")
        deletion, insertion = run.curves
        shown = deletion.random_probabilities if run.name == "random" else deletion.probabilities
        d_auc = deletion.random_auc if run.name == "random" else deletion.auc
        i_auc = insertion.random_auc if run.name == "random" else insertion.auc
        index = [int(np.argmin(np.abs(deletion.fractions - f))) for f in FAITH_FRACTIONS]  # their curve points
        items = [(picture, "map" if run.name != "random" else "random cell order (bright: first)")]
        items += [(image, f"{f:.0%} deleted: p = {shown[i]:.2f}")
                  for image, f, i in zip(run.deleted, FAITH_FRACTIONS, index)]
        rows.append((f"{run.name}: deletion AUC {d_auc:.3f}, insertion AUC {i_auc:.3f}", items))
    thumb = runs[0].values.shape[0]
    block = grids.captioned_rows(rows, thumb)
    charts = []
    for k, metric in enumerate(faithfulness.METRICS):
        lines = [(run.name, run.curves[k].fractions, run.curves[k].probabilities, run.curves[k].auc)
                 for run in runs[:-1]]
        base = runs[0].curves[k]
        lines.append(("random", base.fractions, base.random_probabilities, base.random_auc))
        charts.append(plot(lines, f"{metric}: p({label}) ({photo_name})", block.shape[1] // 2,
                           legend_low=metric == "insertion"))
    curves = np.concatenate(charts, axis=1)
    width = max(block.shape[1], curves.shape[1])
    pad = [np.pad(part, ((0, 0), (0, width - part.shape[1]), (0, 0)), constant_values=255) for part in (block, curves)]
    return np.concatenate(pad, axis=0)


def draw_faithfulness(bb: Backbone, out: Path) -> None:
    """docs/gallery/attribution_faithfulness.png: chelsea at 224 px, its top-1 class."""
    pixels = np.array(Image.fromarray(data.chelsea()).resize((FAITH_SIZE, FAITH_SIZE), Image.BILINEAR))
    top1 = attribution.saliency(bb, pixels, method="gradient")[0].predicted
    runs = faithfulness_runs(bb, pixels, top1.index)
    picture = faithfulness_picture(runs, "chelsea", top1.label)
    (out / "attribution_faithfulness.png").write_bytes(images.encode_image(picture, "png"))


def draw_methods(bb: Backbone, out: Path) -> None:
    """The methods strips and the neuron / occlusion / segment strip on chelsea at SIZE px."""
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, nargs="?", default=Path("docs/gallery"))
    parser.add_argument("--only", nargs="+", choices=("methods", "faithfulness"), default=["methods", "faithfulness"])
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    bb = backbones.load_backbone()
    for part in args.only:
        {"methods": draw_methods, "faithfulness": draw_faithfulness}[part](bb, args.out)
    print(f"wrote {', '.join(args.only)} pictures to {args.out}")


if __name__ == "__main__":
    main()
