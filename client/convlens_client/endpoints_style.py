"""Client methods of the style endpoints: style_transfer, stylize, styles()."""

from __future__ import annotations

from .endpoints_base import EndpointMethods


class StyleMethods(EndpointMethods):
    """Mixed into :class:`convlens_client.Client`."""
