"""Encoders of the attribution endpoints' results (occlusion, segment), next to `responses.encode_saliency`."""
from __future__ import annotations

import numpy as np

from convlens.attribution.results import OcclusionMap, Segmentation
from convlens.core import colormaps, images

from . import convlens_pb2 as pb
from .responses import CONTENT_TYPES, json_bytes, prediction_dict, prediction_proto


def _range(values: np.ndarray) -> tuple[float, float]:
    return (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)


def encode_occlusion(result: OcclusionMap, fmt: str, view: str = "heatmap", colormap: str = "inferno"
                     ) -> tuple[bytes, str]:
    """Pictures show the probability DROP (bright = covering it hurts the target most); npy is the raw grid;
    JSON and proto carry the probability at image resolution, the grid and its geometry."""
    if fmt in ("png", "jpeg"):
        drop = result.importance
        picture = (colormaps.overlay(result.image, drop, name=colormap) if view == "overlay"
                   else colormaps.heatmap_image(drop, name=colormap))
        return images.encode_image(picture, fmt), CONTENT_TYPES[fmt]
    if fmt == "npy":
        return colormaps.npy_bytes(result.grid.astype(np.float32)), CONTENT_TYPES["npy"]
    values = result.values.astype(np.float32)
    height, width = values.shape
    lo, hi = _range(values)
    rows, cols = result.grid.shape
    if fmt == "proto":
        heat = pb.Heatmap(width=width, height=height, values=values.ravel().tolist(), min=lo, max=hi,
                          method=result.method, backbone=result.backbone, target=prediction_proto(result.target),
                          predicted=prediction_proto(result.predicted))
        msg = pb.OcclusionMap(heatmap=heat, rows=rows, cols=cols, grid=result.grid.ravel().tolist(),
                              patch=result.patch, stride=result.stride, fill=result.fill,
                              base_probability=result.target.probability)
        return pb.Response(occlusion=msg).SerializeToString(), CONTENT_TYPES["proto"]
    body = {"method": result.method, "backbone": result.backbone, "target": prediction_dict(result.target),
            "predicted": prediction_dict(result.predicted), "base_probability": result.target.probability,
            "width": width, "height": height, "min": lo, "max": hi, "values": np.round(values, 7).tolist(),
            "grid": {"rows": rows, "cols": cols, "patch": result.patch, "stride": result.stride,
                     "fill": result.fill, "values": np.round(result.grid, 7).tolist()}}
    return json_bytes(body), CONTENT_TYPES["json"]


def segment_picture(result: Segmentation, view: str, fmt: str) -> np.ndarray:
    """cutout: transparent (PNG) or black (JPEG) outside the mask; mask: white on black; overlay: dimmed outside."""
    mask = result.mask[..., None]
    if view == "mask":
        return np.where(result.mask, 255, 0).astype(np.uint8)
    if view == "overlay":
        return np.where(mask, result.image, (result.image * 0.25).astype(np.uint8))
    if fmt == "png":
        return result.cutout
    return np.where(mask, result.image, 0).astype(np.uint8)


def encode_segment(result: Segmentation, fmt: str, view: str = "cutout") -> tuple[bytes, str]:
    height, width = result.mask.shape
    if fmt in ("png", "jpeg"):
        return images.encode_image(segment_picture(result, view, fmt), fmt), CONTENT_TYPES[fmt]
    if fmt == "npy":
        return colormaps.npy_bytes(result.mask.astype(np.uint8)), CONTENT_TYPES["npy"]
    fraction = float(result.mask.mean())
    if fmt == "proto":
        mask_png = images.encode_image(segment_picture(result, "mask", "png"), "png")
        cut_png = images.encode_image(result.cutout, "png")
        msg = pb.Segmentation(
            mask=pb.Image(data=mask_png, format="png", width=width, height=height, name="mask"),
            cutout=pb.Image(data=cut_png, format="png", width=width, height=height, name="cutout"),
            width=width, height=height, foreground_fraction=fraction, method=result.method,
            backbone=result.backbone, target=prediction_proto(result.target),
            predicted=prediction_proto(result.predicted))
        return pb.Response(segmentation=msg).SerializeToString(), CONTENT_TYPES["proto"]
    body = {"method": result.method, "backbone": result.backbone, "target": prediction_dict(result.target),
            "predicted": prediction_dict(result.predicted), "width": width, "height": height,
            "foreground_fraction": fraction, "mask": result.mask.astype(np.uint8).tolist()}
    return json_bytes(body), CONTENT_TYPES["json"]
