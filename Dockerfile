# milwatch container: the package with the Ukrainian dictionary and charts (the `uk` and
# `charts` extras).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Install dependencies and the package first, so editing config/ or seeds/ does not
# rebuild this layer.
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install '.[uk,charts]'

# Default rules and the demo posts; docker-compose.yml mounts ./config over /app/config.
COPY config ./config
COPY seeds ./seeds

RUN useradd --create-home --uid 10001 milwatch \
    && mkdir -p /data \
    && chown milwatch:milwatch /data /app/config

# MPLCONFIGDIR: matplotlib's font cache, somewhere any user the container runs as may write.
ENV MILWATCH_DATA_DIR=/data \
    MILWATCH_RULES=/app/config/rules.yaml \
    MPLCONFIGDIR=/tmp/matplotlib
VOLUME ["/data"]

USER milwatch

HEALTHCHECK --interval=1m --timeout=20s --start-period=2m --retries=3 \
    CMD ["milwatch", "health"]

ENTRYPOINT ["milwatch"]
CMD ["run"]
