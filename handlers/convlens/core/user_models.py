"""Classifiers that users registered (`convlens-models add`): one JSON registry beside one folder per model.

A record names a torchvision architecture (weights: a state dict, read with `weights_only=True`) or a TorchScript
file, the model's labels, its preprocessing and the layers it offers; nothing in the registry is code. Serving
loads a record as a `Backbone` like the built-in ones, so every classifier method takes it.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .backbones import Backbone, BackboneUnavailable, Preprocessing, frozen, load_weights, out_of_place

REGISTRY = "models.json"  # the registry's file name inside the models folder
FOLDER = "models"  # the models folder's name inside model_store/ and inside an archive
FORMAT = 1
TORCHSCRIPT = "torchscript"  # the `arch` of a TorchScript model
CHANNELS = ("rgb", "bgr")
NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
NO_HOOKS = ("it is TorchScript, whose submodules cannot be hooked; methods that read a layer (Grad-CAM, "
            "activations, inversion, ...) need the model registered as --arch + --weights")


@dataclass(frozen=True)
class ModelRecord:
    """One registered model: what to build, its weights file (inside its folder), labels, preprocessing, layers."""

    name: str
    arch: str  # a torchvision classification architecture, or TORCHSCRIPT
    weights: str
    labels: tuple[str, ...]
    preprocessing: Preprocessing
    layers: tuple[str, ...] = ()  # offered layer names (dotted module names), in forward order
    default_layer: str = ""  # Grad-CAM's layer when a request names none: the last convolutional stage

    @property
    def torchscript(self) -> bool:
        return self.arch == TORCHSCRIPT

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("name")
        data["labels"] = list(self.labels)
        data["layers"] = list(self.layers)
        return data

    @classmethod
    def from_json(cls, name: str, data: Mapping[str, Any]) -> ModelRecord:
        """A record from its JSON form; a malformed one raises BackboneUnavailable naming the model."""
        try:
            prep = Preprocessing(**{**data["preprocessing"], "mean": tuple(data["preprocessing"]["mean"]),
                                    "std": tuple(data["preprocessing"]["std"])})
            record = cls(name=name, arch=str(data["arch"]), weights=str(data["weights"]),
                         labels=tuple(str(label) for label in data["labels"]), preprocessing=prep,
                         layers=tuple(str(layer) for layer in data.get("layers", ())),
                         default_layer=str(data.get("default_layer", "")))
            check_record(record)
        except (KeyError, TypeError, ValueError) as exc:
            raise BackboneUnavailable(f"registered model '{name}' has a malformed record: {exc!r}") from exc
        return record


def check_record(record: ModelRecord) -> None:
    """Raise ValueError when a record cannot describe a servable model (its name, labels or preprocessing)."""
    if not NAME.match(record.name):
        raise ValueError(f"model name '{record.name}' must be 1-40 lowercase letters, digits, '_' or '-', "
                         "starting with a letter")
    if not record.labels:
        raise ValueError("a model needs at least one label")
    prep = record.preprocessing
    if prep.channels not in CHANNELS:
        raise ValueError(f"channel order must be one of {', '.join(CHANNELS)}, not '{prep.channels}'")
    if len(prep.mean) != 3 or len(prep.std) != 3 or min(prep.std) <= 0:
        raise ValueError("mean and std need three values each, std above 0")
    if not 16 <= prep.crop <= prep.resize <= 2048:
        raise ValueError(f"need 16 <= size ({prep.crop}) <= resize ({prep.resize}) <= 2048")
    if Path(record.weights).name != record.weights:
        raise ValueError(f"weights must be a file name inside the model's folder, not '{record.weights}'")


def read_registry(folder: Path) -> dict[str, ModelRecord]:
    """Every record of the registry in `folder` (none when the folder or its registry file is absent)."""
    path = folder / REGISTRY
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    if data.get("format") != FORMAT:
        raise BackboneUnavailable(f"{path.name}: unknown registry format {data.get('format')!r}")
    return {name: ModelRecord.from_json(name, entry) for name, entry in data.get("models", {}).items()}


def write_registry(folder: Path, records: Mapping[str, ModelRecord]) -> None:
    """Write the registry atomically (a reader never sees half a file)."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{REGISTRY}.tmp"
    data = {"format": FORMAT, "models": {name: records[name].to_json() for name in sorted(records)}}
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(folder / REGISTRY)


