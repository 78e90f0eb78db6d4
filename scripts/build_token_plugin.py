#!/usr/bin/env python
"""Compile the fixed-token TorchServe plugin (deploy/token-plugin/) into build/token-plugin/convlens-tokens.jar.

Needs a JDK (javac). The Docker image builds it; `scripts/container_start.sh` puts it on TorchServe's plugins_path
when CONVLENS_TOKEN_DIR is set. Rebuilt only when its source changed.
"""
from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "deploy" / "token-plugin"
OUT_DIR = ROOT / "build" / "token-plugin"
JAR = OUT_DIR / "convlens-tokens.jar"


def model_server_jar() -> Path:
    """TorchServe's frontend jar (the plugin SDK classes it compiles against live inside it)."""
    import ts

    return Path(ts.__file__).resolve().parent / "frontend" / "model-server.jar"


def build(force: bool = False) -> Path:
    """Compile and package the plugin; returns the jar's path."""
    files = sorted(p for p in SOURCE.rglob("*") if p.is_file())
    digest = hashlib.sha256(b"".join(p.relative_to(SOURCE).as_posix().encode() + p.read_bytes() for p in files))
    stamp = OUT_DIR / "source.sha256"
    if not force and JAR.is_file() and stamp.is_file() and stamp.read_text() == digest.hexdigest():
        return JAR
    javac = shutil.which("javac")
    if javac is None:
        raise SystemExit("error: javac not found; the token plugin needs a JDK 17 (e.g. openjdk-17-jdk-headless)")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        classes = Path(tmp)
        sources = [str(p) for p in files if p.suffix == ".java"]
        subprocess.run([javac, "--release", "17", "-cp", str(model_server_jar()), "-d", str(classes), *sources],
                       check=True)
        with zipfile.ZipFile(JAR, "w", zipfile.ZIP_DEFLATED) as jar:
            for path in sorted(classes.rglob("*.class")):
                jar.write(path, path.relative_to(classes).as_posix())
            for path in sorted((SOURCE / "META-INF").rglob("*")):
                if path.is_file():
                    jar.write(path, path.relative_to(SOURCE).as_posix())
    stamp.write_text(digest.hexdigest())
    return JAR


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--force", action="store_true", help="rebuild even if the source did not change")
    print(f"==> {build(parser.parse_args().force)}")


if __name__ == "__main__":
    main()
