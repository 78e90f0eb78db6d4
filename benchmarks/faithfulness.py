#!/usr/bin/env python
"""Faithfulness and sanity of every attribution method on the bundled colour photos (scikit-image's and
scikit-learn's), on the default backbone at its native 224 px:

- deletion and insertion AUC (Petsiuk et al. 2018) of each map for the photo's top-1 class, against random maps
  at the same cell size (`convlens.attribution.faithfulness` states the protocol; the baseline here is the mean
  of `RANDOM_MAPS` seeded random maps, as one random order varies by up to +-0.08 AUC from seed to seed), for
  every removal (blur, zero, mean) at single pixels and at the default cell size, with every photo's numbers;
- the pointing game (Zhang et al. 2016) on 2 x 2 composites of four photos: a hit when the map of one photo's
  class peaks inside that photo's quadrant;
- the cascading model-parameter randomization test (Adebayo et al. 2018): each map compared with the map after
  re-initialising the classifier, the head, then deeper blocks, by the paper's four similarity measures
  (`map_similarity.py`); a method PASSES when, with everything down to `JUDGED_AT` random, every measure is less
  than `PASS_BELOW` above chance (`sanity.passes_randomization`: chance is the measure's null level, two
  unrelated maps of the method's shape); the uncorrected verdict (every raw measure below `PASS_BELOW`, the
  rule of the first 224-px run) is reported next to it;
- agreement with Captum on the methods it implements (Saliency, NoiseTunnel SmoothGrad, IntegratedGradients,
  LayerGradCam, Occlusion) under matched settings: Spearman rank correlation of the maps.

    .venv/bin/python benchmarks/faithfulness.py [--size 224] [--photos 7] [--view squash|crop]
        [--json build/bench/faithfulness.json]
        [--write-table]    # rewrite handlers/convlens/attribution/sanity_results.json (what describe() reports)
        [--only faithfulness pointing randomization agreement]   # parts (several processes can share a run)
    .venv/bin/python benchmarks/faithfulness.py --from-json A.json B.json [--write-table]   # tables of saved parts

Prints markdown tables (docs/api/attribution.md#which-map-to-trust keeps them). About half an hour on 2 CPU cores
(split it: `--only faithfulness` and `--only pointing randomization agreement` in two processes, then --from-json).
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
from sklearn.datasets import load_sample_image  # noqa: E402

from convlens import attribution  # noqa: E402
from convlens.attribution import faithfulness, occlusion, sanity  # noqa: E402
from convlens.core import backbones  # noqa: E402
from convlens.core.backbones import Backbone  # noqa: E402
from map_similarity import MEASURES, NULL_PAIRS, null_levels, similarities  # noqa: E402

# Every natural colour photo the environment bundles: scikit-image's (chelsea = cat, so once) and scikit-learn's.
# Left out: camera (grey), hubble_deep_field, immunohistochemistry, retina (no ImageNet scene), colorwheel, logo.
PHOTOS: dict[str, Callable[[], np.ndarray]] = {
    "chelsea": data.chelsea, "coffee": data.coffee, "astronaut": data.astronaut, "rocket": data.rocket,
    "motorcycle": lambda: data.stereo_motorcycle()[0], "china": lambda: load_sample_image("china.jpg"),
    "flower": lambda: load_sample_image("flower.jpg")}
ALL_METHODS = (*attribution.METHODS, "occlusion")
METHODS = ALL_METHODS  # --methods narrows it (a run split over processes)
STAGES = ("fc", "head", "blocks.15", "blocks.8")  # cascade points measured
STAGES_RUN = STAGES  # --stages narrows it (a costly method measured at the judged stage only)
JUDGED_AT = "blocks.15"  # classifier, head and the last block randomized
PASS_BELOW = 0.5
RANDOM_MAPS = 8  # seeded random maps (seeds 0..7) averaged into the deletion/insertion baseline
RULE = ("passes when every measure at judged_at is less than pass_below above chance: "
        "(measure - null level) / (1 - null level) < pass_below")
PATCHES = (1, faithfulness.DEFAULT_PATCH)  # cell sides measured: single pixels, and the default cells
REMOVALS = ("blur", "zero", "mean")  # the removal, RISE's deletion, the dataset mean pixel
VARIANTS = tuple(f"{removal}/{patch}" for removal in REMOVALS for patch in PATCHES)
VARIANTS_RUN = VARIANTS  # --removals narrows it (a run split over processes)
DEFAULT = f"{faithfulness.DEFAULT_REMOVAL}/{faithfulness.DEFAULT_PATCH}"
TABLE = ROOT / "handlers" / "convlens" / "attribution" / "sanity_results.json"


VIEWS = ("squash", "crop")  # the whole photo resized to a square, or its centre square (ImageNet's usual view)


def photo(name: str, size: int, view: str = VIEWS[0]) -> np.ndarray:
    """A bundled photo as a size x size RGB uint8 array: `squash` resizes the whole photo (the tables' view),
    `crop` its centre square (the aspect ratio kept, the edges of the longer side lost)."""
    image = Image.fromarray(PHOTOS[name]()).convert("RGB")
    if view == "crop":
        side = min(image.size)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        image = image.crop((left, top, left + side, top + side))
    return np.array(image.resize((size, size), Image.BILINEAR))


def signed_map(bb: Backbone, pixels: np.ndarray, target: int, method: str) -> np.ndarray:
    """The method's map of `target` with its sign (occlusion: the probability drop, negative where covering helps)."""
    if method == "occlusion":
        result = occlusion.occlusion(bb, pixels, target)
        return (result.target.probability - result.values).astype(np.float32)
    return attribution.saliency(bb, pixels, [target], method=method)[0].values


def importance(bb: Backbone, pixels: np.ndarray, target: int, method: str) -> np.ndarray:
    """The method's map of `target` as pixel importance (magnitude; occlusion: the probability drop)."""
    if method == "occlusion":
        return occlusion.occlusion(bb, pixels, target).importance
    return attribution.saliency(bb, pixels, [target], method=method)[0].importance


def top1(bb: Backbone, pixels: np.ndarray) -> int:
    return attribution.saliency(bb, pixels, method="gradient")[0].predicted.index


def aucs(bb: Backbone, pixels: np.ndarray, target: int, ranks: list[torch.Tensor], cells: torch.Tensor,
         removal: str) -> np.ndarray:
    """(len(ranks), 2) deletion and insertion AUC of each ranking of the photo's `cells`, removing by `removal`."""
    probs, fractions = faithfulness.ranked_curves(bb, pixels, target, ranks, cells, removal=removal)
    return np.trapezoid(probs, fractions, axis=-1)


def protocol(variant: str) -> tuple[str, int]:
    """A variant's removal and cell side: "blur/16" -> ("blur", 16)."""
    removal, patch = variant.split("/")
    return removal, int(patch)


def faithfulness_rows(bb: Backbone, photos: dict[str, np.ndarray], targets: dict[str, int]) -> dict[str, Any]:
    """Per protocol variant ("removal/patch") and method: every photo's deletion/insertion AUC, their means, the
    mean over photos of the random maps' mean AUC (same cells, RANDOM_MAPS seeds; `random_sd`: their spread
    from seed to seed, averaged over photos), and on how many photos the map beats that baseline."""
    rows: dict[str, Any] = {variant: {} for variant in VARIANTS_RUN}
    baseline: dict[str, dict[str, np.ndarray]] = {variant: {} for variant in VARIANTS_RUN}
    for variant in VARIANTS_RUN:  # the random maps depend on the photo and the cells, not on the method
        removal, patch = protocol(variant)
        for name, pixels in photos.items():
            cells = faithfulness.cell_index(*pixels.shape[:2], patch)
            randoms = [faithfulness.random_ranks(int(cells.max()) + 1, seed) for seed in range(RANDOM_MAPS)]
            baseline[variant][name] = aucs(bb, pixels, targets[name], randoms, cells, removal)
    signed_order = ("integrated_gradients (signed order)",) if "integrated_gradients" in METHODS else ()
    for method in (*METHODS, *signed_order):
        per_photo: dict[str, dict[str, np.ndarray]] = {variant: {} for variant in VARIANTS_RUN}
        for name, pixels in photos.items():
            if method.endswith("(signed order)"):  # the defect of issue 22: ranking signed values as they are
                values = attribution.saliency(bb, pixels, [targets[name]], method="integrated_gradients")[0].values
            else:
                values = importance(bb, pixels, targets[name], method)
            for variant in VARIANTS_RUN:
                removal, patch = protocol(variant)
                cells, mapped, _ = faithfulness.cell_rankings(values, patch)
                per_photo[variant][name] = aucs(bb, pixels, targets[name], [mapped], cells, removal)[0]
        for variant, runs in per_photo.items():
            rows[variant][method] = {}
            for k, metric in enumerate(faithfulness.METRICS):
                mine = {name: float(run[k]) for name, run in runs.items()}
                chance = {name: float(baseline[variant][name][:, k].mean()) for name in runs}
                rows[variant][method][metric] = {
                    "auc": statistics.mean(mine.values()), "random_auc": statistics.mean(chance.values()),
                    "random_sd": statistics.mean(float(baseline[variant][n][:, k].std(ddof=1)) for n in runs),
                    "wins": sum((mine[n] < chance[n]) == (metric == "deletion") for n in runs),
                    "photos": {n: [round(mine[n], 4), round(chance[n], 4),
                                   round(float(baseline[variant][n][:, k].std(ddof=1)), 4)] for n in runs}}
        print(f"  faithfulness {method}: { {v: rows[v][method] for v in VARIANTS_RUN} }", flush=True)
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
    """Per method: the mean of each of Adebayo et al.'s similarity measures between the original map and the map
    after each cascade point (`verdicts` judges them)."""
    order = sanity.cascade(bb.model)
    randomized = {stage: sanity.randomized(bb, order[:order.index(stage) + 1]) for stage in STAGES_RUN}
    rows = {}
    for method in METHODS:
        originals = {name: signed_map(bb, pixels, targets[name], method) for name, pixels in photos.items()}
        measured: dict[str, dict[str, float]] = {}
        for stage, rb in randomized.items():
            per_photo = [similarities(originals[name], signed_map(rb, pixels, targets[name], method))
                         for name, pixels in photos.items()]
            measured[stage] = {m: statistics.mean(s[m] for s in per_photo) for m in MEASURES}
        rows[method] = {"similarity": measured}
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
    """Per method Captum implements: mean (and least) Spearman correlation of ConvLens's map with Captum's; for
    SmoothGrad also its `ceiling`, ConvLens's map against ConvLens's with other noise (seed 1): two sampled
    estimates cannot agree better than that, whoever computes them."""
    rows = {}
    for method in ("gradient", "smoothgrad", "integrated_gradients", "gradcam", "occlusion"):
        ours = {name: importance(bb, pixels, targets[name], method) for name, pixels in photos.items()}
        rho = [sanity.spearman(ours[name], captum_map(bb, pixels, targets[name], method))
               for name, pixels in photos.items()]
        rows[method] = {"spearman": statistics.mean(rho), "min": min(rho)}
        if method == "smoothgrad":
            again = [sanity.spearman(ours[name], attribution.saliency(bb, pixels, [targets[name]], method=method,
                                                                      options={"seed": 1})[0].importance)
                     for name, pixels in photos.items()]
            rows[method]["ceiling"] = statistics.mean(again)
        print(f"  agreement {method}: {rows[method]}", flush=True)
    return rows


def auc_cell(row: dict[str, Any], metric: str, photos: int) -> str:
    """`auc (random) wins/photos`, the AUC bold where the map beats the random one on average."""
    auc, random_auc, wins = row[metric]["auc"], row[metric]["random_auc"], row[metric]["wins"]
    better = auc < random_auc if metric == "deletion" else auc > random_auc
    shown = f"**{auc:.3f}**" if better else f"{auc:.3f}"
    return f"{shown} ({random_auc:.3f}) {wins}/{photos}"


def verdicts(results: dict[str, Any]) -> dict[str, dict[str, bool]]:
    """Per method: `passes` by the rule (RULE: `sanity.passes_randomization` against the null levels) and
    `passes_uncorrected` (every raw measure below PASS_BELOW), from the measures at JUDGED_AT."""
    nulls = results["null_levels"]["methods"]
    out = {}
    for method, row in results["randomization"].items():
        measured = row["similarity"][JUDGED_AT]
        out[method] = {"passes": sanity.passes_randomization(measured, nulls[method], PASS_BELOW),
                       "passes_uncorrected": all(measured[m] < PASS_BELOW for m in MEASURES)}
    return out


def per_photo_table(results: dict[str, Any], metric: str) -> list[str]:
    """The default protocol photo by photo: each method's AUC, then the random maps' mean (± their standard
    deviation from seed to seed)."""
    rows = results["faithfulness"][DEFAULT]
    methods = [m for m in ALL_METHODS if m in rows]
    labels = backbones.imagenet_labels()
    lines = ["| photo (top-1 class) | " + " | ".join(methods) + f" | random ({RANDOM_MAPS} maps) |",
             "|---|" + "---|" * (len(methods) + 1)]
    for name, target in results["photos"].items():
        chance = rows[methods[0]][metric]["photos"][name][1]
        spread = rows[methods[0]][metric]["photos"][name][2]
        cells = []
        for m in methods:
            auc = rows[m][metric]["photos"][name][0]
            better = auc < chance if metric == "deletion" else auc > chance
            cells.append(f"**{auc:.3f}**" if better else f"{auc:.3f}")
        lines.append(f"| {name} ({labels[target].split(',')[0]}) | " + " | ".join(cells) +
                     f" | {chance:.3f} ± {spread:.3f} |")
    return lines


def markdown(results: dict[str, Any]) -> str:
    """The docs' tables: the default protocol with the other tests, every protocol variant, the randomization
    measures at the judged stage and the Spearman ρ (magnitudes) along the cascade, the agreement with Captum."""
    f, p, r, n = results["faithfulness"], results["pointing"], results["randomization"], len(results["photos"])
    rows = [m for m in (*ALL_METHODS, "integrated_gradients (signed order)") if m in f[DEFAULT]]
    r = {m: r[m] for m in ALL_METHODS if m in r}
    judged = verdicts(results)
    lines = [f"| method | deletion AUC (random) wins, {DEFAULT} | insertion AUC (random) wins, {DEFAULT} | "
             f"pointing game | randomization test at {JUDGED_AT} |", "|---|---|---|---|---|"]
    for m in rows:
        row = f[DEFAULT][m]
        point = f"{p[m]['hits']}/{p[m]['of']}" if m in p else ""
        verdict = ("passes" if judged[m]["passes"] else "**fails**") if m in r else ""
        lines.append(f"| {m} | {auc_cell(row, 'deletion', n)} | {auc_cell(row, 'insertion', n)} | {point} | "
                     f"{verdict} |")
    measured = [v for v in VARIANTS if v in f]
    insertion = [v for v in measured if v.startswith(faithfulness.DEFAULT_REMOVAL + "/")]  # removal-free
    for metric, variants in (("deletion", measured), ("insertion", insertion)):
        lines += ["", f"{metric} AUC (random) and wins, per removal/cell size:", "",
                  "| method | " + " | ".join(variants) + " |", "|---|" + "---|" * len(variants)]
        lines += [f"| {m} | " + " | ".join(auc_cell(f[v][m], metric, n) for v in variants) + " |" for m in rows]
    if DEFAULT in f:
        for metric in faithfulness.METRICS:
            lines += ["", f"{metric} AUC per photo, {DEFAULT} (bold: better than the random maps' mean):", ""]
            lines += per_photo_table(results, metric)
    nulls = results["null_levels"]["methods"]  # + 0.0: a level that rounds to zero prints 0.00, not -0.00
    shown = lambda v: f"{round(v, 2) + 0.0:.2f}"  # noqa: E731
    lines += ["", f"The measures with everything down to {JUDGED_AT} random (raw, then above chance), and both "
              "verdicts:", "", "| method | " + " | ".join(MEASURES) + " | " +
              " | ".join(f"{s} above chance" for s in MEASURES) + " | verdict | raw-rule verdict |",
              "|---|" + "---|" * (2 * len(MEASURES) + 2)]
    for m, row in r.items():
        measured = row["similarity"][JUDGED_AT]
        lines.append(f"| {m} | " + " | ".join(shown(measured[s]) for s in MEASURES) + " | " +
                     " | ".join(shown(sanity.above_chance(measured[s], nulls[m][s])) for s in MEASURES) +
                     f" | {'passes' if judged[m]['passes'] else '**fails**'} | "
                     f"{'passes' if judged[m]['passes_uncorrected'] else '**fails**'} |")
    lines += ["", "The same measures between two unrelated maps of each method's shape (null levels: "
              f"independent random values on its grid, {results['null_levels']['pairs']} seeded pairs):", "",
              "| method | " + " | ".join(MEASURES) + " |", "|---|" + "---|" * len(MEASURES)]
    lines += [f"| {m} | " + " | ".join(shown(nulls[m][s]) for s in MEASURES) + " |" for m in r if m in nulls]
    lines += ["", "| method | " + " | ".join(STAGES) + " |", "|---|" + "---|" * len(STAGES)]
    lines += [f"| {m} | " + " | ".join(f"{row['similarity'][s]['spearman_abs']:.2f}" if s in row["similarity"]
                                       else "—" for s in STAGES) + " |" for m, row in r.items()]
    if "agreement" in results:
        lines += ["", "| method | Spearman ρ with Captum (mean, min) | ConvLens with other noise (mean) |",
                  "|---|---|---|"]
        lines += [f"| {m} | {a['spearman']:.3f}, {a['min']:.3f} | "
                  + (f"{a['ceiling']:.3f} |" if "ceiling" in a else "— |") for m, a in results["agreement"].items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--photos", type=int, default=len(PHOTOS))
    parser.add_argument("--view", choices=VIEWS, default=VIEWS[0], help="how a photo becomes a square (photo())")
    parser.add_argument("--only", nargs="*", default=["faithfulness", "pointing", "randomization", "agreement"])
    parser.add_argument("--methods", nargs="+", default=list(ALL_METHODS), choices=ALL_METHODS)
    parser.add_argument("--removals", nargs="+", default=list(REMOVALS), choices=REMOVALS)
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--write-table", action="store_true")
    parser.add_argument("--from-json", type=Path, nargs="+", help="print the tables of saved results, run nothing")
    args = parser.parse_args()
    if args.from_json:
        results: dict[str, Any] = {}
        for path in args.from_json:  # parts of one run, maybe split by method over several processes
            merge(results, json.loads(path.read_text()))
        report(results, args.write_table)
        return

    global METHODS, STAGES_RUN, VARIANTS_RUN
    METHODS, STAGES_RUN = tuple(args.methods), tuple(args.stages)
    VARIANTS_RUN = tuple(v for v in VARIANTS if protocol(v)[0] in args.removals)
    torch.manual_seed(0)
    bb = backbones.load_backbone()
    photos = {name: photo(name, args.size, args.view) for name in list(PHOTOS)[:args.photos]}
    targets = {name: top1(bb, pixels) for name, pixels in photos.items()}
    print(f"# {bb.name} on {bb.device}, {args.size} px ({args.view}), photos {targets}", flush=True)
    started = time.perf_counter()
    steps: dict[str, Callable[[], dict[str, Any]]] = {
        "faithfulness": lambda: faithfulness_rows(bb, photos, targets),
        "pointing": lambda: pointing_rows(bb, photos, targets, args.size),
        "randomization": lambda: randomization_rows(bb, photos, targets),
        "agreement": lambda: agreement_rows(bb, photos, targets)}
    results = {"size": args.size, "view": args.view, "photos": targets, "judged_at": JUDGED_AT,
               "pass_below": PASS_BELOW}
    for name in args.only:
        results[name] = steps[name]()
        if args.json:  # after each part, so a long run leaves what it has
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(results, indent=2))
    print(f"\n{time.perf_counter() - started:.0f} s")
    report(results, args.write_table)


def merge(into: dict[str, Any], part: dict[str, Any]) -> None:
    """Add a saved part to the results: method rows join (at any depth: faithfulness is per variant, then per
    method); the photos and settings are the same in every part."""
    for key, value in part.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict) and key != "photos":
            merge(into[key], value)
        else:
            into[key] = value


