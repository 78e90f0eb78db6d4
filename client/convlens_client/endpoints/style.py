"""Client methods of the style endpoints: style_transfer, stylize, styles()."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Callable, TypeVar, Union

from ..errors import ConvLensError
from ..inputs import ImageFile, ImageInput, encode_image
from ..results import StyleTransferResult, StylizeResult
from ..transport.streaming import Progress
from .core import EndpointMethods

Blend = Union[str, Mapping[str, float], None]
T = TypeVar("T")
STYLE_ID_LENGTH = 32  # hex digits of the SHA-256 of a style image's bytes: the server's style id
REMEMBERED_STYLES = 256  # style ids a client remembers having sent (the server may have evicted them since)


def style_images(style: ImageInput, more: Sequence[ImageInput]) -> dict[str, ImageInput]:
    """``style``, ``style_2``, ... as the server numbers them."""
    images: dict[str, ImageInput] = {"style": style}
    images.update({f"style_{i + 2}": img for i, img in enumerate(more)})
    return images


def style_image_fields(images: Sequence[ImageFile]) -> dict[str, ImageInput]:
    """``style_image``, ``style_image_2``, ... as the server numbers them."""
    return {("style_image" if i == 0 else f"style_image_{i + 1}"): img.data for i, img in enumerate(images)}


def style_id(data: bytes) -> str:
    """The server's id of a style image: the first 32 hex digits of the SHA-256 of its encoded bytes."""
    return hashlib.sha256(data).hexdigest()[:STYLE_ID_LENGTH]


def blend_text(blend: Blend) -> str | None:
    """``{"a": 0.7, "b": 0.3}`` -> ``"a:0.7,b:0.3"`` (strings pass through)."""
    if blend is None or isinstance(blend, str):
        return blend
    return ",".join(f"{name}:{float(weight):g}" for name, weight in blend.items())


