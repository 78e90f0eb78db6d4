"""Register, list and remove users' classifiers: every check a model must pass before it is recorded.

`add` reads the labels, loads the weights without running code from the file (`torch.load(weights_only=True)`, or
TorchScript), builds the network, runs one forward pass on a test image, checks the output width against the
labels, finds the layers to offer, and only then copies the weights into the models folder and records the model
in its registry (`convlens.core.user_models`). A refused model leaves the folder as it was.
"""
from __future__ import annotations

import json
import pickletools
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from convlens.core import backbones, user_models
from convlens.core.backbones import BackboneUnavailable, Preprocessing
from convlens.core.user_models import ModelRecord

MAX_LABELS = 100_000
STATE_DICT_KEYS = ("state_dict", "model_state_dict", "model")  # where training checkpoints keep the weights


class ModelRejected(ValueError):
    """A model that cannot be registered; the message says what to fix."""


@dataclass(frozen=True)
class Request:
    """What `convlens-models add` was given."""

    name: str
    labels: Path
    arch: str | None = None
    weights: Path | None = None
    torchscript: Path | None = None
    num_classes: int | None = None
    size: int = 224
    resize: int | None = None  # default: size * 8/7 (256 for 224)
    mean: tuple[float, float, float] = backbones.IMAGENET_MEAN
    std: tuple[float, float, float] = backbones.IMAGENET_STD
    channels: str = "rgb"
    layers: tuple[str, ...] | None = None  # None: found automatically
    default_layer: str | None = None
    replace: bool = False


def read_labels(path: Path) -> list[str]:
    """Labels from a text file (one per line) or JSON (a list, or an object of index -> label)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelRejected(f"cannot read the labels file {path.name}: {exc}") from exc
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelRejected(f"labels file {path.name} is not valid JSON: {exc}") from exc
        if isinstance(data, dict):
            try:
                order = sorted((int(k), v) for k, v in data.items())
            except ValueError as exc:
                raise ModelRejected(f"labels file {path.name}: object keys must be class indices") from exc
            if [i for i, _ in order] != list(range(len(order))):
                raise ModelRejected(f"labels file {path.name}: class indices must run 0..{len(order) - 1}")
            data = [v for _, v in order]
        if not isinstance(data, list) or not all(isinstance(v, str) for v in data):
            raise ModelRejected(f"labels file {path.name}: give a list of strings or an object index -> string")
        labels = data
    else:
        labels = text.splitlines()
        while labels and not labels[-1].strip():
            labels.pop()
    labels = [label.strip() for label in labels]
    if not labels or len(labels) > MAX_LABELS:
        raise ModelRejected(f"labels file {path.name} has {len(labels)} labels; give 1 to {MAX_LABELS}")
    blank = [i for i, label in enumerate(labels) if not label]
    if blank:
        raise ModelRejected(f"labels file {path.name}: label {blank[0]} (line {blank[0] + 1}) is empty")
    return labels


def state_dict_of(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a state-dict file (or of a training checkpoint holding one), read without running code."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for code, foreign or truncated files
        if "Unsupported global" in str(exc) or imports_something(path):
            raise ModelRejected(f"{path.name} holds Python objects or code, not only tensors, and is refused (only "
                                "a state dict is loaded: torch.save(model.state_dict(), ...))") from exc
        raise ModelRejected(f"{path.name} is not a torch weights file ({type(exc).__name__})") from exc
    if isinstance(data, dict):
        nested = next((data[k] for k in STATE_DICT_KEYS if isinstance(data.get(k), dict)), None)
        data = nested if nested is not None else data
    if not isinstance(data, dict) or not data or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ModelRejected(f"{path.name} holds no state dict of tensors (save model.state_dict())")
    prefix = "module."  # saved from nn.DataParallel / DistributedDataParallel
    if all(k.startswith(prefix) for k in data):
        data = {k[len(prefix):]: v for k, v in data.items()}
    return data


def imports_something(path: Path) -> bool:
    """Whether a plain pickle file asks to import something (the way a pickle runs code), read without unpickling;
    torch's zip format says so itself ("Unsupported global")."""
    try:
        return any(op.name in ("GLOBAL", "STACK_GLOBAL", "INST", "OBJ") for op, _, _ in
                   pickletools.genops(path.read_bytes()))
    except Exception:  # noqa: BLE001 - not a pickle stream at all
        return False


def classification_archs() -> list[str]:
    from torchvision import models

    return sorted(models.list_models(module=models))


def test_forward(model: nn.Module, backbone_name: str, prep: Preprocessing, num_labels: int) -> None:
    """One forward pass on a test image at the model's size: its output must be (1, number of labels), finite."""
    pixels = np.random.default_rng(0).random((1, 3, prep.crop, prep.crop), dtype=np.float32)
    image = torch.from_numpy(pixels).to(torch.device("cpu"))  # add builds and checks models on the CPU
    probe = backbones.Backbone(name=backbone_name, model=model, layers={}, labels=["?"] * num_labels,
                               preprocessing=prep, default_layer="", device=torch.device("cpu"))
    try:
        with torch.no_grad():
            out = model(probe.normalize(image))
    except Exception as exc:  # noqa: BLE001 - whatever the user's model raises, the message says it
        raise ModelRejected(f"the model fails on a {prep.crop}x{prep.crop} test image: "
                            f"{type(exc).__name__}: {str(exc).strip()[:300]}") from exc
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != 1:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ModelRejected(f"the model must return class scores of shape (batch, classes); it returned {shape}")
    if out.shape[1] != num_labels:
        raise ModelRejected(f"the model gives {out.shape[1]} class scores but the labels file has {num_labels} "
                            "labels; they must match")
    if not torch.isfinite(out).all():
        raise ModelRejected("the model returns NaN or infinite scores on a test image")


