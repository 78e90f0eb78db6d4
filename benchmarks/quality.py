#!/usr/bin/env python
"""Picture quality of the synthesis and style endpoints at their default fields, on the bundled photos (issue 17).

    .venv/bin/python benchmarks/quality.py [--quick] [--only texture,transfer,fooling,classviz] [--json OUT]

- texture (scikit-image's brick, grass, coffee as samples): near-pure pixel share (`convlens.style.metrics`) at
  most 1 % and no higher than the sample's, and the palette distance to the sample smaller than the start's;
- style_transfer (chelsea, astronaut x the procedural styles of tools/stylizers/patterns.py): the same share,
  and a palette distance to the style smaller than the content photo's;
- fooling (chelsea -> koala, astronaut -> goldfish): the fooled PNG, decoded and classified as `classify` does
  (resize 256, crop 224), gives the target;
- classviz: `benchmarks/quality_classviz.py`'s `classviz_quality()`, where that module exists.

Prints a markdown table per part; exits 1 when a check fails. `--quick`: smaller sizes and fewer steps (a smoke run,
not the measurement). Runs on the engine (no server), one torch thread unless `--threads`.
"""
from __future__ import annotations

import argparse
import importlib
import io
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "handlers"), str(ROOT), str(ROOT / "benchmarks")]

from tools.stylizers import patterns  # noqa: E402 - after the sys.path set-up

from convlens.core import backbones, inputs  # noqa: E402
from convlens.core.classify import classify_logits  # noqa: E402
from convlens.style import transfer  # noqa: E402
from convlens.style.metrics import near_pure_share, palette_distance  # noqa: E402
from convlens.synthesis import fooling, texture  # noqa: E402
from convlens.synthesis.texture import DEFAULT_LAYERS  # noqa: E402

Row = dict[str, Any]
MAX_NEAR_PURE = 0.01


def photo(name: str) -> np.ndarray:
    """A scikit-image photo as HxWx3 uint8."""
    from skimage import data

    return np.asarray(Image.fromarray(getattr(data, name)()).convert("RGB"))


def fit(array: np.ndarray, longer: int) -> np.ndarray:
    """Scaled so the longer side is `longer`."""
    image = Image.fromarray(array)
    scale = longer / max(image.size)
    return np.asarray(image.resize((round(image.width * scale), round(image.height * scale)), Image.BILINEAR))


def textures(bb: backbones.Backbone, quick: bool) -> list[Row]:
    """Default-field textures (128 px, 200 steps; quick: 64 px, 40 steps) of three samples."""
    size, steps = (64, 40) if quick else (128, 200)
    rows = []
    for name in ("brick", "grass", "coffee"):
        sample = fit(photo(name), 96 if quick else 256)
        started = time.perf_counter()
        result = texture(bb, sample, DEFAULT_LAYERS, size=(size, size), steps=steps)
        seconds = time.perf_counter() - started
        start = texture(bb, sample, DEFAULT_LAYERS, size=(size, size), steps=0).image
        share, own = result.metrics["near_pure_share"], near_pure_share(sample)
        distance, before = palette_distance(result.image, sample), palette_distance(start, sample)
        rows.append({"sample": name, "seconds": seconds, "near_pure": share, "sample_near_pure": own,
                     "palette": distance, "start_palette": before,
                     "ok": share <= max(MAX_NEAR_PURE, own) and distance < before})
    return rows


def transfers(bb: backbones.Backbone, quick: bool) -> list[Row]:
    """Default-field transfers (256 px, 100 steps; quick: 128 px, 20 steps) of two photos in four styles."""
    size, steps = (128, 20) if quick else (256, 100)
    rows = []
    for content_name in ("chelsea", "astronaut"):
        content = photo(content_name)
        content_t = inputs.to_tensor(content)[None]
        for style_name in patterns.PATTERNS:
            style = patterns.make(style_name, 256)
            started = time.perf_counter()
            result = transfer.style_transfer(bb, content_t, [inputs.to_tensor(style)[None]],
                                             transfer.TransferSettings(size=size, steps=steps))
            share, own = near_pure_share(result.image), near_pure_share(style)
            distance, before = palette_distance(result.image, style), palette_distance(content, style)
            rows.append({"content": content_name, "style": style_name, "seconds": time.perf_counter() - started,
                         "near_pure": share, "style_near_pure": own, "palette": distance,
                         "content_palette": before,
                         "ok": share <= max(MAX_NEAR_PURE, own) and distance < before})
    return rows


def foolings(bb: backbones.Backbone, quick: bool) -> list[Row]:
    """Default-field fooling (shorter side 224, confidence 0.9), then classify's view of the PNG."""
    rows = []
    for name, target in (("chelsea", 105), ("astronaut", 1)):
        pixels = inputs.explanation_pixels(Image.fromarray(photo(name)), 224)
        started = time.perf_counter()
        result = fooling(bb, pixels, target)
        seconds = time.perf_counter() - started
        buffer = io.BytesIO()
        Image.fromarray(result.image).save(buffer, format="PNG")
        decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
        probs = torch.softmax(classify_logits(bb, decoded).float(), dim=0)
        top = int(probs.argmax())
        rows.append({"photo": name, "target": bb.labels[target], "seconds": seconds, "steps": result.steps,
                     "linf_levels": result.metrics["linf_levels"], "classify_top1": bb.labels[top],
                     "classify_p_target": float(probs[target]), "ok": top == target})
    return rows


def classviz_part(bb: backbones.Backbone, quick: bool) -> list[Row]:
    """benchmarks/quality_classviz.py's rows (the classviz work), when that module is present."""
    try:
        module = importlib.import_module("quality_classviz")
    except ModuleNotFoundError:
        print("(benchmarks/quality_classviz.py not present: classviz part skipped)")
        return []
    rows = module.classviz_quality()
    return [dict(r) for r in rows] if rows else []


PARTS: dict[str, Callable[[backbones.Backbone, bool], list[Row]]] = {
    "texture": textures, "transfer": transfers, "fooling": foolings, "classviz": classviz_part}


def table(rows: list[Row]) -> str:
    """A markdown table of rows with the same keys (floats to 4 significant digits)."""
    if not rows:
        return "(no rows)"
    keys = list(rows[0])
    cells = [[f"{r[k]:.4g}" if isinstance(r[k], float) else str(r[k]) for k in keys] for r in rows]
    return "\n".join(["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)] + ["| " + " | ".join(c) + " |"
                                                                                  for c in cells])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, few steps (smoke run)")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of {', '.join(PARTS)}")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="also write the rows as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bb = backbones.load_backbone()
    results: dict[str, list[Row]] = {}
    for part in args.only.split(","):
        results[part] = PARTS[part](bb, args.quick)
        print(f"\n## {part}\n\n{table(results[part])}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    failed = [(part, r) for part, rows in results.items() for r in rows if not r.get("ok", True)]
    print(f"\n{len(failed)} failed check(s)" + "".join(f"\n  {p}: {r}" for p, r in failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
