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

Management calls (``models()``, ``describe()``, ``layers()``) use the management key the same
way: ``management_token`` argument, ``CONVLENS_MANAGEMENT_TOKEN``, or ``management.key`` of the
key file.

**Expired tokens.** TorchServe's inference and management keys expire after
``token_expiration_min`` (60 by default); its ``API`` key does not. When a call is refused
(``Unauthorized``) and the token came from a key file, the client refreshes it once and repeats
the call: it first re-reads the file (another client or the operator may have rotated the key
already), and if that gives nothing new and an API key is known (``api_key`` argument,
``CONVLENS_API_KEY``, or ``API.key`` of the key file) it asks TorchServe for a new key with
``GET <management>/token?type=inference|management`` and reads it from the key file. TorchServe
answers that call with an empty body and writes the new key only into its ``key_file.json``, so
refreshing works only where the client can read that file (the same host or a shared volume). A
token given explicitly (argument or environment) is never refreshed.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Callable

from ..errors import ConvLensError
from .tls import PathLike

TOKEN_ENV = "CONVLENS_TOKEN"
MANAGEMENT_TOKEN_ENV = "CONVLENS_MANAGEMENT_TOKEN"
API_KEY_ENV = "CONVLENS_API_KEY"
TOKEN_ENVS = {"inference": TOKEN_ENV, "management": MANAGEMENT_TOKEN_ENV}
KEY_FILE_ENV = "CONVLENS_KEY_FILE"
DEFAULT_KEY_FILES = ("key_file.json", os.path.join(".run", "key_file.json"))


class KeyFileError(ConvLensError):
    """A TorchServe key file is missing or unreadable."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 0, "KeyFileError")


def read_key_file(path: PathLike, kind: str = "inference") -> str:
    """A key of a TorchServe ``key_file.json``: ``kind`` is ``inference``, ``management`` or ``API``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        key = data[kind]["key"]
    except FileNotFoundError:
        raise KeyFileError(f"key file not found: {path}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KeyFileError(f"cannot read the {kind} key from {path}: {exc!r}") from None
    if not isinstance(key, str) or not key:
        raise KeyFileError(f"no {kind} key in {path}")
    return key


def find_key_file(
    key_file: PathLike | None = None,
    env: Mapping[str, str] | None = None,
    cwd: PathLike | None = None,
) -> Path | None:
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


# Asks TorchServe for a new key of a kind ("inference" / "management") with the API key.
Rotator = Callable[[str, str], None]


class TokenSource:
    """Resolves the token once, then serves it; a token read from a key file follows file changes
    and can be refreshed (:meth:`refresh`). Thread-safe: one source may serve many threads."""

    def __init__(
        self,
        token: str | None = None,
        key_file: PathLike | None = None,
        env: Mapping[str, str] | None = None,
        cwd: PathLike | None = None,
        kind: str = "inference",
        api_key: str | None = None,
    ) -> None:
        if kind not in TOKEN_ENVS:
            raise ValueError(f"kind must be one of {sorted(TOKEN_ENVS)}, not {kind!r}")
        env = os.environ if env is None else env
        self.kind = kind
        self._lock = threading.RLock()
        self._token: str | None = token or env.get(TOKEN_ENVS[kind]) or None
        self._api_key: str | None = api_key or env.get(API_KEY_ENV) or None
        self._path: Path | None = None
        self._stamp: tuple[int, int] | None = None
        self.rotator: Rotator | None = None  # set by the client: GET /token on the management API
        if self._token is None:
            self._path = find_key_file(key_file, env, cwd)
            if self._path is not None:
                self._reload()

    @property
    def key_file(self) -> Path | None:
        """The key file the token comes from, or None."""
        return self._path

    def _reload(self, force: bool = False) -> None:
        """Re-read the key file when it changed (or ``force``)."""
        assert self._path is not None
        try:
            st = self._path.stat()
        except OSError as exc:
            raise KeyFileError(f"key file not found: {self._path} ({exc.strerror})") from None
        stamp = (st.st_mtime_ns, st.st_size)
        if force or stamp != self._stamp:
            self._token = read_key_file(self._path, self.kind)
            self._stamp = stamp

    def __call__(self) -> str | None:
        """The current token, or None to send no ``Authorization`` (token auth disabled)."""
        with self._lock:
            if self._path is not None:
                self._reload()
            return self._token

    def api_key(self) -> str | None:
        """TorchServe's API key (for rotating tokens): argument, ``CONVLENS_API_KEY``, or the key file."""
        if self._api_key is not None or self._path is None:
            return self._api_key
        try:
            return read_key_file(self._path, "API")
        except KeyFileError:
            return None

    def refresh(self, used: str | None) -> bool:
        """After ``used`` was refused: get a newer token; True when one is now in place.

        Re-reads the key file first; if it still holds ``used``, rotates the key with the API key
        (``rotator``) and reads the new one. False for tokens not from a key file.
        """
        with self._lock:
            if self._path is None:
                return False
            self._reload(force=True)
            if self._token != used:
                return True
            api_key = self.api_key()
            if api_key is None or self.rotator is None:
                return False
            self.rotator(self.kind, api_key)
            self._reload(force=True)
            return self._token != used


def resolve_token(
    token: str | None = None,
    key_file: PathLike | None = None,
    env: Mapping[str, str] | None = None,
    cwd: PathLike | None = None,
    kind: str = "inference",
) -> str | None:
    """The ``kind`` token by the lookup order above, or None when there is none."""
    return TokenSource(token, key_file, env, cwd, kind)()
