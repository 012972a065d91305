# WasteMap: one image for the migrate, worker, beat and dashboard services.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 curl \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY pipeline pipeline
COPY dashboard dashboard
COPY db db
COPY workers workers
COPY models models
COPY analytics analytics
COPY migrations migrations
RUN pip install .

RUN useradd --create-home --uid 1000 wastemap && mkdir -p /data/inbox && chown -R wastemap /data
USER wastemap

EXPOSE 8501
CMD ["wastemap", "--help"]
