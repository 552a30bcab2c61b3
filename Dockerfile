# One image for all five functions, the runbook index Job and `helm test`.
# Each Knative Service runs `functions-framework` with FUNCTION_SOURCE=functions/<name>/main.py
# (FUNCTION_TARGET=handle and PORT come from the environment); the Job runs `orchestrator`.
#
#   docker build -t ghcr.io/incident-orchestrator/orchestrator:0.1.0 .
#
# Built to run as a non-root user on a read-only root filesystem: nothing is written under the
# image at run time (bytecode is compiled here; HOME and TMPDIR point at /tmp, an emptyDir).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: a virtualenv holding the package (non-editable) and its dependencies ------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
WORKDIR /src
# Dependencies first (read from pyproject.toml), so a source-only change reuses this layer.
COPY pyproject.toml README.md ./
# The `otel` extra too: imported only when OTEL_EXPORTER_OTLP_ENDPOINT is set (no cold-start cost).
RUN /opt/venv/bin/python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['otel']))" \
      > /tmp/requirements.txt \
 && /opt/venv/bin/pip install -r /tmp/requirements.txt
COPY orchestrator ./orchestrator
COPY eventing ./eventing
COPY runbooks ./runbooks
COPY functions ./functions
# `pip install .` builds a wheel: eventing/, runbooks/ and functions/ ship inside it as
# orchestrator.bundled.* (pyproject.toml), so the image needs no source tree.
RUN /opt/venv/bin/pip install --no-deps . \
 && /opt/venv/bin/python -m compileall -q -j 0 /opt/venv/lib \
 && /opt/venv/bin/python -m pip uninstall -y pip setuptools wheel

# --- runtime ---------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="incident-orchestrator" \
      org.opencontainers.image.description="Autonomous incident response for Kubernetes (Knative functions)" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /tmp --no-create-home \
      --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
# functions-framework serves FUNCTION_SOURCE relative to the working directory; the functions
# live in the installed package, so /app/functions is a link to them (one copy, precompiled).
WORKDIR /app
RUN ln -s "$(/opt/venv/bin/python -c 'import orchestrator.bundled.functions as f; print(list(f.__path__)[0])')" \
      /app/functions \
 && test -f /app/functions/ingest/main.py
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    FUNCTION_TARGET=handle \
    FUNCTION_SIGNATURE_TYPE=http
USER 10001:10001
EXPOSE 8080
# Knative sets PORT; each Service sets FUNCTION_SOURCE=functions/<name>/main.py.
CMD ["functions-framework"]
