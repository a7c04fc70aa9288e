# pantau: one image for the backend worker (ingest, rules, API + live page), the field gateway and the
# simulators. Build: `docker build -t pantau:0.1.0 .` (docker-compose.yml builds it too).

# Stage 1 builds pantau's wheel: the packages with their data (device profiles, example sites and rules in
# firmware_configs/, the JBI tables, the live page's files). Only the wheel leaves this stage.
FROM python:3.11-slim-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY pantau/ pantau/
COPY pantau_demo/ pantau_demo/
COPY gateway/ gateway/
COPY drivers/ drivers/
COPY backend/ backend/
COPY firmware_configs/ firmware_configs/
RUN pip wheel --no-deps --wheel-dir /wheels .

# Stage 2 is the image: the wheel installed with the extras its services run, no source tree. The backend
# needs [backend]; [gateway] too because compose's `simulated` profile runs gateways and simulated devices
# from this same image. Root owns the installed code: the service user can read it, not change it.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

COPY --from=build /wheels/ /wheels/
# `set --` expands the one wheel's name, so the extras can follow it (a glob with [...] would not expand).
RUN set -- /wheels/pantau-*.whl \
    && pip install "$1[backend,gateway]" \
    && rm -rf /wheels \
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
