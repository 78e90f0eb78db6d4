"""Export trained stylizers to ONNX (dynamic batch, height and width) and check them against PyTorch.

`python -m tools.stylizers.export build/stylizers/NAME.pt --out model_store/stylizers` writes NAME.onnx and a
NAME.json manifest (name, kind single|multi, style names, recipe, network shape, measured max abs difference).
Graph inputs: `image` (N, 3, H, W) in [0, 1] with H, W multiples of 4; `weights` (N, S) convex blend weights
(multi-style nets only); `alpha` () and `stats_<i>` (N, C, 1, 1): alpha = 1 makes every instance norm use the
given statistics instead of its own (thumbnail instance norm, for seamless tiles). Outputs: `stylized` and the
statistics each norm layer used (`out_stats_<i>`), so a thumbnail pass yields the tiles' statistics.

Next to it goes NAME.fast.onnx (manifest key `fast_file`): the same weights for the common single-tile case, inputs
`image` (+ `weights`), output `stylized`, rewritten for speed (`fastgraph.py`: fused instance norms, the output conv
at half resolution). `--add-fast MANIFEST...` derives it for networks already exported,
reading the weights back from their ONNX file (no checkpoint needed, nothing retrained).
"""
from __future__ import annotations

import argparse
import io
import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import lite, nets
from .fastgraph import FastWrapper

TOLERANCE = 1e-3  # max abs difference ONNX vs PyTorch on [0, 1] images
OPSET = 17


Network = nets.Stylizer | lite.LiteStylizer


