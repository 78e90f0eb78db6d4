"""Images sent as one zip file: read in memory under limits on members, sizes and paths; nothing touches disk.

A zip's directory can lie about sizes, so every member is read with a hard cap and the real byte counts are
checked; names that could escape a folder (absolute paths, `..`, drive letters, backslashes) are refused, and
directories and macOS metadata (`__MACOSX/`, dot files) are skipped.
"""
from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

from .errors import InvalidParameter, TooLarge


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds on one uploaded zip of images."""

    max_members: int = 32
    max_member_bytes: int = 32 * 1024 * 1024
    max_total_bytes: int = 64 * 1024 * 1024


def _unsafe(name: str) -> bool:
    parts = name.split("/")
    return (name.startswith("/") or "\\" in name or ".." in parts or (len(name) > 1 and name[1] == ":")
            or "\x00" in name)


def _skipped(name: str) -> bool:
    parts = [p for p in name.split("/") if p]
    return name.endswith("/") or not parts or parts[0] == "__MACOSX" or parts[-1].startswith(".")


def read_zip(data: bytes, field: str = "zip", limits: ArchiveLimits = ArchiveLimits()) -> list[tuple[str, bytes]]:
    """(member name, bytes) of every file in the zip, in archive order; 400/413 naming `field` when unsafe."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise InvalidParameter(field, f"not a readable zip file: {exc}") from None
    members: list[tuple[str, bytes]] = []
    with archive:
        infos = archive.infolist()
        if len(infos) > 4 * limits.max_members + 16:  # refuse huge directories before looking at each entry
            raise TooLarge(field, f"the zip has {len(infos)} entries; at most {limits.max_members} images allowed")
        total = 0
        for info in infos:
            name = info.filename
            if _unsafe(name):
                raise InvalidParameter(field, f"member '{name[:80]}' has an unsafe path")
            if _skipped(name):
                continue
            if info.flag_bits & 0x1:
                raise InvalidParameter(field, f"member '{name[:80]}' is encrypted")
            if len(members) == limits.max_members:
                raise TooLarge(field, f"the zip holds more than {limits.max_members} images")
            if info.file_size > limits.max_member_bytes:
                raise TooLarge(field, f"member '{name[:80]}' is {info.file_size} bytes uncompressed; the limit is "
                                      f"{limits.max_member_bytes}")
            budget = min(limits.max_member_bytes, limits.max_total_bytes - total)
            try:
                with archive.open(info) as handle:
                    content = handle.read(budget + 1)  # never trust the declared size
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError) as exc:
                raise InvalidParameter(field, f"member '{name[:80]}' cannot be read: {exc}") from None
            if len(content) > budget:
                raise TooLarge(field, f"the zip's contents exceed {limits.max_total_bytes} bytes uncompressed "
                                      f"(or a member exceeds {limits.max_member_bytes})")
            total += len(content)
            members.append((name, content))
    if not members:
        raise InvalidParameter(field, "the zip holds no files")
    return members
