# pantau: one image for the backend worker (ingest, rules, API + live page), the field gateway and the
# simulators. Build: `docker build -t pantau:0.1.0 .` (docker-compose.yml builds it too).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The code finds its shipped data next to itself (device profiles in firmware_configs/profiles, the live
# page's files in backend/api/page/static), so the image runs from the source tree, installed editable,
# rather than from a wheel that would leave firmware_configs/ behind. Root owns it: the service user can
# read it, not change it.
WORKDIR /opt/pantau
COPY pyproject.toml README.md ./
COPY pantau/ pantau/
COPY gateway/ gateway/
COPY drivers/ drivers/
COPY backend/ backend/
COPY firmware_configs/ firmware_configs/
RUN pip install --editable . \
    && groupadd --system --gid 10001 pantau \
    && useradd --system --uid 10001 --gid pantau --home-dir /var/lib/pantau --create-home \
       --shell /usr/sbin/nologin pantau

# State (spool, rules state, SQLite, gateway outbox) lives in /var/lib/pantau: mount a volume there.
WORKDIR /var/lib/pantau
USER pantau:pantau
VOLUME ["/var/lib/pantau"]
EXPOSE 8000

# The API's liveness route; the gateway and simulator services (no API) set their own check in compose.
ENV PANTAU_HEALTH_URL=http://127.0.0.1:8000/api/v1/health/live
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['PANTAU_HEALTH_URL'], timeout=4)"]

ENTRYPOINT ["pantau"]
CMD ["backend", "run", "--config", "/etc/pantau/backend.yaml"]
