#!/usr/bin/env python
"""Build one TorchServe archive per endpoint into model_store/: `model_store/<name>.yaml` + `handlers/<name>.py`.

Each archive carries the handler, the shared `serving` glue and the `convlens` engine (the whole `handlers/`
folder: only what serves; build-time code such as stylizer training lives in `tools/`) and the endpoint's YAML
config; the classifier endpoints also carry the models users registered (`convlens-models add`, the folder
`model_store/models/` or $CONVLENS_MODELS_DIR) as `models/`. An archive is rebuilt only when its inputs changed.
"""
from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tools.models.paths import models_dir  # noqa: E402 - after the sys.path set-up

HANDLERS = ROOT / "handlers"
STORE = ROOT / "model_store"
STAMPS = ROOT / "build" / "stamps"
VERSION = "1.0"
ASSETS = {"stylize": "stylizers"}  # endpoint -> folder of model_store/ shipped inside its archive
# The endpoints that explain a classifier: their archives carry the registered models (backbone=NAME).
CLASSIFIER_ENDPOINTS = ("classify", "saliency", "occlusion", "segment", "classviz", "fooling", "inversion",
                        "deepdream", "activations", "filters", "top_patches", "embed", "neighbors", "tsne")
MODELS = "models"  # the registered models' folder inside an archive (convlens.core.user_models.FOLDER)


def endpoints() -> list[str]:
    """Every endpoint with both a config and a handler."""
    return sorted(p.stem for p in STORE.glob("*.yaml") if (HANDLERS / f"{p.stem}.py").is_file())


def packed_files(name: str, models: Path | None = None) -> dict[str, Path]:
    """Path inside the archive -> source file, for what endpoint `name`'s archive carries besides its config and
    weights: every file of `handlers/` but bytecode and tool caches (dot folders such as .hypothesis, .mypy_cache
    left by a run from inside handlers/), the endpoint's assets folder (ASSETS) and, for a classifier endpoint,
    the registered models (`models`, default models_dir())."""
    files = {p.relative_to(HANDLERS).as_posix(): p for p in sorted(HANDLERS.rglob("*"))
             if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
             and not any(part.startswith(".") for part in p.relative_to(HANDLERS).parts)}
    if name in ASSETS:
        folder = STORE / ASSETS[name]
        files.update({f"{ASSETS[name]}/{p.relative_to(folder).as_posix()}": p for p in sorted(folder.rglob("*"))
                      if p.is_file()})
    folder = models or models_dir()
    if name in CLASSIFIER_ENDPOINTS and folder.is_dir():
        files.update({f"{MODELS}/{p.relative_to(folder).as_posix()}": p for p in sorted(folder.rglob("*"))
                      if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)})
    return files


def sources_digest(name: str, weights: Path | None) -> str:
    """Hash of everything that goes into an archive (packed_files, config, weights), to skip unchanged ones."""
    digest = hashlib.sha256()
    extra = [STORE / f"{name}.yaml"] + ([weights] if weights else [])
    for inside, path in [*packed_files(name).items(), *((p.name, p) for p in extra)]:
        digest.update(inside.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def build(name: str, weights: Path | None, force: bool) -> bool:
    """Archive one endpoint; returns whether it was (re)built."""
    mar, stamp = STORE / f"{name}.mar", STAMPS / f"{name}.sha256"
    digest = sources_digest(name, weights)
    if not force and mar.is_file() and stamp.is_file() and stamp.read_text() == digest:
        return False
    archive(name, STORE, STORE / f"{name}.yaml", [weights] if weights else [])
    STAMPS.mkdir(parents=True, exist_ok=True)
    stamp.write_text(digest)
    return True


def archive(name: str, export: Path, config: Path, extra_files: list[Path] = (),  # type: ignore[assignment]
            handler: Path | None = None, base: str | None = None, models: Path | None = None) -> Path:
    """Archive packed_files as model `name` with `config` into `export`; `handler` replaces handlers/<name>.py
    (tests archive variants: a deliberately slow handler, a config with corrupt weights); a variant ships the
    assets of its `base` endpoint; `models` is another folder of registered models."""
    mar = export / f"{name}.mar"
    with tempfile.TemporaryDirectory() as tmp:
        code = Path(tmp) / "code"
        for inside, path in packed_files(base or name, models).items():
            (code / inside).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, code / inside)
        if handler is not None:
            shutil.copy(handler, code / f"{name}.py")
        extra = [str(code)] + [str(f) for f in extra_files]
        cmd = [str(Path(sys.executable).with_name("torch-model-archiver")), "--model-name", name,
               "--version", VERSION, "--handler", str(code / f"{name}.py"), "--extra-files", ",".join(extra),
               "--config-file", str(config), "--export-path", str(export), "--force"]
        mar.unlink(missing_ok=True)
        subprocess.run(cmd, check=True)
    return mar


def variant(store: Path, name: str, base: str, handler: Path | None = None, extra_files: tuple = (),
            **overrides: object) -> Path:
    """Archive endpoint `base` as model `name` into `store` with YAML keys overridden (a dict value updates that
    section, e.g. convlens={...}): tests and benchmarks serve variants (tiny queues, batching, thread counts)."""
    import yaml

    config = yaml.safe_load((STORE / f"{base}.yaml").read_text())
    for key, value in overrides.items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    path = store / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return archive(name, store, path, list(extra_files), handler=handler or HANDLERS / f"{base}.py", base=base)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help="endpoints to build (default: all)")
    parser.add_argument("--weights", type=Path, help="local weights file to ship in the archives "
                        "(for a torchvision backbone named in the YAML config as `weights: <file name>`)")
    parser.add_argument("--force", action="store_true", help="rebuild even if nothing changed")
    args = parser.parse_args()
    names = args.names or endpoints()
    unknown = sorted(set(names) - set(endpoints()))
    if unknown:
        parser.error(f"unknown endpoint(s): {', '.join(unknown)}; known: {', '.join(endpoints())}")
    built = [n for n in names if build(n, args.weights, args.force)]
    print(f"==> model store {STORE.relative_to(ROOT)}/: " +
          (f"built {', '.join(built)}" if built else "archives up to date") +
          f" ({len(names)} endpoints)")


if __name__ == "__main__":
    main()