def offered_layers(model: nn.Module, req: Request, size: int) -> tuple[tuple[str, ...], str]:
    """(layers, Grad-CAM default): the request's, each checked to exist, or found in the network."""
    try:
        found, last = user_models.discover_layers(model, size)
    except ValueError as exc:
        if req.layers is None:
            raise ModelRejected(f"{exc}; name the layers to offer with --layers") from exc
        found, last = [], ""
    layers = tuple(req.layers) if req.layers is not None else tuple(found)
    default = req.default_layer or (layers[-1] if req.layers else last)
    known = dict(model.named_modules())
    for name in (*layers, default):
        if name not in known or not name:
            raise ModelRejected(f"layer '{name}' is not a submodule of the model (e.g. {', '.join(found[-3:])})")
    return layers, default


def mismatch(state: dict[str, torch.Tensor], arch: str, classes: int) -> str:
    """The first difference between a state dict and the architecture's own: a missing, unexpected or reshaped key."""
    from torchvision.models import get_model

    expected = get_model(arch, weights=None, num_classes=classes).state_dict()
    for key, value in expected.items():
        if key not in state:
            return f"the file has no {key}"
        if tuple(state[key].shape) != tuple(value.shape):
            return f"{key} is {tuple(state[key].shape)} in the file, {tuple(value.shape)} in the model"
    extra = sorted(set(state) - set(expected))
    return f"the file has keys the model does not: {', '.join(extra[:3])}" if extra else "unknown difference"


def build(req: Request, prep: Preprocessing, labels: list[str], staging: Path) -> ModelRecord:
    """Check the model and stage its weights file in `staging`; the record to register."""
    if req.torchscript is not None:
        if req.arch or req.weights:
            raise ModelRejected("give either --torchscript, or --arch with --weights, not both")
        if req.layers:
            raise ModelRejected(f"--layers: {user_models.NO_HOOKS}")
        record = ModelRecord(req.name, user_models.TORCHSCRIPT, "model.ts", tuple(labels), prep)
        shutil.copyfile(req.torchscript, staging / record.weights)
        try:
            model = user_models.build_network(record, staging / record.weights)
        except BackboneUnavailable as exc:
            raise ModelRejected(str(exc)) from exc
        test_forward(model.eval(), req.name, prep, len(labels))
        return record
    if not req.arch or req.weights is None:
        raise ModelRejected("give --arch and --weights (a state dict), or --torchscript")
    if req.arch not in classification_archs():
        raise ModelRejected(f"unknown torchvision classifier '{req.arch}'; e.g. resnet50, mobilenet_v3_large, "
                            "efficientnet_b0, convnext_tiny (torchvision.models.list_models())")
    state = state_dict_of(req.weights)
    record = ModelRecord(req.name, req.arch, "weights.pt", tuple(labels), prep)
    torch.save(state, staging / record.weights)  # tensors only: what serving loads with weights_only=True
    try:
        model = user_models.build_network(record, staging / record.weights)
    except BackboneUnavailable as exc:
        raise ModelRejected(f"{req.weights.name} does not fit {req.arch} with {len(labels)} classes: "
                            f"{mismatch(state, req.arch, len(labels))}") from exc
    model.eval()
    test_forward(model, req.name, prep, len(labels))
    layers, default = offered_layers(model, req, prep.crop)
    return replace(record, layers=layers, default_layer=default)


def add(folder: Path, req: Request) -> ModelRecord:
    """Check and register a model in the models `folder`: nothing is written unless every check passes."""
    records = user_models.read_registry(folder)
    if req.name in backbones.available():
        raise ModelRejected(f"'{req.name}' is a built-in backbone; choose another name")
    if req.name in records and not req.replace:
        raise ModelRejected(f"a model named '{req.name}' is registered already (remove it, or add --replace)")
    labels = read_labels(req.labels)
    if req.num_classes is not None and req.num_classes != len(labels):
        raise ModelRejected(f"--num-classes is {req.num_classes} but the labels file has {len(labels)} labels")
    prep = Preprocessing(mean=req.mean, std=req.std, resize=req.resize or round(req.size * 8 / 7), crop=req.size,
                         channels=req.channels)
    try:
        user_models.check_record(ModelRecord(req.name, req.arch or "", "w", tuple(labels), prep))
    except ValueError as exc:
        raise ModelRejected(str(exc)) from exc
    for given in (req.weights, req.torchscript, req.labels):
        if given is not None and not given.is_file():
            raise ModelRejected(f"file not found: {given}")
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".staging-") as tmp:
        record = build(req, prep, labels, Path(tmp))
        target = folder / req.name
        if target.exists():
            shutil.rmtree(target)
        target.mkdir()
        shutil.move(str(Path(tmp) / record.weights), target / record.weights)
    user_models.write_registry(folder, {**records, req.name: record})
    return record


def remove(folder: Path, name: str) -> None:
    """Forget a registered model and delete its weights."""
    records = user_models.read_registry(folder)
    if name not in records:
        raise ModelRejected(f"no model named '{name}' is registered; registered: {', '.join(records) or 'none'}")
    del records[name]
    user_models.write_registry(folder, records)
    shutil.rmtree(folder / name, ignore_errors=True)
