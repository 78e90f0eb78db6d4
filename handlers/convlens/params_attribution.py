"""Typed parameters of the attribution endpoints: saliency (every method, inner neurons), occlusion, segment.

Method options are accepted only by the methods that use them (a `steps` sent with method=gradient is a 400, not
silently ignored). Multi-pass work is capped by passes x pixels so requests finish inside the response timeout.
`params` imports this module to register its parsers, so this one imports `params` only inside functions.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from convlens.attribution.base import Neuron
from convlens.attribution.paths import BASELINES
from convlens.core.colormaps import COLORMAPS
from convlens.core.errors import InvalidParameter, TooLarge

if TYPE_CHECKING:
    from convlens import params
    from convlens.params import Fields

# passes x pixels per request: 100 passes at 224 x 224 (~10 s of EfficientNet-Lite0 on 2 CPU cores)
MAX_PASS_PIXELS = 100 * 224 * 224
MAX_OCCLUSION_POSITIONS = 4096
PICTURE_FORMATS = ("png", "jpeg", "json", "npy", "proto")
CAM_METHODS = ("gradcam", "guided_gradcam")
METHOD_OPTIONS = {  # request field -> methods that take it
    "noise": ("smoothgrad",), "samples": ("smoothgrad",), "batch_size": ("smoothgrad", "integrated_gradients"),
    "seed": ("smoothgrad", "integrated_gradients"), "baseline": ("integrated_gradients",),
    "steps": ("integrated_gradients",),
}


def position(fields: Fields, name: str = "position") -> tuple[int, int] | None:
    """`"y,x"`: a location in a layer's feature grid."""
    text = fields.text(name)
    if text is None:
        return None
    try:
        y, x = (int(part, 10) for part in text.split(","))
    except ValueError:
        raise InvalidParameter(name, f"must be 'y,x' (two integers), got '{text[:40]}'") from None
    if y < 0 or x < 0:
        raise InvalidParameter(name, f"must be non-negative, got {y},{x}")
    return y, x


def method_options(fields: Fields, method: str, size: int) -> dict[str, Any]:
    """The chosen method's own settings; options of other methods are refused (400 naming them)."""
    for name, methods in METHOD_OPTIONS.items():
        if method not in methods and fields.present(name):
            raise InvalidParameter(name, f"'{name}' is not used by method '{method}' (only by {', '.join(methods)})")
    options: dict[str, Any] = {}
    if method == "smoothgrad":
        options.update(noise=fields.number("noise", 0.15, 0.0, 1.0), samples=fields.integer("samples", 25, 1, 200))
        passes, passes_field = options["samples"], "samples"
    elif method == "integrated_gradients":
        options.update(baseline=fields.choice("baseline", "black", BASELINES),
                       steps=fields.integer("steps", 32, 2, 300))
        passes, passes_field = options["steps"], "steps"
    else:
        passes, passes_field = 1, None
    if method in METHOD_OPTIONS["batch_size"]:
        batch = fields.integer("batch_size", 0, 0, 256)
        options.update(batch_size=batch or None, seed=fields.integer("seed", 0, 0, 2**31 - 1))
    if passes_field and passes * size * size > MAX_PASS_PIXELS:
        raise TooLarge(passes_field, f"{passes} {passes_field} at size {size} is more work than one request may "
                                     f"ask ({passes_field} x size^2 <= {MAX_PASS_PIXELS}); lower one of them")
    return options