class StyleMethods(EndpointMethods):
    """Mixed into :class:`convlens_client.Client`."""

    def style_transfer(self, content: ImageInput, style: ImageInput, *more_styles: ImageInput,
                       style_weights: Sequence[float] | None = None, stream: bool = False,
                       **fields: Any) -> StyleTransferResult | Iterator[Progress | StyleTransferResult]:
        """Optimization-based style transfer of ``content`` towards one or more style images (blended by
        ``style_weights``). Other fields: style_loss (sliced, gram), palette (match, none), content_weight,
        style_weight, tv_weight, style_scale, preserve_colors, init, optimizer, steps, size, seed, backbone. With
        ``stream=True``: an iterator of :class:`Progress` events ending with the result."""
        images = {"content": content, **style_images(style, more_styles)}
        params = dict(style_weights=list(style_weights) if style_weights else None, **fields)
        if stream:
            return self._streamed_transfer(images, params)
        msg = self._request("style_transfer", images, params, "style_transfer")
        return StyleTransferResult.from_proto(msg.style_transfer)

    def _streamed_transfer(self, images: dict[str, ImageInput],
                           params: dict[str, Any]) -> Iterator[Progress | StyleTransferResult]:
        """Progress events, then the :class:`StyleTransferResult`."""
        for item in self._stream("style_transfer", images, params, "style_transfer"):
            yield item if isinstance(item, Progress) else StyleTransferResult.from_proto(item.style_transfer)

    def style_transfer_image(self, content: ImageInput, style: ImageInput, *more_styles: ImageInput,
                             format: str = "png", stream: bool = False, **fields: Any) -> Any:
        """The transferred picture as encoded bytes (``png``/``jpeg``) or the raw array (``npy``); with
        ``stream=True`` an iterator of :class:`Progress` events ending with those bytes."""
        images = {"content": content, **style_images(style, more_styles)}
        params = dict(format=format, **fields)
        return self._stream("style_transfer", images, params, None) if stream else self._raw(
            "style_transfer", images, params)

    def stylize(self, image: ImageInput, style: str | None = None, blend: Blend = None,
                **fields: Any) -> StylizeResult:
        """Stylize ``image`` with a trained network: ``style`` (a name from :meth:`styles`) or ``blend``
        (``{"name": weight}`` or ``"name:w,..."`` on the multi-style network). Other fields: variant
        (``"lite"``, the server's default: the distilled real-time networks; ``"full"``: the trained ones),
        strength, preserve_colors, max_size."""
        params = dict(style=style, blend=blend_text(blend), **fields)
        return StylizeResult.from_proto(self._request("stylize", {"image": image}, params, "stylize").stylize)

    def stylize_image(self, image: ImageInput, style: str | None = None, blend: Blend = None,
                      format: str = "jpeg", **fields: Any) -> bytes:
        """The stylized picture as the server encoded it (``jpeg`` with ``quality``, or ``png``)."""
        params = dict(style=style, blend=blend_text(blend), format=format, **fields)
        return self._raw("stylize", {"image": image}, params)

    def stylize_like(self, image: ImageInput, style_image: ImageInput, *more_styles: ImageInput,
                     style_weights: Sequence[float] | None = None, alpha: float | None = None,
                     **fields: Any) -> StylizeResult:
        """Stylize ``image`` like any picture (the arbitrary-style network, one pass): ``style_image`` and up to
        three more, mixed by ``style_weights``; ``alpha`` (0..1) trades the style for the photo's own. A style sent
        before goes as its id (no upload, no second encoding); if the server no longer holds it
        (``StyleNotCached``) the images are sent again. Other fields: strength, preserve_colors, max_size. The
        result's ``styles`` are the style ids."""
        return self._with_style_images(
            (style_image, *more_styles), style_weights, alpha, fields,
            lambda images, params: StylizeResult.from_proto(
                self._request("stylize", {"image": image, **images}, params, "stylize").stylize))

    def stylize_like_image(self, image: ImageInput, style_image: ImageInput, *more_styles: ImageInput,
                           style_weights: Sequence[float] | None = None, alpha: float | None = None,
                           format: str = "jpeg", **fields: Any) -> bytes:
        """:meth:`stylize_like`'s picture as the server encoded it (``jpeg`` with ``quality``, or ``png``)."""
        return self._with_style_images(
            (style_image, *more_styles), style_weights, alpha, {**fields, "format": format},
            lambda images, params: self._raw("stylize", {"image": image, **images}, params))

    def _with_style_images(self, styles: Sequence[ImageInput], style_weights: Sequence[float] | None,
                           alpha: float | None, fields: dict[str, Any],
                           call: Callable[[dict[str, ImageInput], dict[str, Any]], T]) -> T:
        """``call`` with the style ids when this client sent those images before, else (or when the server
        answers StyleNotCached) with the images; remembers the ids that worked."""
        files = [encode_image(s, "style_image") for s in styles]
        ids = [style_id(f.data) for f in files]
        params = dict(style_weights=list(style_weights) if style_weights else None, alpha=alpha, **fields)
        sent: OrderedDict[str, bool] = self.__dict__.setdefault("_sent_styles", OrderedDict())
        lock: threading.Lock = self.__dict__.setdefault("_sent_styles_lock", threading.Lock())
        with lock:
            known = all(i in sent for i in ids)
        if known:
            try:
                return call({}, {**params, "style_id": ",".join(ids)})
            except ConvLensError as err:
                if err.type != "StyleNotCached":
                    raise
                with lock:
                    for i in ids:
                        sent.pop(i, None)
        result = call(style_image_fields(files), params)
        with lock:
            for i in ids:
                sent[i] = True
                sent.move_to_end(i)
            while len(sent) > REMEMBERED_STYLES:
                sent.popitem(last=False)
        return result

    def styles(self, timeout: float | None = None) -> list[dict[str, Any]]:
        """The stylizers the server offers (name, kind single/multi, style names, recipe): the ``styles`` of
        ``describe("stylize")`` (TorchServe's describe call with ``customized=true`` on the management API,
        over this client's transport, with the management token)."""
        return list(self.describe("stylize", timeout=timeout).get("styles", []))
