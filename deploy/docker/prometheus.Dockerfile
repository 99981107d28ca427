# Prometheus from Debian's package, with the scrape config and alert rules of deploy/prometheus.
# Elsewhere:  docker build -f deploy/docker/prometheus.Dockerfile -t lifecycle-prometheus:local .
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}

RUN if ! dpkg -s prometheus >/dev/null 2>&1; then \
      apt-get update && \
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        -o Dpkg::Options::=--force-unsafe-io prometheus && \
      apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin; \
    fi

COPY deploy/prometheus/prometheus.yml /etc/prometheus/prometheus.yml
COPY deploy/prometheus/rules /etc/prometheus/rules
RUN mkdir -p /prometheus && chown nobody /prometheus
USER nobody
VOLUME /prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus", "--config.file=/etc/prometheus/prometheus.yml", \
            "--storage.tsdb.path=/prometheus", "--web.listen-address=:9090"]
