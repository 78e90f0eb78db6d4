"""Every endpoint's request spec, loaded: `parse(endpoint, fields)` for the handlers, `specs_as_json()` for the
generated documents (docs/openapi.json, the docs' field tables, CLI options).

The declarations live in one module per area; importing them here registers them in `serving.spec.REGISTRY`.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..spec import REGISTRY, EndpointSpec
from . import attribution, inspect, style, synthesis  # noqa: F401  (registers the endpoints)

SPECS: Mapping[str, EndpointSpec] = REGISTRY


def parse(endpoint: str, raw: Mapping[str, Any]) -> Any:
    """Typed params of `endpoint` from its flat field map; InvalidParameter (or TooLarge) names the bad field."""
    return SPECS[endpoint].parse(raw)


def specs_as_json() -> dict[str, Any]:
    """Every endpoint with its fields (name, type, default, bounds/choices, help ...), sorted by name."""
    return {name: SPECS[name].as_json() for name in sorted(SPECS)}
