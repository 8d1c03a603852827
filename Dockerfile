# syntax=docker/dockerfile:1
#
# Serving image for the NMT service: ONNX Runtime only, never torch.
#
#   docker build -t nmt-translate:gpu .                # default target: gpu (CUDA execution provider)
#   docker build --target cpu -t nmt-translate:cpu .   # machines without a GPU
#
# Both targets need a `models/` folder in the build context (it may be empty); bundles under
# it are baked into the image at /app/models, and a volume mounted there replaces them.
#
# CUDA/cuDNN choice for the gpu target. ONNX Runtime's CUDA execution provider docs
# (https://onnxruntime.ai/docs/execution-providers/CUDA-ExecutionProvider.html#requirements)
# say a build for CUDA major version N works with any N.x runtime, and that cuDNN majors are
# not interchangeable. The PyPI onnxruntime-gpu wheels of the 1.3x line declare which majors
# they are built for in their `cuda`/`cudnn` extras: nvidia-cuda-runtime~=13.0 and
# nvidia-cudnn-cu13~=9.0 (checked on the onnxruntime-gpu 1.31.1 wheel metadata, the newest on
# PyPI when this was written). Hence CUDA 13.x + cuDNN 9.x: the image below.

ARG PYTHON_IMAGE=python:3.12-slim-bookworm
ARG CUDA_IMAGE=nvidia/cuda:13.0.2-cudnn-runtime-ubuntu24.04

# ---------------------------------------------------------------------------------------------
# cpu-build: a virtualenv with the `serve` extra (onnxruntime CPU, FastAPI, uvicorn, redis, ...).
FROM ${PYTHON_IMAGE} AS cpu-build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY service ./service
COPY nmt_core ./nmt_core
# the page-translation core lives in extension/; the installed package serves it from static/
COPY extension/translate-core.js ./service/static/translate-core.js
COPY model ./model
RUN /opt/venv/bin/pip install ".[serve]"

# ---------------------------------------------------------------------------------------------
# cpu: runtime image for machines without a GPU.
FROM ${PYTHON_IMAGE} AS cpu
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app
COPY --from=cpu-build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=app:app models/ /app/models/
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    MODEL_DIR=/app/models \
    DEVICE=cpu
USER 10001:10001
EXPOSE 8000
# Healthy means ready to translate (models loaded and warm), so `depends_on: service_healthy`
# in compose waits for real readiness; python instead of curl keeps the image small.
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/readyz', timeout=4)"]
STOPSIGNAL SIGTERM
CMD ["python", "-m", "service"]

# ---------------------------------------------------------------------------------------------
# gpu-build: the same virtualenv on the CUDA image's own python, with the `gpu` extra, which pulls in
# onnxruntime-gpu and never the CPU onnxruntime (both install the `onnxruntime` module). The check
# proves more than the provider's name: every library the CUDA provider links must resolve, except
# the driver's libcuda.so.1, which the NVIDIA container toolkit mounts at run time.
FROM ${CUDA_IMAGE} AS gpu-build
ARG DEBIAN_FRONTEND=noninteractive
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# Package versions are pinned by the base image tag (Ubuntu 24.04 ships python 3.12); pinning
# apt versions as well would break the build whenever Ubuntu publishes a security update.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
RUN python3 -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY service ./service
COPY nmt_core ./nmt_core
# the page-translation core lives in extension/; the installed package serves it from static/
COPY extension/translate-core.js ./service/static/translate-core.js
COPY model ./model
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN /opt/venv/bin/pip install ".[gpu]" \
    && /opt/venv/bin/python -c "import onnxruntime as ort; assert 'CUDAExecutionProvider' in ort.get_available_providers()" \
    && provider="$(/opt/venv/bin/python -c 'import onnxruntime, pathlib; print(pathlib.Path(onnxruntime.__file__).parent / "capi" / "libonnxruntime_providers_cuda.so")')" \
    && missing="$(ldd "$provider" | grep 'not found' | grep -v 'libcuda\.so\.1' || true)" \
    && if [ -n "$missing" ]; then echo "the CUDA provider cannot load: $missing" >&2; exit 1; fi

# ---------------------------------------------------------------------------------------------
# gpu: runtime image (default target). Needs the NVIDIA container toolkit on the host.
FROM ${CUDA_IMAGE} AS gpu
ARG DEBIAN_FRONTEND=noninteractive
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app
COPY --from=gpu-build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=app:app models/ /app/models/
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    MODEL_DIR=/app/models \
    DEVICE=cuda
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/readyz', timeout=4)"]
STOPSIGNAL SIGTERM
CMD ["python", "-m", "service"]
