"""`convlens-models`: register your own classifier so every classifier endpoint explains it (`backbone=NAME`).

    convlens-models add NAME --arch resnet50 --weights model.pt --labels labels.txt [--num-classes 12]
                        [--size 224 --resize 256 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 --channels rgb]
    convlens-models add NAME --torchscript model.ts --labels labels.txt
    convlens-models list
    convlens-models remove NAME

The next `make models` (or `make serve`) packs the registered models into the endpoints' archives.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from convlens.core import user_models

from . import registry
from .paths import ENV, models_dir


def floats3(text: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not three comma-separated numbers") from None
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"'{text}' has {len(values)} values; give one per colour channel (3)")
    return values  # type: ignore[return-value]


def names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="convlens-models", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--models-dir", type=Path, default=None,
                     help=f"the models folder (default: ${ENV}, else model_store/models)")
    sub = top.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="check a model and register it")
    add.add_argument("name", help="the name requests give as backbone=NAME (lowercase letters, digits, _ -)")
    add.add_argument("--arch", help="torchvision classifier architecture (e.g. resnet50); with --weights")
    add.add_argument("--weights", type=Path, help="state dict file (torch.save(model.state_dict(), ...))")
    add.add_argument("--torchscript", type=Path, help="TorchScript file (torch.jit.script/trace + save)")
    add.add_argument("--labels", type=Path, required=True, help="labels: text (one per line) or JSON")
    add.add_argument("--num-classes", type=int, help="class count (checked against the labels and the model)")
    add.add_argument("--size", type=int, default=224, help="input size the model was trained at (crop side)")
    add.add_argument("--resize", type=int, help="shorter side before the centre crop (default: size * 8/7)")
    add.add_argument("--mean", type=floats3, default=registry.Request.mean, help="per-channel mean of [0,1] pixels")
    add.add_argument("--std", type=floats3, default=registry.Request.std, help="per-channel std of [0,1] pixels")
    add.add_argument("--channels", choices=user_models.CHANNELS, default="rgb", help="colour order the model takes")
    add.add_argument("--layers", type=names, help="comma-separated module names to offer (default: found)")
    add.add_argument("--default-layer", help="Grad-CAM's layer (default: the last convolutional stage)")
    add.add_argument("--replace", action="store_true", help="replace a model of that name")
    sub.add_parser("list", help="the registered models")
    remove = sub.add_parser("remove", help="forget a model and delete its weights")
    remove.add_argument("name")
    return top


def show(record: user_models.ModelRecord) -> str:
    prep = record.preprocessing
    layers = f"{len(record.layers)} layers, Grad-CAM at {record.default_layer}" if record.layers else "no layers"
    return (f"{record.name}\t{record.arch}\t{len(record.labels)} classes\t{prep.crop} px (resize {prep.resize}, "
            f"{prep.channels})\t{layers}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    folder = args.models_dir or models_dir()
    try:
        if args.command == "add":
            req = registry.Request(name=args.name, labels=args.labels, arch=args.arch, weights=args.weights,
                                   torchscript=args.torchscript, num_classes=args.num_classes, size=args.size,
                                   resize=args.resize, mean=args.mean, std=args.std, channels=args.channels,
                                   layers=args.layers, default_layer=args.default_layer, replace=args.replace)
            record = registry.add(folder, req)
            print(f"registered {show(record)}")
            print("next: `make models` (or `make serve`) packs it; requests then take backbone=" + record.name)
        elif args.command == "list":
            records = user_models.read_registry(folder)
            print("\n".join(show(r) for r in records.values()) if records else "no models registered")
        else:
            registry.remove(folder, args.name)
            print(f"removed {args.name}; `make models` repacks the archives without it")
    except (registry.ModelRejected, user_models.BackboneUnavailable) as exc:
        print(f"convlens-models: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
