#!/usr/bin/env python
"""Faithfulness and sanity of every attribution method on the bundled photos (skimage's), on the default backbone:

- deletion and insertion AUC (Petsiuk et al. 2018) of each map for the photo's top-1 class, against a seeded
  random map (`convlens.attribution.faithfulness` states the protocol);
- the pointing game (Zhang et al. 2016) on 2 x 2 composites of four photos: a hit when the map of one photo's
  class peaks inside that photo's quadrant;
- the cascading model-parameter randomization test (Adebayo et al. 2018): Spearman rank correlation of each map
  with the map after re-initialising the classifier, the head, then deeper blocks; a method PASSES when the mean
  correlation after randomizing down to `JUDGED_AT` is below `PASS_BELOW` (its map depends on the learned weights);
- agreement with Captum on the methods it implements (Saliency, NoiseTunnel SmoothGrad, IntegratedGradients,
  LayerGradCam, Occlusion) under matched settings: Spearman rank correlation of the maps.

    .venv/bin/python benchmarks/faithfulness.py [--size 224] [--photos 6] [--json build/bench/faithfulness.json]
        [--write-table]    # rewrite handlers/convlens/attribution/sanity_results.json (what describe() reports)
        [--only faithfulness pointing randomization agreement]   # parts (several processes can share a run)
    .venv/bin/python benchmarks/faithfulness.py --from-json A.json B.json [--write-table]   # tables of saved parts

Prints markdown tables (docs/api/attribution.md#which-map-to-trust keeps them). Several minutes on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "handlers")]

import numpy as np  # noqa: E402 - after the sys.path set-up
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from skimage import data  # noqa: E402

from convlens import attribution  # noqa: E402
from convlens.attribution import faithfulness, occlusion, sanity  # noqa: E402
from convlens.core import backbones  # noqa: E402
from convlens.core.backbones import Backbone  # noqa: E402

PHOTOS: dict[str, Callable[[], np.ndarray]] = {
    "chelsea": data.chelsea, "coffee": data.coffee, "astronaut": data.astronaut, "rocket": data.rocket,
    "motorcycle": lambda: data.stereo_motorcycle()[0], "camera": lambda: np.stack([data.camera()] * 3, axis=-1)}
ALL_METHODS = (*attribution.METHODS, "occlusion")
METHODS = ALL_METHODS  # --methods narrows it (a run split over processes)
STAGES = ("fc", "head", "blocks.15", "blocks.8")  # cascade points measured
JUDGED_AT = "blocks.15"  # classifier, head and the last block randomized
PASS_BELOW = 0.5
TABLE = ROOT / "handlers" / "convlens" / "attribution" / "sanity_results.json"


def photo(name: str, size: int) -> np.ndarray:
    """A bundled photo as a size x size RGB uint8 array."""
    return np.array(Image.fromarray(PHOTOS[name]()).convert("RGB").resize((size, size), Image.BILINEAR))


def importance(bb: Backbone, pixels: np.ndarray, target: int, method: str) -> np.ndarray:
    """The method's map of `target` as pixel importance (magnitude; occlusion: the probability drop)."""
    if method == "occlusion":
        return occlusion.occlusion(bb, pixels, target).importance
    return attribution.saliency(bb, pixels, [target], method=method)[0].importance


def top1(bb: Backbone, pixels: np.ndarray) -> int:
    return attribution.saliency(bb, pixels, method="gradient")[0].predicted.index


def faithfulness_rows(bb: Backbone, photos: dict[str, np.ndarray], targets: dict[str, int]) -> dict[str, Any]:
    """Per method: mean deletion/insertion AUC of its maps and of the random maps, and how often each wins."""
    rows: dict[str, Any] = {}
    for method in (*METHODS, "integrated_gradients (signed order)"):
        per_photo = []
        for name, pixels in photos.items():
            if method.endswith("(signed order)"):  # the defect of issue 22: ranking signed values as they are
                values = attribution.saliency(bb, pixels, [targets[name]], method="integrated_gradients")[0].values
            else:
                values = importance(bb, pixels, targets[name], method)
            curves = faithfulness.deletion_insertion(bb, pixels, values, targets[name])
            per_photo.append({c.metric: (c.auc, c.random_auc) for c in curves})
        rows[method] = {metric: {"auc": statistics.mean(p[metric][0] for p in per_photo),
                                 "random_auc": statistics.mean(p[metric][1] for p in per_photo),
                                 "wins": sum((p[metric][0] < p[metric][1]) == (metric == "deletion")
                                             for p in per_photo)}
                        for metric in faithfulness.METRICS}
        print(f"  faithfulness {method}: {rows[method]}", flush=True)
    return rows


