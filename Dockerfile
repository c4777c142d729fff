# swr-bridge: the endpoint (and the webhook bridge) under gunicorn.
#   docker build -t swr-bridge:0.1.0 .
#   docker run -p 8080:8080 -e SWR_BRIDGE_KEY=... swr-bridge:0.1.0
# Config: the file at /etc/swr-bridge/swr-bridge.yaml (mount your own over deploy/swr-bridge.yaml);
# secrets and tuning through env (SWR_BRIDGE_KEY, *_env names, SWR_BRIDGE_WORKERS/THREADS/...).
ARG PYTHON_VERSION=3.12

FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY adapter ./adapter
COPY harbor_client ./harbor_client
COPY provisioning ./provisioning
# Runtime dependencies only: the package without its [test] extra, into a venv the next stage copies.
RUN python -m venv /opt/swr-bridge \
    && /opt/swr-bridge/bin/pip install . \
    && /opt/swr-bridge/bin/pip uninstall --yes pip

FROM python:${PYTHON_VERSION}-slim AS runtime
ENV PATH=/opt/swr-bridge/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SWR_BRIDGE_PORT=8080
RUN groupadd --system --gid 10001 swr-bridge \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin swr-bridge
COPY --from=build /opt/swr-bridge /opt/swr-bridge
COPY deploy/swr-bridge.yaml /etc/swr-bridge/swr-bridge.yaml
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-m", "adapter.health"]
CMD ["swr-bridge", "serve", "--config", "/etc/swr-bridge/swr-bridge.yaml"]
