"""Requests of the attribution endpoints: classify, saliency (every method, inner neurons), occlusion, segment.

A saliency method's own options (the engine's `Attribution.options`) are accepted only with that method (a `steps`
sent with method=gradient is a 400, not silently ignored). Multi-pass work is capped by passes x pixels and
occlusion by its number of positions, so that requests finish inside the response timeout (413 naming a field).
"""
from __future__ import annotations

from dataclasses import field, replace
from typing import Any

from convlens.attribution import render
from convlens.attribution.base import Neuron
from convlens.attribution.faithfulness import DEFAULT_PATCH, DEFAULT_REMOVAL, DEFAULT_STEPS, METRICS, REMOVALS
from convlens.attribution.methods import METHODS, NEURON_METHODS
from convlens.attribution.occlusion import FILLS, PATCH, STRIDE
from convlens.attribution.paths import BASELINES
from convlens.attribution.segment import SEGMENT_METHOD
from convlens.core.colormaps import COLORMAPS
from convlens.core.errors import InvalidParameter, TooLarge

from ..fields import Fields
from ..spec import Choice, Field, Float, Int, Kind, Ref, Text, Values, declare, endpoint, required_first
from .common import BACKBONE, FORMAT, PHOTO, SEED, SIZE, TARGET, VIEW

# passes x pixels per request: 100 passes at 224 x 224 (~10 s of EfficientNet-Lite0 on 2 CPU cores)
MAX_PASS_PIXELS = 100 * 224 * 224
MAX_OCCLUSION_POSITIONS = 4096
# deletion/insertion classify 4 x (steps + 1) images; a forward pass costs about a third of forward + backward
MAX_EVALUATION_PIXELS = 3 * MAX_PASS_PIXELS
PASS_COUNTS = ("samples", "steps")  # the option that counts a multi-pass method's passes


def methods_using(option: str) -> tuple[str, ...]:
    """The saliency methods that take `option` (from the engine's methods)."""
    return tuple(name for name, method in METHODS.items() if option in method.options)


CAM_METHODS = methods_using("layer")
COLORMAP = Choice("inferno", tuple(COLORMAPS), "colours of the map")


def read_position(fields: Fields, f: Field, values: Values) -> tuple[int, int] | None:
    """`"y,x"`: a location in a layer's feature grid."""
    text = fields.text(f.name)
    if text is None:
        return None
    try:
        y, x = (int(part, 10) for part in text.split(","))
    except ValueError:
        raise InvalidParameter(f.name, f"must be 'y,x' (two integers), got '{text[:40]}'") from None
    if y < 0 or x < 0:
        raise InvalidParameter(f.name, f"must be non-negative, got {y},{x}")
    return y, x


POSITION = Kind("position", required_first(read_position), {"type": "string", "pattern": "^[0-9]+,[0-9]+$"})


def read_metrics(fields: Fields, f: Field, values: Values) -> tuple[str, ...] | None:
    """`deletion,insertion`: the faithfulness metrics to compute, each once (None when absent)."""
    text = fields.text(f.name)
    if text is None:
        return None
    names = [part.strip().lower() for part in text.split(",")]
    unknown = [name for name in names if name not in METRICS]
    if unknown:
        raise InvalidParameter(f.name, f"unknown metric '{unknown[0][:40]}'; a comma-separated list of "
                                       f"{', '.join(METRICS)}")
    return tuple(dict.fromkeys(names))


METRIC_LIST = "(" + "|".join(METRICS) + ")"
EVALUATE = declare(Kind("metrics", read_metrics, {"type": "string",
                                                   "pattern": f"^{METRIC_LIST}(,{METRIC_LIST})*$"}),
                   help="faithfulness of the map (json/proto): deletion and/or insertion AUC for the target, "
                        "with a seeded random map's and the curves (Petsiuk et al. 2018), e.g. "
                        "`deletion,insertion`")
EVALUATE_STEPS = Int(DEFAULT_STEPS, 4, 100,
                     "steps of the deletion/insertion curves (each: 4 x (steps + 1) forward passes)")
EVALUATE_REMOVAL = Choice(DEFAULT_REMOVAL, REMOVALS, "what deletion puts in place of a removed pixel: the "
                          "dataset mean pixel, black (RISE's deletion) or a blurred copy (insertion always starts "
                          "from the blurred copy)")
EVALUATE_PATCH = Int(DEFAULT_PATCH, 1, Ref("size"), "side in px of the square cells the curves remove in map "
                     "order, and of the random map's cells (1: single pixels)")


