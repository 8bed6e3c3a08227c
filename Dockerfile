# lensfinder scoring service: one image for GPU and CPU hosts (docs/container.md).
#
# onnxruntime-gpu 1.31.1 (built against CUDA 13.0 and cuDNN 9) with the CUDA 13 / cuDNN 9 runtime
# libraries from the NVIDIA pip wheels that its `cuda` and `cudnn` extras name, plus nvidia-cublas,
# which its CUDA provider links (libcublas.so.13, libcublasLt.so.13) but those extras leave out. The
# GPU driver (libcuda.so.1) comes from the host through the NVIDIA container toolkit. On a host
# without a GPU the same image serves on onnxruntime's CPU provider (LENSFINDER_DEVICE=auto).
#
#   docker build -t lensfinder .        (or: podman build --format docker -t lensfinder .)
#   docker run --gpus all -p 8000:8000 lensfinder      |      docker run -p 8000:8000 lensfinder
ARG PYTHON_IMAGE=python:3.11-slim

# ---- build: /opt/venv (the runtime and the CUDA libraries) and /srv/lensfinder (app and models) ----
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies first, from pyproject.toml alone, so that editing app/ does not download the CUDA
# libraries (about 2 GB of wheels) again.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > requirements.txt \
 && pip install -r requirements.txt "onnxruntime-gpu[cuda,cudnn]==1.31.1" "nvidia-cublas~=13.0" \
 && pip list --format=freeze | grep -i -E '^(onnxruntime|nvidia)' > /opt/venv/cuda-wheels.txt
RUN ln -s "$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/nvidia" /opt/venv/nvidia \
 && ls /opt/venv/nvidia/cu13/lib/libcublasLt.so.13 /opt/venv/nvidia/cudnn/lib/libcudnn.so.9

# The app (no training/, no torch) and the shipped models, staged in /srv/lensfinder readable by the
# service user whatever the modes in the build context, byte-compiled. They are kept out of /opt/venv
# so that the 2.6 GB venv layer is reused when only app/ or models/ change.
COPY app /srv/lensfinder/app
COPY models /srv/lensfinder/models
RUN python -m compileall -q /srv/lensfinder/app \
 && chmod -R u=rwX,go=rX /srv/lensfinder

# ---- runtime ----
FROM ${PYTHON_IMAGE}
# The 2.6 GB venv first, so that editing the lines below does not copy it into a new layer again.
COPY --from=build /opt/venv /opt/venv
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /srv/lensfinder --shell /usr/sbin/nologin lensfinder
LABEL org.opencontainers.image.title="lensfinder" \
      org.opencontainers.image.description="Strong gravitational lens scoring service (FastAPI, onnxruntime-gpu 1.31.1, CUDA 13, cuDNN 9)" \
      org.opencontainers.image.licenses="BSD-3-Clause"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/srv/lensfinder \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LENSFINDER_MODELS_DIR=/srv/lensfinder/models \
    LD_LIBRARY_PATH=/opt/venv/nvidia/cu13/lib:/opt/venv/nvidia/cudnn/lib \
    ORT_DISABLE_TELEMETRY=1 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
# LD_LIBRARY_PATH: where onnxruntime's CUDA provider (libonnxruntime_providers_cuda.so, which has no
# RUNPATH) finds libcublas/libcublasLt/libcudart/libcurand.so.* and cuDNN finds its libcudnn_*.so.9;
# /opt/venv/nvidia links to the wheels' site-packages/nvidia, whatever the Python version. It works
# whether or not the service calls onnxruntime.preload_dlls() (docs/container.md).
# ORT_DISABLE_TELEMETRY: onnxruntime 1.31's Linux wheels carry Microsoft 1DS telemetry; a scoring
# service has no business sending it (and, with a read-only home, it warns at every start).
# NVIDIA_*: what the NVIDIA container toolkit exposes when a GPU is requested (the compute driver).
# PYTHONPATH, WORKDIR: `uvicorn app.main:app` imports app/ from /srv/lensfinder.
COPY --from=build /srv/lensfinder /srv/lensfinder
WORKDIR /srv/lensfinder
USER 10001

EXPOSE 8000
# Ready means every model is loaded and warmed (503 before, which urlopen raises as an error, so the
# check fails); python's urllib, as slim images lack curl.
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"]
STOPSIGNAL SIGTERM
# exec form: uvicorn is PID 1 and receives SIGTERM itself (graceful shutdown finishes queued work).
CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000"]