def parse_saliency(fields: Fields) -> params.SaliencyParams:
    from convlens import params

    base = params.parse_saliency(fields)
    layer, has_channel = fields.text("layer"), fields.present("channel")
    options = method_options(fields, base.method, base.size)
    neuron = None
    if base.method in CAM_METHODS:
        if has_channel or fields.present("position"):
            raise InvalidParameter("channel", f"method '{base.method}' explains classes; 'layer' picks the "
                                              "layer of its class activation map and 'channel' is not used")
        options["layer"] = layer
    elif layer is not None or has_channel:
        from convlens.attribution.methods import NEURON_METHODS

        if base.method not in NEURON_METHODS:
            raise InvalidParameter("layer", f"explaining an inner neuron (layer + channel) works with methods "
                                            f"{', '.join(NEURON_METHODS)}, not '{base.method}'")
        if layer is None:
            raise InvalidParameter("layer", "is required with 'channel': the layer of the neuron to explain")
        if not has_channel:
            raise InvalidParameter("channel", "is required with 'layer': the channel of the neuron to explain")
        if fields.present("target"):
            raise InvalidParameter("target", "give either a class 'target' or a neuron (layer + channel)")
        neuron = Neuron(layer, fields.integer("channel", 0, 0, 1 << 16), position(fields))
    elif fields.present("position"):
        raise InvalidParameter("position", "is only used with 'layer' and 'channel'")
    return replace(base, neuron=neuron, options=options)


@dataclass(frozen=True)
class OcclusionParams:
    image: bytes
    target: int | str | None = None
    patch: int = 32
    stride: int = 16
    fill: str = "mean"
    size: int = 224
    batch_size: int | None = None
    view: str = "heatmap"
    colormap: str = "inferno"
    format: str = "png"
    backbone: str | None = None


def parse_occlusion(fields: Fields) -> OcclusionParams:
    size = fields.integer("size", 224, 32, 512)
    p = OcclusionParams(
        image=fields.image("image", aliases=("body", "data")),
        target=fields.class_target("target"),
        patch=fields.integer("patch", 32, 1, size),
        stride=fields.integer("stride", 16, 1, size),
        fill=fields.choice("fill", "mean", ("mean", "zero", "blur")),
        size=size,
        batch_size=fields.integer("batch_size", 0, 0, 256) or None,
        view=fields.choice("view", "heatmap", ("heatmap", "overlay")),
        colormap=fields.choice("colormap", "inferno", tuple(COLORMAPS)),
        format=fields.choice("format", "png", PICTURE_FORMATS),
        backbone=fields.text("backbone"),
    )
    longer = 2 * size  # explanation_pixels keeps the aspect with the longer side <= 2 * size
    positions = (-(-max(0, size - p.patch) // p.stride) + 1) * (-(-max(0, longer - p.patch) // p.stride) + 1)
    if positions > MAX_OCCLUSION_POSITIONS:
        raise TooLarge("stride", f"patch {p.patch} with stride {p.stride} at size {size} may need up to {positions} "
                                 f"occluded images; at most {MAX_OCCLUSION_POSITIONS}: raise stride or patch")
    return p


@dataclass(frozen=True)
class SegmentParams:
    image: bytes
    target: int | str | None = None
    method: str = "guided_gradcam"
    size: int = 224
    foreground: float = 0.95
    background: float = 0.30
    iterations: int = 5
    view: str = "cutout"
    format: str = "png"
    backbone: str | None = None


def parse_segment(fields: Fields) -> SegmentParams:
    from convlens.attribution.methods import METHODS

    p = SegmentParams(
        image=fields.image("image", aliases=("body", "data")),
        target=fields.class_target("target"),
        # default guided Grad-CAM: plain gradient maps of EfficientNet-Lite are too speckled to seed GrabCut
        method=fields.choice("method", "guided_gradcam", tuple(METHODS)),
        size=fields.integer("size", 224, 32, 512),
        foreground=fields.number("foreground", 0.95, 0.5, 0.999),
        background=fields.number("background", 0.30, 0.0, 0.9),
        iterations=fields.integer("iterations", 5, 1, 20),
        view=fields.choice("view", "cutout", ("cutout", "mask", "overlay")),
        format=fields.choice("format", "png", PICTURE_FORMATS),
        backbone=fields.text("backbone"),
    )
    if p.background >= p.foreground:
        raise InvalidParameter("background", f"must be below foreground ({p.foreground}), got {p.background}")
    return p


PARSERS = {"saliency": parse_saliency, "occlusion": parse_occlusion, "segment": parse_segment}
