# syntax=docker/dockerfile:1
# Build stage: build the project's wheel (and its dependencies' wheels) with the full toolchain.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY executor ./executor
COPY adapters ./adapters
RUN pip install --no-cache-dir --upgrade pip build \
 && python -m build --wheel --outdir /wheels . \
 && pip wheel --no-cache-dir --wheel-dir /wheels /wheels/*.whl

# Runtime stage: slim, non-root, the wheel installed, config and migrations beside it.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    EXECUTOR_CONFIG_DIR=/app/config \
    EXECUTOR_MIGRATIONS_DIR=/app/migrations \
    EXECUTOR__DATABASE__URL=sqlite+aiosqlite:////app/var/executor.db
RUN groupadd --system executor && useradd --system --gid executor --home-dir /app executor
WORKDIR /app
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels perp-executor && rm -rf /wheels
COPY config ./config
COPY migrations ./migrations
RUN mkdir -p /app/var && chown executor:executor /app/var
USER executor
VOLUME ["/app/var"]
EXPOSE 8080 8765
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=2).status == 200 else 1)"]
# Ingress listens on loopback until you set EXECUTOR__INGRESS__SECRET and EXECUTOR__INGRESS__HTTP=0.0.0.0:8080;
# a config file of your own is mounted and named by EXECUTOR_CONFIG (e.g. -e EXECUTOR_CONFIG=/config/live.toml).
ENTRYPOINT ["executor"]
CMD ["run"]
