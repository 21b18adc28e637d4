# One image for every bootflow process; the command chooses the role:
#   bootflow run service identity|image|network|volume|compute
#   bootflow run control-worker
#   bootflow run compute-worker --host NAME
#   bootflow run codec-server
#   bootflow init [database temporal cloud]
# docker-compose.yml runs each of them (docs/deploy.md). Built from the repository root.

FROM python:3.11-slim-bookworm AS build
# libvirt-python builds from its sdist against Debian's libvirt.
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev libvirt-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/bootflow
WORKDIR /src
COPY pyproject.toml README.md ./
COPY core/ core/
COPY bootflow/ bootflow/
COPY workflows/ workflows/
COPY activities/ activities/
COPY workers/ workers/
COPY db/ db/
COPY services/ services/
COPY clients/ clients/
COPY compute/ compute/
COPY scheduler/ scheduler/
RUN /opt/bootflow/bin/pip install --no-cache-dir .

FROM python:3.11-slim-bookworm
# At run time: libvirt's client library, qemu-img (instance disks and volumes are qcow2 and
# raw files) and genisoimage (config drives).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libvirt0 qemu-utils genisoimage \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/bootflow /opt/bootflow
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /var/lib/bootflow bootflow
ENV PATH=/opt/bootflow/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    BOOTFLOW_DATA_DIR=/var/lib/bootflow \
    BOOTFLOW_BIND_HOST=0.0.0.0
USER bootflow
WORKDIR /var/lib/bootflow
CMD ["bootflow", "--help"]
