# lensfinder scoring service image. A start: the service issue completes it (GPU runtime libraries,
# health check on /readyz, Podman smoke test). It installs only the app's runtime (no torch).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /srv/lensfinder

COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install .

COPY models ./models
ENV LENSFINDER_MODELS_DIR=/srv/lensfinder/models

RUN useradd --system --uid 10001 lensfinder
USER lensfinder
EXPOSE 8000
CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000"]
