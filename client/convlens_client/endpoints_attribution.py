"""Client methods of the attribution endpoints: occlusion maps and segmentation (saliency lives in Client)."""

from __future__ import annotations

from .endpoints_base import EndpointMethods


class AttributionMethods(EndpointMethods):
    """Mixed into :class:`convlens_client.Client`."""
