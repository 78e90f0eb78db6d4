"""Typed results of the attribution endpoints: occlusion maps and segmentations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._proto import convlens_pb2 as pb
from .core import Heatmap, Prediction, grid_array, grid_rows, grid_values


@dataclass(frozen=True)
class OcclusionMap:
    """Zeiler & Fergus occlusion: the target's probability with a patch over each grid position.

    ``heatmap`` is that probability at image resolution; ``grid`` holds ``rows * cols`` probabilities,
    row-major, with the patch's top-left corner at ``(i * stride, j * stride)``.
    """

    heatmap: Heatmap
    rows: int
    cols: int
    grid: Sequence[float]
    patch: int
    stride: int
    fill: str
    base_probability: float  # the target's probability without occlusion

    @classmethod
    def from_proto(cls, msg: pb.OcclusionMap) -> OcclusionMap:
        """From a ``convlens.v1.OcclusionMap``."""
        return cls(
            heatmap=Heatmap.from_proto(msg.heatmap),
            rows=msg.rows,
            cols=msg.cols,
            grid=grid_values(msg.grid, msg.rows, msg.cols, "occlusion grid"),
            patch=msg.patch,
            stride=msg.stride,
            fill=msg.fill,
            base_probability=msg.base_probability,
        )

    @property
    def target(self) -> Prediction | None:
        """The class explained."""
        return self.heatmap.target

    @property
    def predicted(self) -> Prediction | None:
        """The network's top-1 on this image."""
        return self.heatmap.predicted

    @property
    def grid_array(self) -> Any:
        """The grid as a float32 numpy array of shape (rows, cols)."""
        return grid_array(self.grid, self.rows, self.cols)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the heatmap's, plus the grid and its geometry."""
        return {
            **self.heatmap.to_dict(),
            "base_probability": self.base_probability,
            "grid": {
                "rows": self.rows,
                "cols": self.cols,
                "patch": self.patch,
                "stride": self.stride,
                "fill": self.fill,
                "values": grid_rows(self.grid, self.rows, self.cols),
            },
        }


@dataclass(frozen=True)
class Segmentation:
    """A foreground mask from saliency + GrabCut, with the cut-out; both as PNG bytes."""

    mask_png: bytes  # white = foreground
    cutout_png: bytes  # RGBA, transparent outside the mask
    width: int
    height: int
    foreground_fraction: float
    method: str
    backbone: str
    target: Prediction | None
    predicted: Prediction | None

    @classmethod
    def from_proto(cls, msg: pb.Segmentation) -> Segmentation:
        """From a ``convlens.v1.Segmentation``."""
        return cls(
            mask_png=msg.mask.data,
            cutout_png=msg.cutout.data,
            width=msg.width,
            height=msg.height,
            foreground_fraction=msg.foreground_fraction,
            method=msg.method,
            backbone=msg.backbone,
            target=Prediction.from_field(msg, "target"),
            predicted=Prediction.from_field(msg, "predicted"),
        )

    @property
    def mask(self) -> Any:
        """The mask as a (height, width) bool numpy array (needs Pillow and numpy)."""
        import io

        import numpy as np
        from PIL import Image

        return np.asarray(Image.open(io.BytesIO(self.mask_png))) > 0

    @property
    def cutout(self) -> Any:
        """The cut-out as a PIL RGBA image (needs Pillow)."""
        import io

        from PIL import Image

        return Image.open(io.BytesIO(self.cutout_png))

    def save(self, path: str | Path, what: str = "cutout") -> Path:
        """Write the ``cutout`` or the ``mask`` PNG to ``path``."""
        if what not in ("cutout", "mask"):
            raise ValueError(f"what must be 'cutout' or 'mask', not {what!r}")
        out = Path(path)
        out.write_bytes(self.cutout_png if what == "cutout" else self.mask_png)
        return out
