"""Typed values out of the flat request map, whatever the transport; every error names its field.

Values arrive as bytes (gRPC input map, multipart files), str (form fields) or JSON scalars (JSON bodies; images
then come base64-encoded). `Fields` reads one value at a time and remembers which fields were read, so that
what is left over is an unknown field (a typo such as 'tagret' must not silently fall back to a default).
The endpoint specs (spec.py) say which reader each field uses.
"""
from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from convlens.core.errors import InvalidParameter

MAX_TEXT = 256  # longest accepted text value (labels, names)
TRUE, FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")
# Plain ASCII decimal only: Python's int()/float() also take '1_000', Unicode digits, 'nan' and 'infinity'.
_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


class Fields:
    """Reads typed values out of a flat field map and remembers which fields were used."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = dict(raw)
        self.used: set[str] = set()

    def _get(self, name: str) -> Any:
        self.used.add(name)
        value = self.raw.get(name)
        return None if value is None or value == b"" or value == "" else value

    def present(self, name: str) -> bool:
        """Whether the request sent a non-empty value for `name` (which then counts as used)."""
        return self._get(name) is not None

    def text(self, name: str, default: str | None = None) -> str | None:
        """A short text value (bytes are decoded as UTF-8)."""
        value = self._get(name)
        if value is None:
            return default
        if isinstance(value, (bytes, bytearray)):
            try:
                value = bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidParameter(name, "must be UTF-8 text") from None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise InvalidParameter(name, f"must be a text value, got {type(value).__name__}")
        value = str(value).strip()
        if len(value) > MAX_TEXT:
            raise InvalidParameter(name, f"is longer than {MAX_TEXT} characters")
        return value

    def _from_text(self, name: str, pattern: re.Pattern[str], cast: Callable[[str], Any], expected: str) -> Any:
        """A number sent as text (form fields, gRPC bytes): plain ASCII decimal only."""
        text = self.text(name) or ""
        if not pattern.fullmatch(text):
            raise InvalidParameter(name, f"must be {expected}, got '{text[:40]}'")
        return cast(text)

    def integer(self, name: str, default: int | None, lo: int, hi: int) -> int | None:
        """An integer in [lo, hi]; JSON numbers that are whole (3.0) are accepted."""
        value = self._get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            raise InvalidParameter(name, "must be an integer, got a boolean")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int):
            value = self._from_text(name, _INTEGER, lambda text: int(text, 10), "an integer")
        if not lo <= value <= hi:
            raise InvalidParameter(name, f"must be between {lo} and {hi}, got {value}")
        return value

    def number(self, name: str, default: float | None, lo: float, hi: float) -> float | None:
        """A finite float in [lo, hi]."""
        value = self._get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            raise InvalidParameter(name, "must be a number, got a boolean")
        if not isinstance(value, (int, float)):
            value = self._from_text(name, _NUMBER, float, "a finite number")
        if not math.isfinite(value) or not lo <= value <= hi:
            raise InvalidParameter(name, f"must be a finite number between {lo} and {hi}, got {value}")
        return float(value)

    def choice(self, name: str, default: str | None, choices: Sequence[str]) -> str | None:
        """One of a fixed set of names (case-insensitive)."""
        value = self.text(name)
        if value is None:
            return default
        value = value.lower()
        if value not in choices:
            raise InvalidParameter(name, f"must be one of {', '.join(choices)}; got '{value}'")
        return value

    def flag(self, name: str, default: bool | None = False, also_true: Sequence[str] = ()) -> bool | None:
        """A boolean: true/false, 1/0, yes/no, on/off (JSON booleans too); `also_true` adds accepted spellings."""
        value = self._get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        text = (self.text(name) or "").strip().lower()
        if text in TRUE or text in also_true:
            return True
        if text in FALSE:
            return False
        raise InvalidParameter(name, f"must be true or false, got '{text[:40]}'")

    def class_target(self, name: str) -> int | str | None:
        """A class given by index (digits) or by label (text); resolved against the backbone's labels later."""
        value = self._get(name)
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        text = self.text(name) or ""
        return int(text) if text.lstrip("-").isdigit() else text

    def image(self, name: str, aliases: Sequence[str] = ()) -> bytes:
        """Encoded image bytes; text values (JSON bodies) are base64, optionally as a data: URL."""
        value = None
        for key in (name, *aliases):
            value = self._get(key)
            if value is not None:
                break
        if value is None:
            raise InvalidParameter(name, "is required: send an encoded image (PNG, JPEG, WebP, ...)")
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
        if isinstance(value, str):
            if value.startswith("data:") and "," in value:
                value = value.split(",", 1)[1]
            try:
                return base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise InvalidParameter(name, "text image values must be base64-encoded bytes") from None
        raise InvalidParameter(name, f"must be an encoded image, got {type(value).__name__}")

    def reject_unknown(self) -> None:
        """Unknown fields are errors: the first one (sorted) is named, with the fields this endpoint read."""
        unknown = sorted(set(self.raw) - self.used)
        if unknown:
            raise InvalidParameter(unknown[0], f"unknown field '{unknown[0]}'; this endpoint accepts: "
                                               f"{', '.join(sorted(self.used))}")
