# The CDS Hooks service image: python:3.11-slim, installed with `pip install .`, served by
# gunicorn through `cds-service serve` (gthread workers: FHIR callbacks wait on I/O), running as
# a non-root user.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CDS_HOOKS_DIR=/app/hooks

RUN groupadd --system --gid 10001 cds \
    && useradd --system --uid 10001 --gid cds --home-dir /app --shell /usr/sbin/nologin cds

WORKDIR /app
COPY pyproject.toml README.md ./
COPY cds_service ./cds_service
RUN pip install '.[postgres]' && rm -rf build cds_service.egg-info

COPY hooks ./hooks
COPY fhir_fixtures ./fhir_fixtures
# Flask's instance folder for an installed package is <prefix>/var/cds_service-instance; the
# SQLite card ledger lives there unless CDS_DATABASE_URL points elsewhere.
# /keys holds development JWT keys in docker-compose (a named volume takes this ownership).
RUN mkdir -p /usr/local/var/cds_service-instance /keys \
    && chown cds:cds /usr/local/var/cds_service-instance /keys

USER cds
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
# The same gunicorn configuration as `cds-service serve` (gthread workers, one JSON log line per
# request written by the app itself).
CMD ["cds-service", "serve", "--host", "0.0.0.0", "--port", "8000"]
