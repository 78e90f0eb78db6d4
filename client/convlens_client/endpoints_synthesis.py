"""Client methods of the synthesis endpoints: classviz, fooling, inversion, deepdream, texture."""

from __future__ import annotations

from .endpoints_base import EndpointMethods


class SynthesisMethods(EndpointMethods):
    """Mixed into :class:`convlens_client.Client`."""
