# syntax=docker/dockerfile:1
# The base image is pinned to one Python release on one Debian release (the Python the lock files were
# resolved and tested with); to pin it to the byte, add the digest your registry reports: ...-bookworm@sha256:…
ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm

# Build stage: a virtual environment at the path the runtime stage uses, filled from the lock files.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 UV_NO_CACHE=1
WORKDIR /src
# Dependencies first, in their own layer, exact versions with their hashes: a source change reuses it.
# Compiled at install: the runtime sets PYTHONDONTWRITEBYTECODE, so nothing would ever write a .pyc and
# every start would compile ccxt and SQLAlchemy from source (~4 s of CPU).
COPY requirements/bootstrap.lock requirements/runtime.lock requirements/
RUN python -m venv /opt/executor \
 && /opt/executor/bin/python -m pip install --require-hashes -r requirements/bootstrap.lock \
 && /opt/executor/bin/uv pip install --compile-bytecode --python /opt/executor/bin/python --require-hashes -r requirements/runtime.lock
# Then the project itself, built into a wheel and installed without touching the dependencies.
COPY pyproject.toml README.md ./
COPY executor ./executor
COPY adapters ./adapters
RUN /opt/executor/bin/uv build --wheel --out-dir /src/dist . \
 && /opt/executor/bin/uv pip install --compile-bytecode --python /opt/executor/bin/python --no-deps /src/dist/*.whl \
 && /opt/executor/bin/uv pip uninstall --python /opt/executor/bin/python uv

# Runtime stage: slim, non-root, the environment copied over, config and migrations beside it.
FROM ${PYTHON_IMAGE}
# The container's configuration (docs/operations.md, "Container"): ingress on every interface, so the
# published ports reach it, which the daemon allows only with a secret, read from the secret file
# /run/secrets/ingress_secret (compose.yaml mounts it; without it the daemon exits 2 naming the file).
ENV PATH=/opt/executor/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    EXECUTOR_CONFIG_DIR=/app/config \
    EXECUTOR_MIGRATIONS_DIR=/app/migrations \
    EXECUTOR__DATABASE__URL=sqlite+aiosqlite:////app/var/executor.db \
    EXECUTOR__INGRESS__HTTP=0.0.0.0:8080 \
    EXECUTOR__INGRESS__WEBSOCKET=0.0.0.0:8765 \
    EXECUTOR__INGRESS__SECRET_FILE=/run/secrets/ingress_secret \
    EXECUTOR__LOGGING__FORMAT=json \
    MPLCONFIGDIR=/app/var/matplotlib
# MPLCONFIGDIR: the daily report's chart library keeps its font cache in the volume (home is read-only),
# built once instead of on every report. The reports themselves go to /app/var/reports (reports.dir).
RUN groupadd --system executor && useradd --system --gid executor --home-dir /app executor
WORKDIR /app
COPY --from=build /opt/executor /opt/executor
COPY config ./config
COPY migrations ./migrations
RUN mkdir -p /app/var && chown executor:executor /app/var
USER executor
VOLUME ["/app/var"]
EXPOSE 8080 8765
# `executor health` asks /health on the configured ingress.http, whatever port that is.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["executor", "health"]
ENTRYPOINT ["executor"]
CMD ["run"]
