"""What the endpoint mixins of :class:`convlens_client.Client` may call: two request primitives."""

from __future__ import annotations

from typing import Any, Dict, Iterator, Mapping, Optional, Union

from ._proto import convlens_pb2 as pb
from .inputs import ImageInput

Target = Union[int, str, None]  # class index or label; None = the network's top-1


class EndpointMethods:
    """Base of the per-area mixins; :class:`convlens_client.Client` implements the primitives."""

    def _request(
        self, model: str, images: Mapping[str, ImageInput], params: Mapping[str, Any], expect: str
    ) -> pb.Response:
        """Call ``model`` with format=proto; the Response, which must hold the ``expect`` result."""
        raise NotImplementedError

    def _raw(self, model: str, images: Mapping[str, ImageInput], params: Mapping[str, Any]) -> bytes:
        """Call ``model``; the body as the server encoded it (picture, npy, JSON)."""
        raise NotImplementedError

    def describe(self, model: str, version: Optional[str] = None, timeout: Optional[float] = None) -> Dict[str, Any]:
        """What endpoint ``model`` offers (its handler's describe dict, via the management API)."""
        raise NotImplementedError

    def _stream(
        self, model: str, images: Mapping[str, ImageInput], params: Mapping[str, Any], expect: Optional[str]
    ) -> Iterator[Any]:
        """Call ``model`` with progress=true: progress events, then the result (a Response holding ``expect``,
        or the encoded body when ``expect`` is None), last."""
        raise NotImplementedError
