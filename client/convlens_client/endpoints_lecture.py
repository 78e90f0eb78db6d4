"""Client methods of the lecture endpoints: filters, activations, top_patches, embed, neighbors, tsne.

Several images go as numbered fields (``image``, ``image_2``, ...; a gallery as ``gallery``, ``gallery_2``, ...)
and/or one ``zip`` file of images. Typed methods ask for ``format=proto``; :meth:`lecture_raw` returns what the
server rendered (a picture by default, or ``json``/``npy`` bytes).
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

from .endpoints_base import EndpointMethods
from .inputs import ImageInput
from .results_lecture import ActivationMaps, FilterBank, Layout, Neighbors, TopPatches

__all__ = ["LectureMethods", "numbered"]


def numbered(base: str, images: Sequence[ImageInput], zip: Optional[ImageInput] = None) -> Dict[str, ImageInput]:
    """``{base: images[0], base_2: images[1], ...}`` plus ``zip`` when given."""
    if isinstance(images, (str, bytes)) or not isinstance(images, Sequence):
        images = [images]
    fields: Dict[str, ImageInput] = {(base if i == 0 else f"{base}_{i + 1}"): image for i, image in enumerate(images)}
    if zip is not None:
        fields["zip"] = zip
    return fields


class LectureMethods(EndpointMethods):
    """Mixed into :class:`convlens_client.Client`."""

    def filters(self, layer: Optional[str] = None, max_filters: Optional[int] = None,
                max_channels: Optional[int] = None, **fields: Any) -> FilterBank:
        """The weights of ``layer``'s convolution (default: the first one), biases ignored."""
        params = dict(layer=layer, max_filters=max_filters, max_channels=max_channels, **fields)
        return FilterBank.from_proto(self._request("filters", {}, params, "filters").filters)

    def activations(self, image: ImageInput, layer: Optional[str] = None, size: Optional[int] = None,
                    **fields: Any) -> ActivationMaps:
        """Every channel of ``layer`` for ``image``: ``values`` (C, H, W), per-channel ``stats`` and ``order``."""
        params = dict(layer=layer, size=size, **fields)
        return ActivationMaps.from_proto(self._request("activations", {"image": image}, params,
                                                       "activations").activations)

    def top_patches(self, images: Sequence[ImageInput], channel: int, layer: Optional[str] = None,
                    top: Optional[int] = None, guided: Optional[bool] = None, zip: Optional[ImageInput] = None,
                    **fields: Any) -> TopPatches:
        """The ``top`` patches of ``images`` (and the zip's) that activate ``layer``/``channel`` most."""
        params = dict(channel=channel, layer=layer, top=top, guided=guided, **fields)
        msg = self._request("top_patches", numbered("image", images, zip), params, "top_patches")
        return TopPatches.from_proto(msg.top_patches)

    def embed(self, images: Sequence[ImageInput], layer: Optional[str] = None, zip: Optional[ImageInput] = None,
              **fields: Any) -> Any:
        """Feature vectors, one row per image (numbered images first, then the zip's): (N, D) float32 numpy."""
        import numpy as np

        msg = self._request("embed", numbered("image", images, zip), dict(layer=layer, **fields), "embedding")
        rows = [np.asarray(v.values, dtype=np.float32) for v in msg.embedding.vectors]
        return np.stack(rows) if rows else np.zeros((0, msg.embedding.dims), np.float32)

    def neighbors(self, query: ImageInput, gallery: Sequence[ImageInput], metric: Optional[str] = None,
                  zip: Optional[ImageInput] = None, **fields: Any) -> Neighbors:
        """``gallery`` ranked by feature distance to ``query`` and by pixel distance, nearest first."""
        images = {"image": query, **numbered("gallery", gallery, zip)}
        return Neighbors.from_proto(self._request("neighbors", images, dict(metric=metric, **fields),
                                                  "neighbors").neighbors)

    def tsne(self, images: Sequence[ImageInput], method: Optional[str] = None, perplexity: Optional[float] = None,
             zip: Optional[ImageInput] = None, **fields: Any) -> Layout:
        """2-D layout of ``images`` by t-SNE (default) or PCA of their features, with grid cells."""
        params = dict(method=method, perplexity=perplexity, **fields)
        return Layout.from_proto(self._request("tsne", numbered("image", images, zip), params, "layout").layout)

    def lecture_raw(self, endpoint: str, images: Sequence[ImageInput] = (), format: str = "png",
                    gallery: Sequence[ImageInput] = (), zip: Optional[ImageInput] = None, **fields: Any) -> bytes:
        """The server's rendering of a lecture endpoint: a picture (``png``/``jpeg``), ``npy`` or ``json`` bytes.

        ``images`` become ``image``, ``image_2``, ...; for ``neighbors`` the first is the query and ``gallery``
        the ranked images."""
        named = numbered("image", images) if images else {}
        if gallery:
            named.update(numbered("gallery", gallery))
        if zip is not None:
            named["zip"] = zip
        return self._raw(endpoint, named, dict(format=format, **fields))

