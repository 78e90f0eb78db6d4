"""Client methods of the lecture endpoints: filters, activations, top_patches, embed, neighbors, tsne."""

from __future__ import annotations

from .endpoints_base import EndpointMethods


class LectureMethods(EndpointMethods):
    """Mixed into :class:`convlens_client.Client`."""
