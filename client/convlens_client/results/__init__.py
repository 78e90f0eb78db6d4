"""Typed results built from the ``convlens.v1`` protobuf messages (the server's format=proto answers), by area.

The class names are the contract the server's result types follow; each ``from_proto`` names the message it reads
(``FilterBank`` from ``Filters``, ``ActivationMaps`` from ``Activations``).
"""

from __future__ import annotations

from .attribution import OcclusionMap, Segmentation
from .core import Classification, Faithfulness, Heatmap, ImageResult, ModelStatus, Prediction
from .inspect import (
    ActivationMaps,
    ChannelStat,
    Embedding,
    FilterBank,
    Layout,
    Neighbor,
    Neighbors,
    Patch,
    Point,
    TopPatches,
)
from .style import StyleTransferResult, StylizeResult
from .synthesis import SynthesisResult

__all__ = [
    "ActivationMaps",
    "ChannelStat",
    "Classification",
    "Embedding",
    "Faithfulness",
    "FilterBank",
    "Heatmap",
    "ImageResult",
    "Layout",
    "ModelStatus",
    "Neighbor",
    "Neighbors",
    "OcclusionMap",
    "Patch",
    "Point",
    "Prediction",
    "Segmentation",
    "StyleTransferResult",
    "StylizeResult",
    "SynthesisResult",
    "TopPatches",
]