def composites(photos: dict[str, np.ndarray], size: int) -> list[tuple[np.ndarray, list[tuple[str, tuple]]]]:
    """2 x 2 composites of four photos each (every photo in turn), with each photo's quadrant box."""
    names, half = list(photos), size // 2
    out = []
    for k in range(len(names)):
        chosen = [names[(k + i) % len(names)] for i in range(4)]
        canvas = np.zeros((size, size, 3), np.uint8)
        boxes = []
        for q, name in enumerate(chosen):
            top, left = (q // 2) * half, (q % 2) * half
            canvas[top:top + half, left:left + half] = np.array(
                Image.fromarray(photos[name]).resize((half, half), Image.BILINEAR))
            boxes.append((name, (top, left, top + half, left + half)))
        out.append((canvas, boxes[:1]))  # the photo in the top-left quadrant is the one pointed at
    return out


def pointing_rows(bb: Backbone, photos: dict[str, np.ndarray], targets: dict[str, int], size: int
                  ) -> dict[str, Any]:
    """Per method: pointing-game hits out of the composites (target: the class the photo alone gets)."""
    rows = {}
    for method in METHODS:
        hits = [sanity.pointing_hit(importance(bb, canvas, targets[boxes[0][0]], method), boxes[0][1])
                for canvas, boxes in composites(photos, size)]
        rows[method] = {"hits": int(sum(hits)), "of": len(hits)}
        print(f"  pointing {method}: {rows[method]}", flush=True)
    return rows


def randomization_rows(bb: Backbone, photos: dict[str, np.ndarray], targets: dict[str, int]) -> dict[str, Any]:
    """Per method: mean Spearman correlation with the original map after each cascade point, and the verdict."""
    order = sanity.cascade(bb.model)
    randomized = {stage: sanity.randomized(bb, order[:order.index(stage) + 1]) for stage in STAGES}
    rows = {}
    for method in METHODS:
        originals = {name: importance(bb, pixels, targets[name], method) for name, pixels in photos.items()}
        rho = {stage: statistics.mean(sanity.spearman(originals[name],
                                                      importance(rb, pixels, targets[name], method))
                                      for name, pixels in photos.items())
               for stage, rb in randomized.items()}
        rows[method] = {"spearman": rho, "passes": rho[JUDGED_AT] < PASS_BELOW}
        print(f"  randomization {method}: {rows[method]}", flush=True)
    return rows


def captum_map(bb: Backbone, pixels: np.ndarray, target: int, method: str) -> np.ndarray:
    """Captum's map under the settings ConvLens uses by default, reduced as ConvLens reduces it."""
    import captum.attr as ca

    x = torch.from_numpy(pixels).permute(2, 0, 1)[None].float().div(255.0).contiguous()

    def logits(p: torch.Tensor) -> torch.Tensor:
        return bb.model(bb.normalize(p))

    if method == "gradient":
        return ca.Saliency(logits).attribute(x, target=target)[0].amax(0).numpy()
    if method == "smoothgrad":
        span = float(x.max() - x.min())
        tunnel = ca.NoiseTunnel(ca.Saliency(logits))
        grads = tunnel.attribute(x, nt_type="smoothgrad", nt_samples=25, stdevs=0.15 * span, target=target,
                                 abs=False)
        return grads[0].abs().amax(0).numpy()
    if method == "integrated_gradients":
        ig = ca.IntegratedGradients(logits).attribute(x, baselines=torch.zeros_like(x), target=target, n_steps=32)
        return ig[0].sum(0).abs().numpy()
    if method == "gradcam":
        cam = ca.LayerGradCam(logits, bb.layer(bb.default_layer)).attribute(x, target=target)
        return ca.LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), "bilinear")[0, 0].clamp(min=0).detach().numpy()
    if method == "occlusion":
        mean = torch.tensor(bb.preprocessing.mean).view(1, 3, 1, 1).expand_as(x)

        def probability(p: torch.Tensor) -> torch.Tensor:
            return torch.softmax(logits(p), dim=1)

        drop = ca.Occlusion(probability).attribute(x, sliding_window_shapes=(3, 32, 32), strides=(3, 16, 16),
                                                   baselines=mean, target=target)
        return drop[0, 0].clamp(min=0).numpy()
    raise ValueError(method)