def null_rows(size: int) -> dict[str, Any]:
    """Per method: the similarity measures' null levels at `size` (`map_similarity.null_levels`; no network)."""
    return {"pairs": NULL_PAIRS, "methods": {m: null_levels(m, size) for m in ALL_METHODS}}


def report(results: dict[str, Any], write_table: bool) -> None:
    """Print the docs' tables when every part is there (with the null levels of the randomization measures,
    computed here: they need no network); write the randomization verdicts when asked."""
    if "randomization" in results and "null_levels" not in results:
        results["null_levels"] = null_rows(results["size"])
    if {"faithfulness", "pointing", "randomization"} <= set(results):
        print(markdown(results))
    if write_table and "randomization" in results:
        judged = verdicts(results)
        table = {"source": "benchmarks/faithfulness.py", "judged_at": JUDGED_AT, "pass_below": PASS_BELOW,
                 "rule": RULE, "measures": list(MEASURES),
                 "size": results["size"], "photos": list(results["photos"]),
                 "methods": {m: {**judged[m], **{s: round(row["similarity"][JUDGED_AT][s], 3) for s in MEASURES}}
                             for m, row in results["randomization"].items()},
                 "null_levels": {m: {s: round(v, 3) for s, v in levels.items()}
                                 for m, levels in results["null_levels"]["methods"].items()
                                 if m in results["randomization"]}}
        TABLE.write_text(json.dumps(table, indent=2) + "\n")
        print(f"wrote {TABLE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
