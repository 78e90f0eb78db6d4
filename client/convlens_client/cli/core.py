"""CLI subcommands of the core endpoints: classify, saliency, raw (any endpoint), health, and models, layers,
describe (management)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from ..client import Client
from ..inputs import sniff
from ..results import Heatmap, Prediction
from . import EXTENSIONS, Runner, default_output, dump, finish, name_value
from .fields import add_field


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> dict[str, Runner]:
    """Add this area's subcommands to ``sub``; return their runners by name."""
    p = sub.add_parser("classify", help="the most probable classes of an image")
    p.add_argument("image", help="image file")
    add_field(p, "classify", "topk", send_default=True)
    add_field(p, "classify", "backbone")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = sub.add_parser(
        "saliency",
        help="a saliency map of an image",
        description="Write a saliency map to a file: a picture rendered by the server (png, jpeg), "
        "the raw map (npy), or JSON with the map and the explained and predicted classes "
        "(which are then printed too). One request either way.",
    )
    p.add_argument("image", help="image file")
    p.add_argument("-o", "--output", help="output file (default: IMAGE_saliency.EXT here)")
    add_field(p, "saliency", "target")
    add_field(p, "saliency", "method", checked=False, send_default=True)  # the server checks it (and says which)
    add_field(p, "saliency", "layer")
    add_field(p, "saliency", "channel")
    add_field(p, "saliency", "backbone")
    add_field(p, "saliency", "view", send_default=True)
    add_field(p, "saliency", "sign")
    add_field(p, "saliency", "evaluate")
    add_field(p, "saliency", "evaluate_removal")
    add_field(p, "saliency", "evaluate_patch")
    add_field(p, "saliency", "format", only=tuple(EXTENSIONS), send_default=True)  # what the CLI writes to a file

    p = sub.add_parser("raw", help="any endpoint with any fields; the answer as the server encoded it",
                       description="Call ENDPOINT with image fields (--image NAME=FILE) and text fields (--set "
                                   "NAME=VALUE) exactly as given; write the answer to -o, or print it when it is JSON.")
    p.add_argument("endpoint", help="endpoint, e.g. saliency")
    p.add_argument("--image", type=name_value, action="append", default=[], metavar="NAME=FILE",
                   help="an image field (repeatable): image=cat.jpg, style_2=wave.jpg")
    p.add_argument("--set", type=name_value, action="append", default=[], metavar="NAME=VALUE",
                   help="a text field (repeatable): method=gradcam")
    p.add_argument("--progress", action="store_true", help="stream progress events; bar on stderr")
    p.add_argument("-o", "--output", help="output file (default: ENDPOINT.EXT here; JSON is printed)")

    p = sub.add_parser("health", help="the server's health (exit status 1 unless Healthy)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = sub.add_parser("models", help="the served endpoints and their workers (exit status 1 unless all ready)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p = sub.add_parser("layers", help="the named layers of an endpoint's backbone")
    p.add_argument("model", help="endpoint, e.g. saliency")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p = sub.add_parser("describe", help="what an endpoint offers (JSON)")
    p.add_argument("model", help="endpoint, e.g. saliency")
    p = sub.add_parser("backbones", help="the networks an endpoint serves: its default and the registered models")
    p.add_argument("model", nargs="?", default="classify", help="endpoint (default: classify)")
    p.add_argument("--json", action="store_true", help="print JSON")
    return {"classify": run_classify, "saliency": run_saliency, "raw": run_raw, "health": run_health,
            "models": run_models, "layers": run_layers, "describe": run_describe, "backbones": run_backbones}


def _class(p: Prediction | None) -> str:
    """A class as ``index label (p=...)``, or ``-``."""
    return f"{p.index} {p.label} (p={p.probability:.3f})" if p else "-"


def print_table(predictions: Sequence[Prediction], out: TextIO) -> None:
    """A two-column table: label, probability."""
    width = max([len("label")] + [len(p.label) for p in predictions])
    out.write(f"{'label':<{width}}  probability\n")
    for p in predictions:
        out.write(f"{p.label:<{width}}  {p.probability:.4f}\n")


def run_classify(client: Client, args: argparse.Namespace, out: TextIO) -> None:
    """``classify``: a table, or JSON."""
    predictions = client.classify(args.image, topk=args.topk, backbone=args.backbone)
    if args.json:
        dump([p.to_dict() for p in predictions], out)
    else:
        print_table(predictions, out)


def run_saliency(client: Client, args: argparse.Namespace, out: TextIO) -> None:
    """``saliency``: write the picture, npy or JSON map; print what was written."""
    output = default_output(args, args.image, "saliency", args.format)
    if args.format != "json":
        data = client.saliency_image(
            args.image, target=args.target, method=args.method, view=args.view, format=args.format,
            layer=args.layer, channel=args.channel, sign=args.sign, backbone=args.backbone,
        )
        output.write_bytes(data)
        out.write(json.dumps({"wrote": str(output)}) + "\n" if args.json else f"wrote {output}\n")
        return
    heatmap: Heatmap = client.saliency(
        args.image, target=args.target, method=args.method, layer=args.layer, channel=args.channel,
        evaluate=args.evaluate, evaluate_removal=args.evaluate_removal, evaluate_patch=args.evaluate_patch,
        backbone=args.backbone,
    )
    output.write_text(json.dumps(heatmap.to_dict()) + "\n", encoding="utf-8")
    if args.json:
        aucs = {m: {"auc": c.auc, "random_auc": c.random_auc} for m, c in heatmap.faithfulness.items()}
        dump({"wrote": str(output), "target": heatmap.target and heatmap.target.to_dict(),
              "predicted": heatmap.predicted and heatmap.predicted.to_dict(), **({"auc": aucs} if aucs else {})},
             out)
        return
    out.write(f"wrote {output}\n")
    out.write(f"target:    {_class(heatmap.target)}\n")
    out.write(f"predicted: {_class(heatmap.predicted)}\n")
    for metric, curve in heatmap.faithfulness.items():
        out.write(f"{metric + ':':<10} AUC {curve.auc:.3f} (random map {curve.random_auc:.3f})\n")


def run_raw(client: Client, args: argparse.Namespace, out: TextIO) -> None:
    """``raw``: the answer written to a file (JSON printed unless ``-o``)."""
    images, fields = dict(args.image), dict(args.set)
    if args.progress:
        data = finish(client.raw_stream(args.endpoint, images, **fields), sys.stderr)
    else:
        data = client.raw(args.endpoint, images, **fields)
    if args.output is None and data[:1] == b"{":
        out.write(data.decode("utf-8") + "\n")
        return
    kind = sniff(data)[1]
    output = Path(args.output or f"{args.endpoint}.{'bin' if kind == 'bin' else kind}")
    output.write_bytes(data)
    out.write(f"wrote {output}\n")


def run_health(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    """``health``: the status; exit status 1 unless Healthy."""
    status = client.health()
    if args.json:
        dump({"status": status}, out)
    else:
        out.write(status + "\n")
    return 0 if status == "Healthy" else 1


def run_describe(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    """``describe``: the endpoint's describe dict as JSON."""
    dump(client.describe(args.model), out)
    return 0


def run_backbones(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    """``backbones``: one line per network (name, classes, layers, labels), or JSON."""
    backbones = client.backbones(args.model)
    if args.json:
        dump(backbones, out)
        return 0
    for name, info in backbones.items():
        kind = f"registered {info.get('arch', '')}" if info.get("registered") else "default"
        labels = info.get("labels")
        shown = f"  labels: {', '.join(labels[:12])}{' ...' if len(labels) > 12 else ''}" if labels else ""
        out.write(f"{name}  ({kind}, {info.get('num_classes')} classes){shown}\n")
    return 0


def run_layers(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    """``layers``: one name a line, or a JSON list."""
    layers = client.layers(args.model)
    if args.json:
        dump(layers, out)
    else:
        out.write("".join(f"{layer}\n" for layer in layers))
    return 0


def run_models(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    """``models``: a table or JSON; exit status 1 unless every model is ready."""
    models = client.models()
    if args.json:
        dump([m.to_dict() for m in models], out)
    else:
        width = max([len("model")] + [len(m.name) for m in models])
        out.write(f"{'model':<{width}}  {'status':<9}  workers  queued\n")
        for m in models:
            status = "ready" if m.ready else "not ready"
            out.write(f"{m.name:<{width}}  {status:<9}  {m.ready_workers}/{m.workers:<5}  {m.pending_requests}\n")
    return 0 if all(m.ready for m in models) else 1
