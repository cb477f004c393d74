# CPU image that runs the whole system headless: `fxconsole --no-ui`.
#   docker build -t fxconsole .
#   docker run -d --init --name fx -v fx-data:/work/data -v fx-ckpt:/work/checkpoints \
#     -e OANDA_TOKEN -e OANDA_ACCOUNT fxconsole
# (--init: an init process as PID 1 forwards SIGTERM and reaps orphans; stop with
#  `docker stop -t 30` so the workers have time to save.)
# Credentials come only from the environment (never baked into the image).
FROM python:3.11-slim

# torch's CPU wheels (the default index would pull a multi-GB CUDA build).
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    FXCONSOLE_WORKSPACE=/work

WORKDIR /app
RUN pip install "torch==2.13.0" --index-url "$TORCH_INDEX"
COPY pyproject.toml README.md ./
COPY fxconsole ./fxconsole
COPY workers ./workers
RUN pip install . && useradd --create-home fx && mkdir -p /work/data /work/checkpoints \
    && chown -R fx /work

USER fx
WORKDIR /work
VOLUME ["/work/data", "/work/checkpoints"]
# Unhealthy when the supervisor is down, a worker is FATAL or silent, or every worker is
# STOPPED (a container that trades nothing must not look healthy). It works with a broken
# fxconsole.toml too (status falls back to the workspace paths).
HEALTHCHECK --interval=30s --timeout=10s --start-period=120s --retries=3 \
    CMD fxconsole status --check || exit 1
# SIGTERM (docker stop) stops every worker cleanly; allow them time to save.
STOPSIGNAL SIGTERM
CMD ["fxconsole", "--no-ui"]
