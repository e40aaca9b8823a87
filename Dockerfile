# Switchboard container image.
#   docker build -t switchboard .
#   docker run -e SWITCHBOARD_SECRET_KEY_BASE="$(openssl rand -base64 48)" -p 4000:4000 switchboard
# The builder stage builds the release with the same script as on a machine
# (deploy/release); the runtime stage runs it as a non-root user. Stopping
# the container sends SIGTERM: the server drains its sockets, then exits 0
# (give `docker stop --time` more than drain_on_shutdown + shutdown_grace_period).

# --- builder: the Swift toolchain builds and packs the release -------------
FROM swift:6.3-bookworm AS builder
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libhiredis-dev pkg-config zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The image leaves out the release's debug information (bin/switchboard.debug):
# debug a crash with the tarball's copy of it.
RUN deploy/release \
    && mkdir -p /release \
    && tar -xzf dist/switchboard-*-linux-*.tar.gz -C /release \
    && rm -f /release/bin/switchboard.debug

# --- runtime: Debian slim, no Swift, no hiredis -----------------------------
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates libstdc++6 tzdata zlib1g \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 switchboard \
    && useradd --system --uid 10001 --gid switchboard --home-dir /opt/switchboard --shell /usr/sbin/nologin switchboard
COPY --from=builder /release /opt/switchboard
RUN mkdir -p /opt/switchboard/run /opt/switchboard/log \
    && chown switchboard:switchboard /opt/switchboard/run /opt/switchboard/log
ENV SWITCHBOARD_HOST=0.0.0.0 \
    SWITCHBOARD_PORT=4000 \
    SWITCHBOARD_ADMIN_HOST=0.0.0.0 \
    SWITCHBOARD_ADMIN_PORT=4100
WORKDIR /opt/switchboard
USER switchboard:switchboard
EXPOSE 4000 4100
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/opt/switchboard/bin/switchboardctl", "health"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/opt/switchboard/bin/switchboardctl", "start"]
