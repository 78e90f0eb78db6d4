# ConvLens GPU image: TorchServe 0.12.0 + the ConvLens handlers, installed by the same scripts/install.sh and pinned
# requirements as `make install`, model store built at image build time, started by scripts/container_start.sh.
#
#   docker build -t convlens:0.1 .                                  # add --build-arg PREFETCH_VGG=true for VGG-16/19
#   docker run --gpus all -p 127.0.0.1:8080:8080 -p 127.0.0.1:7070:7070 convlens:0.1
#   docker run ... -e CONVLENS_ENDPOINTS=stylize convlens:0.1          # serve one profile or endpoint list only
#
# CUDA: torch==2.14.1 from PyPI (requirements/lock.txt) is the CUDA 13.0 build and brings its own CUDA/cuDNN
# libraries as nvidia-* wheels; the base image matches it (and gives ONNX Runtime a system cuDNN). Hosts need an
# NVIDIA driver >= 580 and the NVIDIA container toolkit. See README "Deployment" for other CUDA builds.
ARG BASE_IMAGE=nvidia/cuda:13.0.2-cudnn-runtime-ubuntu24.04
FROM ${BASE_IMAGE}

# PREFETCH_VGG=true downloads torchvision's ImageNet VGG-16/19 weights into the image (the only download ConvLens
# ever does; off by default). PIP_INDEX_URL / PIP_EXTRA_INDEX_URL are read by pip inside scripts/install.sh.
ARG PREFETCH_VGG=false
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL

ENV DEBIAN_FRONTEND=noninteractive \
    LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# Python 3.11 (deadsnakes: Ubuntu 24.04 ships 3.12) and Java 17. The JDK (not only the JRE) because javac builds
# the fixed-token TorchServe plugin below; its runtime is the Java 17 that TorchServe's frontend runs on.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates gnupg software-properties-common \
 && add-apt-repository -y ppa:deadsnakes/ppa \
 && apt-get update \
 && apt-get install -y --no-install-recommends python3.11 python3.11-venv openjdk-17-jdk-headless \
 && apt-get purge -y --auto-remove software-properties-common \
 && rm -rf /var/lib/apt/lists/*

# Non-root runtime user; the code and the venv stay root-owned and read-only to it.
RUN groupadd --gid 10001 convlens \
 && useradd --uid 10001 --gid convlens --create-home --shell /usr/sbin/nologin convlens

WORKDIR /app

# 1) Dependencies only (cached while requirements/ and client/ are unchanged): the same install script as `make install`.
COPY requirements/ requirements/
COPY client/ client/
COPY scripts/install.sh scripts/install.sh
RUN if [ -z "${PIP_INDEX_URL:-}" ]; then unset PIP_INDEX_URL; fi \
 && if [ -z "${PIP_EXTRA_INDEX_URL:-}" ]; then unset PIP_EXTRA_INDEX_URL; fi \
 && CONVLENS_SKIP_MODELS=1 PYTHON=python3.11 ./scripts/install.sh

# 2) The code; install.sh again (dependencies already stamped) builds the model archives into model_store/.
COPY . .
RUN PYTHON=python3.11 ./scripts/install.sh \
 && .venv/bin/python scripts/build_token_plugin.py \
 && ls model_store/*.mar

# 3) Optional pre-fetched VGG weights, read at run time from $TORCH_HOME/hub/checkpoints.
ENV TORCH_HOME=/app/torch-home
RUN mkdir -p "$TORCH_HOME" \
 && if [ "$PREFETCH_VGG" = "true" ]; then .venv/bin/python scripts/prefetch_weights.py vgg16 vgg19; fi

# TorchServe's state (config, key_file.json with the tokens, logs, unpacked archives): the only writable path.
# Listening on 0.0.0.0 is accepted by the start script only because token authorization is on (the default).
# CONVLENS_ENDPOINTS: endpoints and profiles this container serves (scripts/profiles.py); every archive stays in
# the image, only the named ones get workers.
ENV CONVLENS_RUN_DIR=/run/convlens \
    CONVLENS_HOST=0.0.0.0 \
    CONVLENS_ENDPOINTS=all
RUN mkdir -p "$CONVLENS_RUN_DIR" && chown convlens:convlens "$CONVLENS_RUN_DIR"
VOLUME ["/run/convlens"]

# Numeric, so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001

# HTTP inference, management, metrics; gRPC inference, gRPC management.
EXPOSE 8080 8081 8082 7070 7071

# Healthy only when every endpoint has a READY worker (TorchServe's /ping is Healthy while models still load).
HEALTHCHECK --interval=15s --timeout=10s --start-period=300s --retries=3 \
  CMD ["/app/.venv/bin/python", "/app/scripts/ready.py", "--quiet"]

# Foreground TorchServe with token authorization on; listening on 0.0.0.0 is refused if token auth is off.
CMD ["/app/scripts/container_start.sh"]
