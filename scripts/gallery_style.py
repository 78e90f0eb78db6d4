#!/usr/bin/env python
"""README gallery of the style area: every shipped stylizer (and each style of the multi-style network, plus a
blend) on the same photos, each distilled real-time student next to its teacher, the procedural style images, and
one optimization-based transfer.

    .venv/bin/python scripts/gallery_style.py docs/gallery [--only students,stylizers,patterns,transfer]

style_transfer.png: the content, then `style_transfer` at its default fields (sliced Wasserstein loss with the
`pixels` palette layer, palette=match, style_weight 10, L-BFGS) in two styles, 60 steps at 256 px, then the old
defaults (Gram loss, palette=none) in the second style for comparison; the transfers run in parallel processes.
"""
from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "handlers"), str(ROOT)]

import numpy as np
import torch
from PIL import Image, ImageDraw
from skimage import data
from tools.stylizers import patterns, quality  # noqa: E402

from convlens.core import backbones  # noqa: E402
from convlens.style import transfer  # noqa: E402
from convlens.stylize import runtime  # noqa: E402
from convlens.synthesis.metrics import psnr  # noqa: E402

CELL = 192


square = quality.square


def grid(rows: list[list[np.ndarray]], labels: list[str]) -> Image.Image:
    """Cells in rows, a label strip on top of the columns."""
    cols = len(rows[0])
    sheet = Image.new("RGB", (cols * CELL, 18 + len(rows) * CELL), "white")
    draw = ImageDraw.Draw(sheet)
    for c, label in enumerate(labels):
        draw.text((c * CELL + 4, 3), label, fill="black")
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            sheet.paste(Image.fromarray(cell), (c * CELL, 18 + r * CELL))
    return sheet


def students(library: runtime.StyleLibrary, photos: list[np.ndarray]) -> Image.Image:
    """Teacher | student pairs: every single-style network and the style only the multi-style one has, the
    student's mean PSNR to its teacher over these photos in its label."""
    pairs: list[tuple[str, runtime.StylizerModel, runtime.StylizerModel, np.ndarray | None]] = []
    for name, model in library.singles("lite").items():
        pairs.append((name, library.singles(runtime.FULL)[name], model, None))
    lite, full = library.multi("lite"), library.multi(runtime.FULL)
    if lite is not None and full is not None:
        style = next((s for s in lite.styles if s not in library.singles(runtime.FULL)), lite.styles[-1])
        pairs.append((f"{full.name}:{style}", full, lite, quality.style_weights(lite, style)))
    rows: list[list[np.ndarray]] = [[p] for p in photos]
    labels = ["photo"]
    for name, teacher, student, weights in pairs:
        scores = []
        for row, photo in zip(rows, photos):
            row += [runtime.stylize(teacher, photo, weights), runtime.stylize(student, photo, weights)]
            scores.append(psnr(row[-1], row[-2]))
        labels += [f"{name} full", f"lite {np.mean(scores):.1f} dB"]
    return grid(rows, labels)


PICTURES = ("students", "stylizers", "patterns", "transfer")
TRANSFERS = (("brush_flow", {}), ("stained_glass", {}),
             ("stained_glass", {"style_loss": "gram", "match_palette": False}))  # the old defaults, to compare


def transferred(style_name: str, options: dict) -> np.ndarray:
    """One optimization transfer of the chelsea photo (runs in a worker process: it loads its own backbone)."""
    torch.set_num_threads(1)
    backbone = backbones.load_backbone(device=torch.device("cpu"))
    content = torch.from_numpy(data.chelsea()).permute(2, 0, 1)[None].float() / 255
    style = torch.from_numpy(patterns.make(style_name, 256)).permute(2, 0, 1)[None].float() / 255
    r = transfer.style_transfer(backbone, content, [style], transfer.TransferSettings(steps=60, size=256, **options))
    return square(r.image)


def main(out_dir: str, only: tuple[str, ...] = PICTURES) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    library = runtime.StyleLibrary(ROOT / "model_store" / "stylizers")
    photos = [square(data.astronaut()), square(data.chelsea()), square(data.coffee())]
    if "students" in only and library.variant("lite"):
        students(library, photos).save(out / "style_students.png")
    if "stylizers" in only:
        columns: list[tuple[str, runtime.StylizerModel, np.ndarray | None]] = []
        for name, model in library.singles(runtime.FULL).items():
            columns.append((name, model, None))
        net = library.multi(runtime.FULL)
        if net is not None:
            for i, style in enumerate(net.styles):
                w = np.zeros(len(net.styles), np.float32)
                w[i] = 1
                columns.append((f"{net.name}:{style}", net, w))
            w = np.zeros(len(net.styles), np.float32)
            w[:2] = 0.5
            columns.append((f"blend {net.styles[0]}+{net.styles[1]}", net, w))
        rows = [[p] + [runtime.stylize(m, p, w) for _, m, w in columns] for p in photos]
        grid(rows, ["photo"] + [c[0] for c in columns]).save(out / "style_stylizers.png")
    if "patterns" in only:
        names = list(patterns.PATTERNS)
        grid([[square(patterns.make(n, 256)) for n in names]], names).save(out / "style_patterns.png")
    if "transfer" in only:
        with ProcessPoolExecutor(len(TRANSFERS)) as pool:
            cells = list(pool.map(transferred, *zip(*TRANSFERS)))
        labels = [f"{name}{' (gram, palette none)' if options else ''}" for name, options in TRANSFERS]
        grid([[square(data.chelsea()), *cells]], ["content", *labels]).save(out / "style_transfer.png")
    print(f"wrote {', '.join(only)} under {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", nargs="?", default="docs/gallery")
    parser.add_argument("--only", default=",".join(PICTURES), help="comma-separated pictures to redraw")
    args = parser.parse_args()
    main(args.out_dir, tuple(args.only.split(",")))
