"""Token lookup order: argument, CONVLENS_TOKEN, then key_file.json (argument, env, ./, ./.run/)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from client_fakes import Servers, classification, proto_reply
from convlens_client.transport.auth import KeyFileError, TokenSource, find_key_file, read_key_file, resolve_token


def write_key_file(path: Path, inference: str, management: str = "mgmtKey1") -> Path:
    """A key file shaped like the one TorchServe 0.12 writes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "management": {"key": management, "expiration time": "2026-11-25T10:00:00Z"},
                "inference": {"key": inference, "expiration time": "2026-11-25T10:00:00Z"},
                "API": {"key": "apiKey12"},
            },
            indent=2,
        )
    )
    return path


@pytest.fixture
def every_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A token in every place the lookup knows; each test removes the ones ranked above its target."""
    paths = {
        "arg_file": write_key_file(tmp_path / "given" / "key_file.json", "fromArgF"),
        "env_file": write_key_file(tmp_path / "env" / "key_file.json", "fromEnvF"),
        "cwd_file": write_key_file(tmp_path / "key_file.json", "fromCwdF"),
        "run_file": write_key_file(tmp_path / ".run" / "key_file.json", "fromRunF"),
    }
    monkeypatch.setenv("CONVLENS_TOKEN", "fromEnvT")
    monkeypatch.setenv("CONVLENS_KEY_FILE", str(paths["env_file"]))
    return paths


def test_lookup_order(every_source: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    arg = every_source["arg_file"]
    assert resolve_token("fromArgT", key_file=arg) == "fromArgT"
    assert resolve_token(None, key_file=arg) == "fromEnvT"
    monkeypatch.delenv("CONVLENS_TOKEN")
    assert resolve_token(None, key_file=arg) == "fromArgF"
    assert resolve_token(None) == "fromEnvF"
    monkeypatch.delenv("CONVLENS_KEY_FILE")
    assert resolve_token(None) == "fromCwdF"
    every_source["cwd_file"].unlink()
    assert resolve_token(None) == "fromRunF"
    every_source["run_file"].unlink()
    assert resolve_token(None) is None


def test_relative_key_file_is_resolved_against_the_working_directory(tmp_path: Path) -> None:
    write_key_file(tmp_path / "conf" / "keys.json", "relative")
    assert find_key_file("conf/keys.json") == tmp_path / "conf" / "keys.json"
    assert resolve_token(key_file="conf/keys.json") == "relative"


def test_named_key_file_must_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(KeyFileError, match="not found"):
        resolve_token(key_file=tmp_path / "nope.json")
    monkeypatch.setenv("CONVLENS_KEY_FILE", str(tmp_path / "nope.json"))
    with pytest.raises(KeyFileError, match="not found"):
        resolve_token()


@pytest.mark.parametrize("content", ["{not json", '{"inference": {}}', '{"inference": {"key": ""}}', "[]"])
def test_malformed_key_files_are_errors(tmp_path: Path, content: str) -> None:
    path = tmp_path / "key_file.json"
    path.write_text(content)
    with pytest.raises(KeyFileError):
        read_key_file(path)


def test_key_file_changes_are_followed(tmp_path: Path) -> None:
    """TorchServe rewrites key_file.json on restart; a long-lived client follows it."""
    path = write_key_file(tmp_path / "key_file.json", "firstKey")
    source = TokenSource()
    assert source.key_file == path and source() == "firstKey"
    write_key_file(path, "secondKy")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert source() == "secondKy"


def test_client_sends_the_key_file_token(servers: Servers, backend, transport: str, tmp_path: Path) -> None:
    write_key_file(tmp_path / ".run" / "key_file.json", "runToken")
    backend.reply = proto_reply(classification((1, "goldfish", 1.0, 2.0)))
    with servers.client(transport, token=None) as c:
        c.classify(b"\x89PNG\r\n\x1a\n")
        c.health()
    assert [r.authorization for r in backend.requests] == ["Bearer runToken"] * 2


def test_env_token_beats_key_file_in_the_client(
    servers: Servers, backend, transport: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_key_file(tmp_path / "key_file.json", "fileTokn")
    monkeypatch.setenv("CONVLENS_TOKEN", "envToken")
    with servers.client(transport, token=None) as c:
        c.health()
    assert backend.last.authorization == "Bearer envToken"