def agreement_rows(bb: Backbone, photos: dict[str, np.ndarray], targets: dict[str, int]) -> dict[str, Any]:
    """Per method Captum implements: mean Spearman correlation of ConvLens's map with Captum's."""
    rows = {}
    for method in ("gradient", "smoothgrad", "integrated_gradients", "gradcam", "occlusion"):
        rho = [sanity.spearman(importance(bb, pixels, targets[name], method),
                               captum_map(bb, pixels, targets[name], method)) for name, pixels in photos.items()]
        rows[method] = {"spearman": statistics.mean(rho), "min": min(rho)}
        print(f"  agreement {method}: {rows[method]}", flush=True)
    return rows


def markdown(results: dict[str, Any]) -> str:
    """The docs' tables."""
    f, p, r = results["faithfulness"], results["pointing"], results["randomization"]
    lines = ["| method | deletion AUC (random) | insertion AUC (random) | pointing game | "
             f"randomization ρ at {JUDGED_AT} | randomization test |", "|---|---|---|---|---|---|"]
    for m in f:
        d, i = f[m]["deletion"], f[m]["insertion"]
        point = f"{p[m]['hits']}/{p[m]['of']}" if m in p else ""
        rand = (f"{r[m]['spearman'][JUDGED_AT]:.2f}", "passes" if r[m]["passes"] else "**fails**") if m in r \
            else ("", "")
        lines.append(f"| {m} | {d['auc']:.3f} ({d['random_auc']:.3f}) | {i['auc']:.3f} ({i['random_auc']:.3f}) | "
                     f"{point} | {rand[0]} | {rand[1]} |")
    lines += ["", "| method | Spearman ρ with Captum (mean, min) |", "|---|---|"]
    lines += [f"| {m} | {a['spearman']:.3f}, {a['min']:.3f} |" for m, a in results["agreement"].items()]
    lines += ["", "| method | " + " | ".join(STAGES) + " |", "|---|" + "---|" * len(STAGES)]
    lines += [f"| {m} | " + " | ".join(f"{row['spearman'][s]:.2f}" for s in STAGES) + " |" for m, row in r.items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--photos", type=int, default=len(PHOTOS))
    parser.add_argument("--only", nargs="*", default=["faithfulness", "pointing", "randomization", "agreement"])
    parser.add_argument("--methods", nargs="+", default=list(ALL_METHODS), choices=ALL_METHODS)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--write-table", action="store_true")
    parser.add_argument("--from-json", type=Path, nargs="+", help="print the tables of saved results, run nothing")
    args = parser.parse_args()
    if args.from_json:
        results: dict[str, Any] = {}
        for path in args.from_json:  # parts of one run, maybe split by method over several processes
            for key, value in json.loads(path.read_text()).items():
                if isinstance(value, dict) and key != "photos":
                    results.setdefault(key, {}).update(value)
                else:
                    results[key] = value
        report(results, args.write_table)
        return

    global METHODS
    METHODS = tuple(args.methods)
    torch.manual_seed(0)
    bb = backbones.load_backbone()
    photos = {name: photo(name, args.size) for name in list(PHOTOS)[:args.photos]}
    targets = {name: top1(bb, pixels) for name, pixels in photos.items()}
    print(f"# {bb.name} on {bb.device}, {args.size} px, photos {targets}", flush=True)
    started = time.perf_counter()
    steps: dict[str, Callable[[], dict[str, Any]]] = {
        "faithfulness": lambda: faithfulness_rows(bb, photos, targets),
        "pointing": lambda: pointing_rows(bb, photos, targets, args.size),
        "randomization": lambda: randomization_rows(bb, photos, targets),
        "agreement": lambda: agreement_rows(bb, photos, targets)}
    results = {"size": args.size, "photos": targets, "judged_at": JUDGED_AT, "pass_below": PASS_BELOW}
    for name in args.only:
        results[name] = steps[name]()
        if args.json:  # after each part, so a long run leaves what it has
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(results, indent=2))
    print(f"\n{time.perf_counter() - started:.0f} s")
    report(results, args.write_table)


def report(results: dict[str, Any], write_table: bool) -> None:
    """Print the docs' tables when every part is there; write the randomization verdicts when asked."""
    if {"faithfulness", "pointing", "randomization", "agreement"} <= set(results):
        print(markdown(results))
    if write_table and "randomization" in results:
        table = {"source": "benchmarks/faithfulness.py", "judged_at": JUDGED_AT, "pass_below": PASS_BELOW,
                 "size": results["size"], "photos": list(results["photos"]),
                 "methods": {m: {"passes": row["passes"], "spearman": round(row["spearman"][JUDGED_AT], 3)}
                             for m, row in results["randomization"].items()}}
        TABLE.write_text(json.dumps(table, indent=2) + "\n")
        print(f"wrote {TABLE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
