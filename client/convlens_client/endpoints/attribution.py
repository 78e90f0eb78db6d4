"""Client methods of the attribution endpoints: occlusion maps and segmentation (saliency lives in Client)."""

from __future__ import annotations

from typing import Any

from ..inputs import ImageInput
from ..results import OcclusionMap, Segmentation
from .core import EndpointMethods, Target


class AttributionMethods(EndpointMethods):
    """Mixed into :class:`convlens_client.Client`."""

    def occlusion(
        self,
        image: ImageInput,
        target: Target = None,
        patch: int | None = None,
        stride: int | None = None,
        fill: str | None = None,
        size: int | None = None,
        **fields: Any,
    ) -> OcclusionMap:
        """The ``target``'s probability as a ``patch``-pixel square (``fill``: ``mean``, ``zero``,
        ``blur``) slides over ``image`` every ``stride`` pixels (Zeiler & Fergus 2014); with
        ``evaluate="deletion,insertion"`` the map's faithfulness curves too (``.heatmap.faithfulness``)."""
        params = dict(target=target, patch=patch, stride=stride, fill=fill, size=size, **fields)
        msg = self._request("occlusion", {"image": image}, params, "occlusion")
        return OcclusionMap.from_proto(msg.occlusion)

    def occlusion_image(
        self,
        image: ImageInput,
        target: Target = None,
        view: str = "heatmap",
        format: str = "png",
        **fields: Any,
    ) -> bytes:
        """The occlusion map rendered by the server (bright = covering it lowers the target's
        probability most): ``heatmap`` or ``overlay`` as ``png``/``jpeg``, or the raw grid (``npy``)."""
        params = dict(target=target, view=view, format=format, **fields)
        return self._raw("occlusion", {"image": image}, params)

    def segment(
        self,
        image: ImageInput,
        target: Target = None,
        method: str | None = None,
        size: int | None = None,
        **fields: Any,
    ) -> Segmentation:
        """Foreground of ``image`` for ``target``: saliency (``method``, default Grad-CAM)
        seeds OpenCV's GrabCut (Simonyan et al. 2014); the mask and the cut-out."""
        params = dict(target=target, method=method, size=size, **fields)
        msg = self._request("segment", {"image": image}, params, "segmentation")
        return Segmentation.from_proto(msg.segmentation)

    def segment_image(
        self,
        image: ImageInput,
        target: Target = None,
        view: str = "cutout",
        format: str = "png",
        **fields: Any,
    ) -> bytes:
        """The segmentation as a picture: ``cutout`` (transparent outside in PNG), ``mask`` or
        ``overlay``; or the mask as ``npy`` (uint8 0/1)."""
        params = dict(target=target, view=view, format=format, **fields)
        return self._raw("segment", {"image": image}, params)
