# The CDS Hooks service image: an exact Python base tag, dependencies at the exact versions of
# constraints.txt (with the PostgreSQL driver), served by gunicorn through `cds-service serve`
# (gthread workers: FHIR callbacks wait on I/O), running as a non-root user.
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CDS_HOOKS_DIR=/app/hooks \
    CDS_HOST=0.0.0.0 \
    CDS_PORT=8000

RUN groupadd --system --gid 10001 cds \
    && useradd --system --uid 10001 --gid cds --home-dir /app --shell /usr/sbin/nologin cds

WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY cds_service ./cds_service
RUN pip install -c constraints.txt '.[postgres]' && rm -rf build cds_service.egg-info

COPY hooks ./hooks
COPY fhir_fixtures ./fhir_fixtures
# Flask's instance folder for an installed package is <prefix>/var/cds_service-instance: the
# SQLite card ledger (unless CDS_DATABASE_URL points elsewhere), the ledger's local spool and the
# replay cache's host fallback live there, so it is a volume: recreating the container loses none.
# /keys holds development JWT keys in docker-compose (a named volume takes this ownership).
RUN mkdir -p /usr/local/var/cds_service-instance /keys \
    && chown cds:cds /usr/local/var/cds_service-instance /keys
VOLUME ["/usr/local/var/cds_service-instance"]

USER cds
EXPOSE 8000
# Liveness on the port the service is configured for (CDS_PORT), not a fixed one.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CDS_PORT', '8000'), timeout=4)"]
# Address, port and workers come from CDS_HOST, CDS_PORT and CDS_WORKERS (default: the CPUs the
# container may use), gunicorn settings from GUNICORN_CMD_ARGS.
CMD ["cds-service", "serve"]
