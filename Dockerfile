# One image for the Dagster code server, webserver and daemon (docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/home \
    GOODWE_DATA_DIR=/data

WORKDIR /opt/dagster/app

# Editable install: Dagster's defs-folder loader finds the project by its pyproject.toml,
# so the package must stay beside it.
COPY pyproject.toml README.md ./
COPY goodwe_pipeline ./goodwe_pipeline
RUN pip install -e . \
    && useradd --system --uid 10001 --create-home --home-dir /home/dagster dagster \
    && mkdir -p "$DAGSTER_HOME/storage" /data \
    && chown -R dagster:dagster "$DAGSTER_HOME" /data

COPY workspace.yaml ./
COPY deploy/dagster.yaml "$DAGSTER_HOME/dagster.yaml"

USER dagster
EXPOSE 3000 4000
CMD ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "4000", "-m", "goodwe_pipeline.definitions", "--location-name", "goodwe_pipeline"]
