"""Client methods of the inspect endpoints: filters, activations, top_patches, embed, neighbors, tsne.

Several images go as numbered fields (``image``, ``image_2``, ...; a gallery as ``gallery``, ``gallery_2``, ...)
and/or one ``zip`` file of images. Typed methods ask for ``format=proto``; ``*_image()`` methods return what the
server rendered (a picture by default, or ``json``/``npy`` bytes with ``format``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from ..inputs import ImageInput
from ..results import ActivationMaps, Embedding, FilterBank, Layout, Neighbors, TopPatches
from .core import EndpointMethods

__all__ = ["InspectMethods", "numbered"]

Images = Sequence[ImageInput]


def numbered(base: str, images: Images, zip: ImageInput | None = None) -> dict[str, ImageInput]:
    """``{base: images[0], base_2: images[1], ...}`` plus ``zip`` when given."""
    if isinstance(images, (str, bytes)) or not isinstance(images, Sequence):
        images = [images]
    fields: dict[str, ImageInput] = {(base if i == 0 else f"{base}_{i + 1}"): image for i, image in enumerate(images)}
    if zip is not None:
        fields["zip"] = zip
    return fields


class InspectMethods(EndpointMethods):
    """Mixed into :class:`convlens_client.Client`."""

    def filters(self, layer: str | None = None, max_filters: int | None = None,
                max_channels: int | None = None, **fields: Any) -> FilterBank:
        """The weights of ``layer``'s convolution (default: the first one), biases ignored."""
        params = dict(layer=layer, max_filters=max_filters, max_channels=max_channels, **fields)
        return FilterBank.from_proto(self._request("filters", {}, params, "filters").filters)

    def filters_image(self, layer: str | None = None, format: str = "png", **fields: Any) -> bytes:
        """The filters as one picture (the first layer in colour), or ``npy``/``json`` bytes."""
        return self._raw("filters", {}, dict(layer=layer, format=format, **fields))

    def activations(self, image: ImageInput, layer: str | None = None, size: int | None = None,
                    **fields: Any) -> ActivationMaps:
        """Every channel of ``layer`` for ``image``: ``values`` (C, H, W), per-channel ``stats`` and ``order``."""
        params = dict(layer=layer, size=size, **fields)
        return ActivationMaps.from_proto(self._request("activations", {"image": image}, params,
                                                       "activations").activations)

    def activations_image(self, image: ImageInput, layer: str | None = None, format: str = "png",
                          **fields: Any) -> bytes:
        """``layer``'s channels as a grid of tiles, most active first (``channel=``: that one, large)."""
        return self._raw("activations", {"image": image}, dict(layer=layer, format=format, **fields))

    def top_patches(self, images: Images, channel: int, layer: str | None = None,
                    top: int | None = None, guided: bool | None = None, zip: ImageInput | None = None,
                    **fields: Any) -> TopPatches:
        """The ``top`` patches of ``images`` (and the zip's) that activate ``layer``/``channel`` most."""
        params = dict(channel=channel, layer=layer, top=top, guided=guided, **fields)
        msg = self._request("top_patches", numbered("image", images, zip), params, "top_patches")
        return TopPatches.from_proto(msg.top_patches)

    def top_patches_image(self, images: Images, channel: int, zip: ImageInput | None = None,
                          format: str = "png", **fields: Any) -> bytes:
        """The strongest patches side by side (with ``guided=True`` a guided-backprop picture under each)."""
        params = dict(channel=channel, format=format, **fields)
        return self._raw("top_patches", numbered("image", images, zip), params)

    def embed(self, images: Images, layer: str | None = None, zip: ImageInput | None = None,
              **fields: Any) -> Any:
        """Feature vectors, one row per image (numbered images first, then the zip's): (N, D) float32 numpy."""
        return self.embedding(images, layer, zip, **fields).vectors

    def embedding(self, images: Images, layer: str | None = None, zip: ImageInput | None = None,
                  **fields: Any) -> Embedding:
        """:meth:`embed` with the names of the images and the backbone: the whole ``Embedding`` result."""
        msg = self._request("embed", numbered("image", images, zip), dict(layer=layer, **fields), "embedding")
        return Embedding.from_proto(msg.embedding)

    def embed_image(self, images: Images, zip: ImageInput | None = None, format: str = "png",
                    **fields: Any) -> bytes:
        """The feature vectors as a picture (one row per image), or ``npy``/``json`` bytes."""
        return self._raw("embed", numbered("image", images, zip), dict(format=format, **fields))

    def neighbors(self, query: ImageInput, gallery: Images, metric: str | None = None,
                  zip: ImageInput | None = None, **fields: Any) -> Neighbors:
        """``gallery`` ranked by feature distance to ``query`` and by pixel distance, nearest first."""
        images = {"image": query, **numbered("gallery", gallery, zip)}
        return Neighbors.from_proto(self._request("neighbors", images, dict(metric=metric, **fields),
                                                  "neighbors").neighbors)

    def neighbors_image(self, query: ImageInput, gallery: Images, zip: ImageInput | None = None,
                        format: str = "png", **fields: Any) -> bytes:
        """Both rankings as thumbnails, nearest first, or ``json``/``npy`` bytes."""
        images = {"image": query, **numbered("gallery", gallery, zip)}
        return self._raw("neighbors", images, dict(format=format, **fields))

    def tsne(self, images: Images, method: str | None = None, perplexity: float | None = None,
             zip: ImageInput | None = None, **fields: Any) -> Layout:
        """2-D layout of ``images`` by t-SNE (default) or PCA of their features, with grid cells."""
        params = dict(method=method, perplexity=perplexity, **fields)
        return Layout.from_proto(self._request("tsne", numbered("image", images, zip), params, "layout").layout)

    def tsne_image(self, images: Images, zip: ImageInput | None = None, format: str = "png",
                   **fields: Any) -> bytes:
        """The layout drawn with thumbnails (``view``: ``scatter`` or ``grid``), or ``json``/``npy`` bytes."""
        return self._raw("tsne", numbered("image", images, zip), dict(format=format, **fields))

    def lecture_raw(self, endpoint: str, images: Images = (), format: str = "png",
                    gallery: Images = (), zip: ImageInput | None = None, **fields: Any) -> bytes:
        """Deprecated: use the endpoint's ``*_image()`` method (or :meth:`raw`, which this does).

        ``images`` become ``image``, ``image_2``, ...; for ``neighbors`` the first is the query and ``gallery``
        the ranked images."""
        warnings.warn("lecture_raw() is deprecated: use filters_image(), activations_image(), top_patches_image(), "
                      "embed_image(), neighbors_image(), tsne_image() or raw()", DeprecationWarning, stacklevel=2)
        named = numbered("image", images) if images else {}
        if gallery:
            named.update(numbered("gallery", gallery))
        if zip is not None:
            named["zip"] = zip
        return self._raw(endpoint, named, dict(format=format, **fields))
