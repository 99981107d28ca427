# Apache Kafka (KRaft, one node: broker and controller) from the same Maven Central jars as the
# local run (deploy/kafka/pom.xml), for the compose stack. Fetch them first:
#   mvn -q -f deploy/kafka/pom.xml dependency:copy-dependencies     (make images does)
# Elsewhere:  docker build -f deploy/docker/kafka.Dockerfile -t lifecycle-kafka:local .
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}

# The JRE's post-install links its man pages: slim bases leave out the directory.
RUN if ! dpkg -s openjdk-17-jre-headless >/dev/null 2>&1; then \
      mkdir -p /usr/share/man/man1 && apt-get update && \
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        -o Dpkg::Options::=--force-unsafe-io \
        openjdk-17-jre-headless && \
      apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin; \
    fi

COPY deploy/kafka/lib /opt/kafka/lib
COPY deploy/docker/kafka-log4j.properties /opt/kafka/log4j.properties
COPY deploy/docker/kafka-entrypoint /usr/local/bin/kafka-entrypoint
RUN useradd --system --uid 10002 --home-dir /var/lib/kafka kafka && \
    mkdir -p /var/lib/kafka/data /var/log/kafka && chown -R kafka /var/lib/kafka /var/log/kafka
USER 10002
VOLUME /var/lib/kafka/data
EXPOSE 9092 29092
ENTRYPOINT ["/usr/local/bin/kafka-entrypoint"]
