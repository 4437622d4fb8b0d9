# One image for the web server, the Dask scheduler and the Dask workers.
# Build: make image (buildah) or docker build -t space-wps .

FROM debian:bookworm-slim AS build
ARG S2P_VERSION=1.0b25
# s2p's C tools default to -march=native; an image that runs on many machines needs portable flags.
ARG PORTABLE_FLAGS="-O3 -march=x86-64-v2 -mtune=generic"
# A CA bundle for PyPI behind a TLS-inspecting proxy, mounted at build time (make image does it).
ARG PIP_CERT=""
ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-dev build-essential \
      libgdal-dev libfftw3-dev gdal-bin proj-data ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install ${PIP_CERT:+--cert "$PIP_CERT"} --upgrade pip setuptools wheel
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY wps_server wps_server
COPY processes processes
COPY cluster cluster
RUN /opt/venv/bin/pip install ${PIP_CERT:+--cert "$PIP_CERT"} '.[cloud]' \
 && CFLAGS="$PORTABLE_FLAGS" CXXFLAGS="$PORTABLE_FLAGS" \
    /opt/venv/bin/pip install ${PIP_CERT:+--cert "$PIP_CERT"} --no-deps --no-binary s2p "s2p==${S2P_VERSION}" \
 && /opt/venv/bin/python -c "import s2p, rasterio, distributed, wps_server"

FROM debian:bookworm-slim
ENV DEBIAN_FRONTEND=noninteractive PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 \
    WPS_SERVER_HOST=0.0.0.0 WPS_SERVER_DATA_DIR=/srv/wps/var WPS_INPUTS_DATA_ROOTS=/srv/wps/data
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 gdal-bin proj-data libfftw3-single3 libfftw3-double3 \
      ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --create-home --home-dir /srv/wps wps \
 && mkdir -p /srv/wps/var /srv/wps/data /srv/wps/users && chown -R wps:wps /srv/wps
COPY --from=build /opt/venv /opt/venv
COPY pywps.cfg /srv/wps/pywps.cfg
USER wps
WORKDIR /srv/wps
VOLUME ["/srv/wps/var"]
EXPOSE 5000 8786 8787
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python3", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:5000/health', timeout=4).status != 200)"]
CMD ["wps-server", "serve"]