def load_torchscript(path: Path) -> nn.Module:
    """A TorchScript file on the CPU; anything else raises BackboneUnavailable naming the file."""
    try:
        return torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - torch raises many types for files that are no TorchScript archive
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise BackboneUnavailable(f"{path.name} is not a TorchScript file ({first})") from exc


def build_network(record: ModelRecord, weights: Path) -> nn.Module:
    """The record's network with its weights from `weights`, on the CPU (in-place activations made out-of-place)."""
    if not weights.is_file():
        raise BackboneUnavailable(f"weights file of model '{record.name}' not found: {weights.name}")
    if record.torchscript:
        return load_torchscript(weights)
    from torchvision.models import get_model

    model = get_model(record.arch, weights=None, num_classes=len(record.labels))
    load_weights(model, weights, record.arch)
    return out_of_place(model)


def contains_conv(module: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in module.modules())


@contextmanager
def spatial_outputs(model: nn.Module) -> Iterator[list[str]]:
    """Names of the submodules whose output of the block's forward pass is a feature map (N, C, H, W) larger than
    1x1, in the order they finished; hooks always removed."""
    finished: list[str] = []
    handles = []

    def hook(name: str):
        def record(module: nn.Module, inputs: Any, output: Any) -> None:
            if isinstance(output, torch.Tensor) and output.ndim == 4 and output.shape[-1] * output.shape[-2] > 1:
                finished.append(name)
        return record

    try:
        for name, module in model.named_modules():
            if name:
                handles.append(module.register_forward_hook(hook(name)))
        yield finished
    finally:
        for handle in handles:
            handle.remove()


def discover_layers(model: nn.Module, size: int) -> tuple[list[str], str]:
    """(stages, last stage): the shallowest level of the module tree with at least three feature-map producing
    submodules that hold a convolution (ResNet: conv1, layer1..layer4; torchvision's `features.N` nets: each N),
    found with one forward pass at `size` px; the last is Grad-CAM's default (the last convolutional stage)."""
    with spatial_outputs(model) as finished, torch.no_grad():
        model(torch.zeros(1, 3, size, size, device=next(model.parameters()).device))
    modules = dict(model.named_modules())
    levels: dict[int, list[str]] = {}
    for name in dict.fromkeys(finished):  # a module used twice counts once, at its first finish
        if contains_conv(modules[name]):
            levels.setdefault(name.count("."), []).append(name)
    if not levels:
        raise ValueError("no convolutional layer produces a feature map: this is not a convolutional classifier")
    stages = next((levels[d] for d in sorted(levels) if len(levels[d]) >= 3), max(levels.values(), key=len))
    return stages, stages[-1]


def layer_defaults(layers: Sequence[str]) -> dict[str, str]:
    """Each purpose's default layer among stages in forward order: inversion in the middle (features still
    close to the pixels), deepdream and top patches two thirds in (parts of objects)."""
    if not layers:
        return {}
    later = layers[min(len(layers) - 1, (2 * len(layers)) // 3)]
    return {"inversion": layers[len(layers) // 2], "deepdream": later, "patches": later}


def backbone_of(record: ModelRecord, model: nn.Module, device: torch.device) -> Backbone:
    """A Backbone of a registered model's network (already built): its labels, preprocessing and layers."""
    model = frozen(model if record.torchscript else out_of_place(model), device)
    layers = {} if record.torchscript else {name: model.get_submodule(name) for name in record.layers}
    return Backbone(name=record.name, model=model, layers=layers, labels=list(record.labels),
                    preprocessing=record.preprocessing, default_layer=record.default_layer, device=device,
                    layer_defaults=layer_defaults(list(layers)), no_layers_reason=NO_HOOKS if record.torchscript
                    else "the model was registered with no layers")


def load_user_backbone(record: ModelRecord, folder: Path, device: torch.device) -> Backbone:
    """Load registered model `record` from the models `folder` on `device`."""
    return backbone_of(record, build_network(record, folder / record.name / record.weights), device)
