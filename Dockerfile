# bellwire in a container: one node, SQLite in the /data volume, listening on 0.0.0.0:8080.
#   docker build -t bellwire .
#   docker run -p 8080:8080 -v bellwire-data:/data bellwire
# See docs/container.md. The build runs the project's own install script (scripts/install
# --venv), which CI runs the same way (tests/distribution/test_installed_wheel.py).
FROM python:3.11-slim

# The build installs the wheel into /opt/bellwire with the exact versions of constraints.txt;
# the sources are not kept in the image.
COPY pyproject.toml README.md LICENSE constraints.txt /src/
COPY scripts/install /src/scripts/install
COPY bellwire /src/bellwire
RUN /src/scripts/install --venv /opt/bellwire \
    && rm -rf /src /root/.cache \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin bellwire \
    && mkdir -p /data \
    && chown bellwire:bellwire /data \
    && chmod 700 /data

ENV PATH=/opt/bellwire/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    BELLWIRE_HOST=0.0.0.0 \
    BELLWIRE_PORT=8080 \
    BELLWIRE_DATA_DIR=/data

USER bellwire
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080

# /readyz answers 200 once the store is open and 503 while draining.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('BELLWIRE_PORT', '8080'), timeout=2)"]

# exec form: bellwire is PID 1 and gets SIGTERM from `docker stop` (it drains: sessions are
# closed with 1012, in-flight requests finish). Give it a longer stop timeout than the grace.
STOPSIGNAL SIGTERM
CMD ["bellwire", "serve"]
