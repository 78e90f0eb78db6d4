"""Client methods of the style endpoints: style_transfer, stylize, styles()."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Union

from ..inputs import ImageInput
from ..results import StyleTransferResult, StylizeResult
from ..transport.streaming import Progress
from .core import EndpointMethods

Blend = Union[str, Mapping[str, float], None]


def style_images(style: ImageInput, more: Sequence[ImageInput]) -> dict[str, ImageInput]:
    """``style``, ``style_2``, ... as the server numbers them."""
    images: dict[str, ImageInput] = {"style": style}
    images.update({f"style_{i + 2}": img for i, img in enumerate(more)})
    return images


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
        (``{"name": weight}`` or ``"name:w,..."`` on the multi-style network). Other fields: strength,
        preserve_colors, max_size."""
        params = dict(style=style, blend=blend_text(blend), **fields)
        return StylizeResult.from_proto(self._request("stylize", {"image": image}, params, "stylize").stylize)

    def stylize_image(self, image: ImageInput, style: str | None = None, blend: Blend = None,
                      format: str = "jpeg", **fields: Any) -> bytes:
        """The stylized picture as the server encoded it (``jpeg`` with ``quality``, or ``png``)."""
        params = dict(style=style, blend=blend_text(blend), format=format, **fields)
        return self._raw("stylize", {"image": image}, params)

    def styles(self, timeout: float | None = None) -> list[dict[str, Any]]:
        """The stylizers the server offers (name, kind single/multi, style names, recipe): the ``styles`` of
        ``describe("stylize")`` (TorchServe's describe call with ``customized=true`` on the management API,
        over this client's transport, with the management token)."""
        return list(self.describe("stylize", timeout=timeout).get("styles", []))