class ExportWrapper(nn.Module):
    """The graph ONNX sees: explicit blend weights, alpha and statistics in; image and statistics out."""

    def __init__(self, model: Network) -> None:
        super().__init__()
        self.model = model
        self.multi = model.config.styles > 1

    def forward(self, image: torch.Tensor, *rest: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.multi:
            weights, alpha, stats = rest[0], rest[1], list(rest[2:])
        else:
            weights = torch.ones(image.shape[0], 1, dtype=image.dtype, device=image.device)
            alpha, stats = rest[0], list(rest[1:])
        out, used = self.model.core(image, weights, stats, alpha)
        return (out, *used)


def example_inputs(model: Network, h: int, w: int, n: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
    """Named ONNX inputs for an (n, 3, h, w) random image with own statistics (alpha = 0)."""
    rng = np.random.default_rng(seed)
    feeds = {"image": rng.random((n, 3, h, w), dtype=np.float32)}
    if model.config.styles > 1:
        weights = rng.random((n, model.config.styles)).astype(np.float32)
        feeds["weights"] = weights / weights.sum(axis=1, keepdims=True)
    feeds["alpha"] = np.zeros((), np.float32)
    for i, c in enumerate(model.norm_channels()):
        feeds[f"stats_{i}"] = np.zeros((n, c, 1, 1), np.float32)
    return feeds


def export_onnx(model: Network, fast: bool = False) -> bytes:
    """The ONNX graph of `model` (TorchScript-based exporter; dynamic N, H, W); `fast`: the single-tile graph."""
    model = model.eval().cpu()
    feeds = example_inputs(model, 64, 64)
    if fast:
        feeds = {k: v for k, v in feeds.items() if k in ("image", "weights")}
    names = list(feeds)
    n_stats = 0 if fast else len(model.norm_channels())
    outputs = ["stylized", *[f"out_stats_{i}" for i in range(n_stats)]]
    dynamic = {"image": {0: "n", 2: "h", 3: "w"}, "stylized": {0: "n", 2: "h", 3: "w"}}
    dynamic.update({name: {0: "n"} for name in names if name.startswith("stats_") or name == "weights"})
    dynamic.update({name: {0: "n"} for name in outputs[1:]})
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(fast_wrapper(model) if fast else ExportWrapper(model),
                          tuple(torch.from_numpy(v) for v in feeds.values()), buffer,
                          input_names=names, output_names=outputs, dynamic_axes=dynamic, opset_version=OPSET,
                          dynamo=False)
    return buffer.getvalue()


def fast_wrapper(model: Network) -> nn.Module:
    """The single-tile graph's module: the teacher's rewrite (`fastgraph`), or the student's own fused norms."""
    return lite.LiteFast(model) if isinstance(model, lite.LiteStylizer) else FastWrapper(model)


def max_abs_diff(model: Network, onnx_bytes: bytes, sizes=((64, 96), (132, 100))) -> float:
    """Largest |ONNX - PyTorch| over random [0, 1] images of several sizes (and random blends)."""
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    inputs = {i.name for i in session.get_inputs()}
    worst = 0.0
    for seed, (h, w) in enumerate(sizes):
        feeds = example_inputs(model, h, w, seed=seed)
        got = session.run(["stylized"], {k: v for k, v in feeds.items() if k in inputs})[0]
        weights = torch.from_numpy(feeds["weights"]) if "weights" in feeds else None
        with torch.no_grad():
            want = model(torch.from_numpy(feeds["image"]), weights).numpy()
        worst = max(worst, float(np.abs(got - want).max()))
    return worst


def checked_graph(model: Network, name: str, fast: bool = False) -> tuple[bytes, float]:
    """One exported graph and its max abs difference from PyTorch; raise if above TOLERANCE."""
    onnx_bytes = export_onnx(model, fast)
    diff = max_abs_diff(model, onnx_bytes)
    if diff > TOLERANCE:
        raise SystemExit(f"{name}{' (fast graph)' if fast else ''}: ONNX differs from PyTorch by {diff:.2e} > "
                         f"{TOLERANCE}")
    return onnx_bytes, diff


def add_fast_graph(model: Network, manifest: dict, out_dir: Path) -> dict:
    """Write <name>.fast.onnx next to the stats graph and name it in the manifest (returned updated)."""
    onnx_bytes, diff = checked_graph(model, manifest["name"], fast=True)
    manifest = {**manifest, "fast_file": f"{manifest['name']}.fast.onnx", "fast_max_abs_diff": diff}
    (out_dir / manifest["fast_file"]).write_bytes(onnx_bytes)
    return manifest


def export_checkpoint(ckpt_path: Path, out_dir: Path) -> dict:
    """Write <name>.onnx, <name>.fast.onnx and <name>.json for one checkpoint; raise if ONNX and PyTorch disagree."""
    model, ckpt = lite.load(str(ckpt_path))
    name = ckpt_path.stem
    student = {}
    if isinstance(model, lite.LiteStylizer):  # a distilled student: NAME.lite next to its teacher NAME
        teacher = ckpt.get("teacher") or name
        name, student = f"{teacher}.{lite.ARCH}", {"variant": lite.ARCH, "teacher": teacher}
    onnx_bytes, diff = checked_graph(model, name)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.onnx").write_bytes(onnx_bytes)
    styles = list(ckpt.get("styles", [name]))
    manifest = {
        "name": name, "kind": "multi" if model.config.styles > 1 else "single", "styles": styles,
        "file": f"{name}.onnx", "network": model.config.to_dict(), "steps": int(ckpt.get("steps", 0)),
        "recipe": ckpt.get("recipe", ""), "onnx_max_abs_diff": diff, "opset": OPSET,
        "stats_channels": model.norm_channels(), **student,
    }
    manifest = add_fast_graph(model, manifest, out_dir)
    (out_dir / f"{name}.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def model_from_onnx(path: Path, network: dict) -> Network:
    """The PyTorch network holding an exported graph's weights (its `model.*` initializers)."""
    import onnx
    from onnx import numpy_helper

    init = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}
    model = lite.build(network)
    model.load_state_dict({k.removeprefix("model."): torch.from_numpy(v.copy()) for k, v in init.items()
                           if k.startswith("model.")})
    return model.eval()


def add_fast_to_manifest(manifest_path: Path) -> dict:
    """Derive the fast graph of an already exported network from its ONNX weights; update its manifest."""
    manifest = json.loads(manifest_path.read_text())
    model = model_from_onnx(manifest_path.parent / manifest["file"], manifest["network"])
    manifest = add_fast_graph(model, manifest, manifest_path.parent)
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m tools.stylizers.export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="*", type=Path)
    p.add_argument("--out", type=Path)
    p.add_argument("--add-fast", nargs="+", type=Path, default=[], metavar="MANIFEST",
                   help="write the fast single-tile graph of exported networks (weights from their ONNX files)")
    args = p.parse_args(argv)
    if args.checkpoints and args.out is None:
        p.error("--out is required with checkpoints")
    for path in args.checkpoints:
        m = export_checkpoint(path, args.out)
        print(f"{m['name']}: {m['kind']} {m['styles']} -> {args.out / m['file']} "
              f"({(args.out / m['file']).stat().st_size / 1e6:.2f} MB, max |onnx - torch| = "
              f"{m['onnx_max_abs_diff']:.1e}; fast graph {m['fast_max_abs_diff']:.1e})")
    for path in args.add_fast:
        m = add_fast_to_manifest(path)
        print(f"{m['name']}: -> {path.parent / m['fast_file']} (max |fast onnx - torch| = "
              f"{m['fast_max_abs_diff']:.1e})")


if __name__ == "__main__":
    main()
