"""Client methods of the synthesis endpoints: classviz, fooling, inversion, deepdream, texture.

Each method returns a :class:`SynthesisResult`; with ``stream=True`` it returns an iterator of
:class:`Progress` events that ends with the :class:`SynthesisResult`. ``*_image`` methods return the
picture (or npy/JSON) as the server encoded it; with ``stream=True`` the iterator ends with those bytes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Union

from ..inputs import ImageInput
from ..results import SynthesisResult
from ..transport.streaming import Progress
from .core import EndpointMethods, Target

Streamed = Iterator[Union[Progress, SynthesisResult]]


def _layers(layers: str | Sequence[str] | None) -> str | None:
    """Layer names as the server's comma-separated text."""
    return layers if layers is None or isinstance(layers, str) else ",".join(layers)


class SynthesisMethods(EndpointMethods):
    """Mixed into :class:`convlens_client.Client`."""

    def _synthesis(
        self, model: str, images: Mapping[str, ImageInput], params: Mapping[str, Any], stream: bool
    ) -> SynthesisResult | Streamed:
        """The typed call, or its progress stream ending with the result."""
        if "format" in params:
            raise TypeError(f"{model}() always asks for format=proto; use {model}_image() for pictures")
        if stream:
            return self._streamed(model, images, params)
        return SynthesisResult.from_proto(self._request(model, images, params, "synthesis").synthesis)

    def _streamed(self, model: str, images: Mapping[str, ImageInput], params: Mapping[str, Any]) -> Streamed:
        """Progress events, then the :class:`SynthesisResult`."""
        for item in self._stream(model, images, params, "synthesis"):
            yield item if isinstance(item, Progress) else SynthesisResult.from_proto(item.synthesis)

    def _picture(
        self, model: str, images: Mapping[str, ImageInput], params: Mapping[str, Any], stream: bool
    ) -> bytes | Iterator[Progress | bytes]:
        """The picture as encoded, or its progress stream ending with those bytes."""
        return self._stream(model, images, params, None) if stream else self._raw(model, images, params)

    # -- classviz ------------------------------------------------------------------------------

    def classviz(
        self,
        target: Target = None,
        layer: str | None = None,
        channel: int | None = None,
        steps: int | None = None,
        size: int | None = None,
        count: int | None = None,
        seed: int | None = None,
        objective: str | None = None,
        param: str | None = None,
        diversity: float | None = None,
        stream: bool = False,
        **fields: Any,
    ) -> SynthesisResult | Streamed:
        """Images that maximize class ``target``'s score, or ``channel`` at ``layer`` (``objective``: ``class``,
        ``channel`` (its mean) or ``neuron`` (its centre)); ``count`` images pushed apart by ``diversity``.

        ``param``: ``fourier`` (the default, Olah et al. 2017) or ``pixel`` (Yosinski et al. 2015). More fields:
        ``l2``, ``blur_every``, ``blur_sigma``, ``jitter``, ``clip_norm_pct``, ``clip_contrib_pct``, ``lr``,
        ``batch_size``."""
        params = dict(target=target, layer=layer, channel=channel, steps=steps, size=size, count=count,
                      seed=seed, objective=objective, param=param, diversity=diversity, **fields)
        return self._synthesis("classviz", {}, params, stream)

    def classviz_image(self, target: Target = None, stream: bool = False, **fields: Any) -> Any:
        """The picture (png by default; several images side by side), or npy/JSON with ``format``."""
        return self._picture("classviz", {}, dict(target=target, **fields), stream)

    # -- fooling -------------------------------------------------------------------------------

    def fooling(
        self,
        image: ImageInput,
        target: Target,
        max_steps: int | None = None,
        confidence: float | None = None,
        stream: bool = False,
        **fields: Any,
    ) -> SynthesisResult | Streamed:
        """Change ``image`` minimally until the server's ``classify`` predicts ``target`` with ``confidence``
        for the returned PNG (optimized through classify's own resize and crop).

        Images ``fooled`` and ``difference`` (magnified); metrics ``classify_probability`` (what ``classify``
        answers for the fooled PNG), ``linf``, ``l2``, ``target_probability``; ``original`` / ``predicted``: the
        top classes ``classify`` gives the photo and the fooled PNG. More fields: ``step_size``, ``max_change``,
        ``magnify``, ``size``."""
        if target is None:
            raise ValueError("fooling() needs a target class")
        params = dict(target=target, max_steps=max_steps, confidence=confidence, **fields)
        return self._synthesis("fooling", {"image": image}, params, stream)

    def fooling_image(self, image: ImageInput, target: Target, stream: bool = False, **fields: Any) -> Any:
        """The fooled picture (``view``: ``fooled``, ``difference``, ``both``), or npy (the change) / JSON."""
        return self._picture("fooling", {"image": image}, dict(target=target, **fields), stream)

    # -- inversion -----------------------------------------------------------------------------

    def inversion(
        self,
        image: ImageInput,
        layer: str | None = None,
        steps: int | None = None,
        tv_weight: float | None = None,
        seed: int | None = None,
        stream: bool = False,
        **fields: Any,
    ) -> SynthesisResult | Streamed:
        """Reconstruct ``image`` from its features at ``layer``; metrics ``psnr``, ``ssim``.

        More fields: ``size``, ``lr``, ``alpha``, ``alpha_weight``."""
        params = dict(layer=layer, steps=steps, tv_weight=tv_weight, seed=seed, **fields)
        return self._synthesis("inversion", {"image": image}, params, stream)

    def inversion_image(self, image: ImageInput, stream: bool = False, **fields: Any) -> Any:
        """The reconstruction (png), or npy/JSON with ``format``."""
        return self._picture("inversion", {"image": image}, fields, stream)

    # -- deepdream -----------------------------------------------------------------------------

    def deepdream(
        self,
        image: ImageInput,
        layer: str | None = None,
        octaves: int | None = None,
        steps: int | None = None,
        guide: ImageInput | None = None,
        stream: bool = False,
        **fields: Any,
    ) -> SynthesisResult | Streamed:
        """Amplify what ``layer`` sees in ``image`` (optionally steered towards a ``guide`` image).

        More fields: ``octave_scale``, ``step_size``, ``jitter``, ``max_size``, ``seed``."""
        params = dict(layer=layer, octaves=octaves, steps=steps, **fields)
        return self._synthesis("deepdream", {"image": image, "guide": guide}, params, stream)

    def deepdream_image(self, image: ImageInput, stream: bool = False, **fields: Any) -> Any:
        """The dreamed picture (png), or npy/JSON with ``format``; ``guide=`` an image to steer it."""
        guide = fields.pop("guide", None)
        return self._picture("deepdream", {"image": image, "guide": guide}, fields, stream)

    # -- texture -------------------------------------------------------------------------------

    def texture(
        self,
        image: ImageInput,
        size: int | None = None,
        layers: str | Sequence[str] | None = None,
        steps: int | None = None,
        seed: int | None = None,
        loss: str | None = None,
        stream: bool = False,
        **fields: Any,
    ) -> SynthesisResult | Streamed:
        """A ``size`` x ``size`` texture with the feature statistics of ``image`` at ``layers`` (``pixels``: its
        colours) by the ``loss`` ``sliced`` (default) or ``gram``; metrics ``style_loss``, ``near_pure_share``,
        ``palette_distance``. More fields: ``lr``, ``source_size``."""
        params = dict(size=size, layers=_layers(layers), steps=steps, seed=seed, loss=loss, **fields)
        return self._synthesis("texture", {"image": image}, params, stream)

    def texture_image(self, image: ImageInput, stream: bool = False, **fields: Any) -> Any:
        """The synthesized texture (png), or npy/JSON with ``format``."""
        if "layers" in fields:
            fields["layers"] = _layers(fields["layers"])
        return self._picture("texture", {"image": image}, fields, stream)