def evaluation_cost(p: Any) -> None:
    """413 when the curves' forward passes x pixels pass MAX_EVALUATION_PIXELS."""
    images = 4 * (p.evaluate_steps + 1)
    if p.evaluate and images * p.size * p.size > MAX_EVALUATION_PIXELS:
        raise TooLarge("evaluate_steps", f"{p.evaluate_steps} steps at size {p.size} classify {images} images; "
                                         f"4 x (steps + 1) x size^2 <= {MAX_EVALUATION_PIXELS}: lower one of them")


@endpoint("classify")
class ClassifyParams:
    """Top-k ImageNet classes of a photo (one forward pass; requests of a batch share it)."""

    image: bytes = PHOTO
    topk: int = Int(5, 1, 100, "how many classes to return, most probable first")
    format: str = Choice("json", ("json", "proto"), "json, or proto (a convlens.v1.Response)")
    backbone: str | None = BACKBONE


def method_options(p: Any) -> Any:
    """The method's own options for the engine (batch size 0 = auto); 413 when its passes x pixels pass the cap."""
    options = {name: getattr(p, name) for name in METHODS[p.method].options}
    if "batch_size" in options:
        options["batch_size"] = options["batch_size"] or None
    counted = next((name for name in PASS_COUNTS if name in options), None)
    if counted and options[counted] * p.size * p.size > MAX_PASS_PIXELS:
        passes = options[counted]
        raise TooLarge(counted, f"{passes} {counted} at size {p.size} is more work than one request may ask "
                                f"({counted} x size^2 <= {MAX_PASS_PIXELS}); lower one of them")
    return replace(p, options=options)


def neuron_asked(fields: Fields, values: Values) -> bool:
    """Whether `layer` + `channel` ask to explain an inner neuron (then `channel` and `position` are read); a 400
    when they cannot: a CAM method, half of the pair, a class `target` as well, or a method without neurons."""
    method, layer, has_channel = values["method"], values["layer"], fields.present("channel")
    if method in CAM_METHODS:
        if has_channel or fields.present("position"):
            raise InvalidParameter("channel", f"method '{method}' explains classes; 'layer' picks the layer of its "
                                              "class activation map and 'channel' is not used")
        return False
    if layer is None and not has_channel:
        if fields.present("position"):
            raise InvalidParameter("position", "is only used with 'layer' and 'channel'")
        return False
    if method not in NEURON_METHODS:
        raise InvalidParameter("layer", f"explaining an inner neuron (layer + channel) works with methods "
                                        f"{', '.join(NEURON_METHODS)}, not '{method}'")
    if layer is None:
        raise InvalidParameter("layer", "is required with 'channel': the layer of the neuron to explain")
    if not has_channel:
        raise InvalidParameter("channel", "is required with 'layer': the channel of the neuron to explain")
    if values["target"] is not None:
        raise InvalidParameter("target", "give either a class 'target' or a neuron (layer + channel)")
    return True


def inner_neuron(p: Any) -> Any:
    """The neuron that `layer` + `channel` (+ `position`) name, when they name one."""
    return None if p.channel is None else replace(p, neuron=Neuron(p.layer, p.channel, p.position))


def only_for(option: str) -> tuple[str, tuple[str, ...]]:
    """The `only` condition of a method option: the methods that take it."""
    return "method", methods_using(option)


def evaluated_class(p: Any) -> None:
    """Deletion and insertion follow a class's probability: not with an inner neuron."""
    if p.evaluate and p.neuron is not None:
        raise InvalidParameter("evaluate", "deletion/insertion follow a class's probability; not with an inner "
                                           "neuron (layer + channel)")


SIGNED_METHODS = tuple(name for name, method in METHODS.items() if method.signed)


