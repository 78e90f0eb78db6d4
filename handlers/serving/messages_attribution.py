"""The attribution results on the wire: saliency maps, occlusion maps and segmentations (pictures: the area's)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from google.protobuf.message import Message

from convlens.attribution import render
from convlens.attribution.results import Faithfulness, Heatmap, OcclusionMap, Segmentation

from . import convlens_pb2 as pb
from .messages import Wire, png_image, prediction_dict, prediction_proto, rounded, value_range


def classes(result: Heatmap | OcclusionMap | Segmentation) -> dict[str, Any]:
    """The method, backbone and classes every attribution result starts with."""
    return {"method": result.method, "backbone": result.backbone, "target": prediction_dict(result.target),
            "predicted": prediction_dict(result.predicted)}


def map_fields(values: np.ndarray) -> dict[str, Any]:
    """A float map's size and value range, as the Heatmap message has them."""
    height, width = values.shape
    lo, hi = value_range(values)
    return {"width": width, "height": height, "min": lo, "max": hi}


def curve_dict(curve: Faithfulness) -> dict[str, Any]:
    """One deletion/insertion curve in a JSON body: its AUC, the random map's, and both curves."""
    return {"auc": curve.auc, "random_auc": curve.random_auc, "beats_random": curve.beats_random,
            "removal": curve.removal, "patch": curve.patch, "fractions": rounded(curve.fractions),
            "probabilities": rounded(curve.probabilities),
            "random_probabilities": rounded(curve.random_probabilities)}


def evaluation_json(result: Heatmap | OcclusionMap) -> dict[str, Any]:
    """`evaluation`: {metric: curve} when the request asked for one, else nothing."""
    return {"evaluation": {c.metric: curve_dict(c) for c in result.evaluation}} if result.evaluation else {}


def heatmap_proto(result: Heatmap | OcclusionMap, values: np.ndarray, **more: Any) -> pb.Heatmap:
    """The Heatmap message of a map over the image (saliency, or occlusion's probabilities), with its curves."""
    curves = [pb.Faithfulness(metric=c.metric, auc=c.auc, random_auc=c.random_auc,
                              fractions=c.fractions.tolist(), probabilities=c.probabilities.tolist(),
                              random_probabilities=c.random_probabilities.tolist(), removal=c.removal,
                              patch=c.patch) for c in result.evaluation]
    return pb.Heatmap(**map_fields(values), values=values.ravel().tolist(), method=result.method,
                      backbone=result.backbone, target=prediction_proto(result.target),
                      predicted=prediction_proto(result.predicted), evaluation=curves, **more)


M = TypeVar("M", Heatmap, OcclusionMap)


@dataclass(frozen=True)
class MapWire(Wire[M]):
    """A map's picture: `view` heatmap (the map alone) or overlay (over the image), in `colormap`."""

    view: str = "heatmap"
    colormap: str = "inferno"


@dataclass(frozen=True)
class HeatmapWire(MapWire[Heatmap]):
    """Pictures: the map, alone or over the image; npy: the raw map; JSON and proto: the map and the classes."""

    response_field = "heatmap"
    sign: str = "absolute"

    def picture(self, result: Heatmap, fmt: str) -> np.ndarray:
        return render.saliency_picture(result, self.view, self.colormap, self.sign)

    def array(self, result: Heatmap) -> np.ndarray:
        return np.asarray(result.values, dtype=np.float32)

    def json(self, result: Heatmap) -> dict[str, Any]:
        values = self.array(result)
        return {"method": result.method, "backbone": result.backbone, "layer": result.layer,
                "target": prediction_dict(result.target), "predicted": prediction_dict(result.predicted),
                **map_fields(values), "values": rounded(values), **evaluation_json(result)}

    def message(self, result: Heatmap) -> Message:
        return heatmap_proto(result, self.array(result), layer=result.layer or "")


@dataclass(frozen=True)
class OcclusionWire(MapWire[OcclusionMap]):
    """Pictures show the probability DROP; npy is the raw grid; JSON and proto carry the probability at image
    resolution, the grid and its geometry."""

    response_field = "occlusion"

    def picture(self, result: OcclusionMap, fmt: str) -> np.ndarray:
        return render.occlusion_picture(result, self.view, self.colormap)

    def array(self, result: OcclusionMap) -> np.ndarray:
        return result.grid.astype(np.float32)

    def json(self, result: OcclusionMap) -> dict[str, Any]:
        values = result.values.astype(np.float32)
        rows, cols = result.grid.shape
        return {**classes(result), "base_probability": result.target.probability, **map_fields(values),
                "values": rounded(values),
                "grid": {"rows": rows, "cols": cols, "patch": result.patch, "stride": result.stride,
                         "fill": result.fill, "values": rounded(result.grid)}, **evaluation_json(result)}

    def message(self, result: OcclusionMap) -> Message:
        rows, cols = result.grid.shape
        return pb.OcclusionMap(heatmap=heatmap_proto(result, result.values.astype(np.float32)), rows=rows,
                               cols=cols, grid=result.grid.ravel().tolist(), patch=result.patch,
                               stride=result.stride, fill=result.fill, base_probability=result.target.probability)


@dataclass(frozen=True)
class SegmentationWire(Wire[Segmentation]):
    """Pictures: the cut-out, mask or overlay; npy: the 0/1 mask; JSON: the mask; proto: mask and cut-out PNGs."""

    response_field = "segmentation"
    view: str = "cutout"

    def picture(self, result: Segmentation, fmt: str) -> np.ndarray:
        return render.segment_picture(result, self.view, transparent=fmt == "png")

    def array(self, result: Segmentation) -> np.ndarray:
        return result.mask.astype(np.uint8)

    def json(self, result: Segmentation) -> dict[str, Any]:
        height, width = result.mask.shape
        return {**classes(result), "width": width, "height": height,
                "foreground_fraction": float(result.mask.mean()), "mask": self.array(result).tolist()}

    def message(self, result: Segmentation) -> Message:
        height, width = result.mask.shape
        return pb.Segmentation(
            mask=png_image(render.segment_picture(result, "mask"), "mask"),
            cutout=png_image(result.cutout, "cutout"), width=width, height=height,
            foreground_fraction=float(result.mask.mean()), method=result.method, backbone=result.backbone,
            target=prediction_proto(result.target), predicted=prediction_proto(result.predicted))


WIRES: dict[type, type[Wire[Any]]] = {Heatmap: HeatmapWire, OcclusionMap: OcclusionWire,
                                      Segmentation: SegmentationWire}
