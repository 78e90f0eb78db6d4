# ConvLens: `make serve` (set up, then run the service in the foreground), `make test`, `make lint`, `make install`.
.PHONY: install serve test lint browser bench stop models protos openapi gallery clean

install:
	./scripts/install.sh

serve: install
	./scripts/serve.sh

test: lint browser
	.venv/bin/python -m pytest

# Chromium from the OS packages for the playground's browser tests (skipped when installed).
browser:
	./scripts/install_browser.sh

# Lint and type check (settings: pyproject.toml); `make test` runs this first.
# Most lint findings fix themselves: .venv/bin/ruff check --fix .
lint: install
	.venv/bin/ruff check .
	.venv/bin/mypy

# The benchmark suite: one table + build/bench/results.json, a few minutes on 2 cores (BENCH_ARGS=--quick: less).
bench: install
	.venv/bin/python benchmarks/run.py $(BENCH_ARGS)

# Rebuild the model archives only (install does this too).
models:
	.venv/bin/python scripts/build_models.py

# Regenerate the protobuf/gRPC stubs after editing protos/*.proto.
protos:
	.venv/bin/python scripts/gen_protos.py

# Regenerate docs/openapi.json, the fields tables in docs/api/*.md and the CLI's client/convlens_client/cli/fields.json
# from the endpoint specs (handlers/serving/specs/).
openapi:
	.venv/bin/python scripts/gen_openapi.py

# README pictures: every scripts/gallery_<area>.py writes its pictures into docs/gallery/ (engine only, no server).
gallery: install
	@for script in scripts/gallery_*.py; do echo "== $$script"; .venv/bin/python "$$script" docs/gallery || exit 1; done

stop:
	cd "$${CONVLENS_RUN_DIR:-.run}" && TMPDIR="$$PWD/tmp" "$(CURDIR)/.venv/bin/torchserve" --stop

clean:
	rm -rf build .run model_store/*.mar .mypy_cache .ruff_cache