@endpoint("saliency", method_options, inner_neuron, evaluated_class, evaluation_cost)
class SaliencyParams:
    """Which pixels made the network decide: a saliency map of a class or an inner neuron, six methods."""

    image: bytes = PHOTO
    target: int | str | None = TARGET
    method: str = Choice("gradient", tuple(METHODS), "the attribution method (see the methods table)")
    size: int = SIZE
    view: str = VIEW
    colormap: str = COLORMAP
    sign: str | None = Choice("absolute", render.SIGNS, "how the signed map is drawn: its magnitude, its "
                              "positive part, or diverging around zero in bwr (blue against the target, red "
                              "for it); magnitudes clipped at the 98th percentile", only=("method", SIGNED_METHODS))
    format: str = FORMAT
    backbone: str | None = BACKBONE
    evaluate: tuple[str, ...] | None = EVALUATE
    evaluate_steps: int = EVALUATE_STEPS
    evaluate_removal: str = EVALUATE_REMOVAL
    evaluate_patch: int = EVALUATE_PATCH
    noise: float | None = Float(0.15, 0.0, 1.0, "noise std as a fraction of the image's value range",
                                only=only_for("noise"))
    samples: int | None = Int(25, 1, 200, "noisy copies averaged", only=only_for("samples"))
    batch_size: int | None = Int(0, 0, 256, "passes per forward batch (0: sized to memory)",
                                 only=only_for("batch_size"))
    seed: int | None = replace(SEED, only=only_for("seed"))
    baseline: str | None = Choice("black", BASELINES, "the path's start: black pixels, the network input 0 "
                                                      "(zero), a blurred copy or uniform noise",
                                  only=only_for("baseline"))
    steps: int | None = Int(32, 2, 300, "quadrature points on the path", only=only_for("steps"))
    layer: str | None = Text("gradcam/guided_gradcam: the layer of the class activation map (default: the "
                             "backbone's last conv stage); with `channel`: the layer of the neuron to explain")
    channel: int | None = Int(None, 0, 1 << 16, "explain this channel of `layer` instead of a class",
                               when=neuron_asked)
    position: tuple[int, int] | None = declare(POSITION, help="`y,x` in the layer's feature grid: one activation "
                                                            "(default: the channel's spatial mean)",
                                                 when=neuron_asked)
    neuron: Neuron | None = None
    options: dict[str, Any] = field(default_factory=dict)


def occlusion_positions(p: Any) -> None:
    """413 when patch and stride may need more than MAX_OCCLUSION_POSITIONS occluded images."""
    longer = 2 * p.size  # explanation_pixels keeps the aspect with the longer side <= 2 * size
    positions = (-(-max(0, p.size - p.patch) // p.stride) + 1) * (-(-max(0, longer - p.patch) // p.stride) + 1)
    if positions > MAX_OCCLUSION_POSITIONS:
        raise TooLarge("stride", f"patch {p.patch} with stride {p.stride} at size {p.size} may need up to "
                                 f"{positions} occluded images; at most {MAX_OCCLUSION_POSITIONS}: raise stride "
                                 "or patch")


@endpoint("occlusion", occlusion_positions, evaluation_cost)
class OcclusionParams:
    """How the target's probability drops as a patch slides over the photo (Zeiler & Fergus 2014)."""

    image: bytes = PHOTO
    target: int | str | None = TARGET
    size: int = SIZE
    patch: int = Int(PATCH, 1, Ref("size"), "side of the occluding square in px (at most `size`)")
    stride: int = Int(STRIDE, 1, Ref("size"), "step between patch positions in px (at most `size`)")
    fill: str = Choice("mean", FILLS, "what covers the patch: the dataset mean pixel, zeros, or a blurred copy")
    batch_size: int = Int(0, 0, 256, "occluded images per forward pass (0: sized to memory)")
    view: str = VIEW
    colormap: str = COLORMAP
    format: str = FORMAT
    backbone: str | None = BACKBONE
    evaluate: tuple[str, ...] | None = EVALUATE
    evaluate_steps: int = EVALUATE_STEPS
    evaluate_removal: str = EVALUATE_REMOVAL
    evaluate_patch: int = EVALUATE_PATCH


def background_below_foreground(p: Any) -> None:
    """The background seed quantile must lie below the foreground one."""
    if p.background >= p.foreground:
        raise InvalidParameter("background", f"must be below foreground ({p.foreground}), got {p.background}")


@endpoint("segment", background_below_foreground)
class SegmentParams:
    """The object's mask and cut-out: a saliency map seeds GrabCut (Simonyan et al. 2014)."""

    image: bytes = PHOTO
    target: int | str | None = TARGET
    # default Grad-CAM: it passes the randomization test (guided Grad-CAM fails it: sanity_results.json) and its
    # smooth map seeds GrabCut with regions; plain gradient maps of EfficientNet-Lite are too speckled for that
    method: str = Choice(SEGMENT_METHOD, tuple(METHODS), "the saliency method seeding GrabCut")
    size: int = SIZE
    foreground: float = Float(0.95, 0.5, 0.999, "saliency quantile above which pixels seed the foreground")
    background: float = Float(0.30, 0.0, 0.9, "saliency quantile below which pixels seed the background")
    iterations: int = Int(5, 1, 20, "GrabCut iterations")
    view: str = Choice("cutout", ("cutout", "mask", "overlay"), "the cut-out (transparent outside), the mask, "
                                                               "or the mask over the photo")
    format: str = FORMAT
    backbone: str | None = BACKBONE
