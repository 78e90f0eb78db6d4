"""Where the client finds TorchServe's inference token.

Lookup order (first hit wins):

1. the ``token`` argument;
2. the ``CONVLENS_TOKEN`` environment variable;
3. the ``inference.key`` of a TorchServe ``key_file.json`` found at the ``key_file`` argument,
   ``CONVLENS_KEY_FILE``, ``./key_file.json`` or ``./.run/key_file.json`` (where ``make serve``
   runs TorchServe), in that order.

A key file named explicitly (argument or environment) must exist; the two default locations are
skipped when absent. TorchServe rewrites the key file when it restarts and its tokens expire, so a
token taken from a file is re-read whenever the file changes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping, Optional, Union

from .errors import ConvLensError

TOKEN_ENV = "CONVLENS_TOKEN"
KEY_FILE_ENV = "CONVLENS_KEY_FILE"
DEFAULT_KEY_FILES = ("key_file.json", os.path.join(".run", "key_file.json"))

PathLike = Union[str, "os.PathLike[str]"]


class KeyFileError(ConvLensError):
    """A TorchServe key file is missing or unreadable."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 0, "KeyFileError")


def read_key_file(path: PathLike) -> str:
    """The inference token (``inference.key``) of a TorchServe ``key_file.json``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        key = data["inference"]["key"]
    except FileNotFoundError:
        raise KeyFileError(f"key file not found: {path}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KeyFileError(f"cannot read the inference key from {path}: {exc!r}") from None
    if not isinstance(key, str) or not key:
        raise KeyFileError(f"no inference key in {path}")
    return key


def find_key_file(
    key_file: Optional[PathLike] = None,
    env: Optional[Mapping[str, str]] = None,
    cwd: Optional[PathLike] = None,
) -> Optional[Path]:
    """The key file to use: explicit argument, ``CONVLENS_KEY_FILE``, then the default locations."""
    env = os.environ if env is None else env
    base = Path.cwd() if cwd is None else Path(cwd)
    explicit = key_file if key_file is not None else env.get(KEY_FILE_ENV) or None
    if explicit is not None:
        path = base / Path(explicit).expanduser()
        if not path.is_file():
            raise KeyFileError(f"key file not found: {path}")
        return path
    for name in DEFAULT_KEY_FILES:
        path = base / name
        if path.is_file():
            return path
    return None


class TokenSource:
    """Resolves the token once, then serves it; a token read from a key file follows file changes."""

    def __init__(
        self,
        token: Optional[str] = None,
        key_file: Optional[PathLike] = None,
        env: Optional[Mapping[str, str]] = None,
        cwd: Optional[PathLike] = None,
    ) -> None:
        env = os.environ if env is None else env
        self._token: Optional[str] = token or env.get(TOKEN_ENV) or None
        self._path: Optional[Path] = None
        self._stamp: Optional[tuple[int, int]] = None
        if self._token is None:
            self._path = find_key_file(key_file, env, cwd)
            if self._path is not None:
                self._reload()

    @property
    def key_file(self) -> Optional[Path]:
        """The key file the token comes from, or None."""
        return self._path

    def _reload(self) -> None:
        assert self._path is not None
        try:
            st = self._path.stat()
        except OSError as exc:
            raise KeyFileError(f"key file not found: {self._path} ({exc.strerror})") from None
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            self._token = read_key_file(self._path)
            self._stamp = stamp

    def __call__(self) -> Optional[str]:
        """The current token, or None to send no ``Authorization`` (token auth disabled)."""
        if self._path is not None:
            self._reload()
        return self._token


def resolve_token(
    token: Optional[str] = None,
    key_file: Optional[PathLike] = None,
    env: Optional[Mapping[str, str]] = None,
    cwd: Optional[PathLike] = None,
) -> Optional[str]:
    """The inference token by the lookup order above, or None when there is none."""
    return TokenSource(token, key_file, env, cwd)()
