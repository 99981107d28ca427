"""A local multi-broker cluster of a test's own, through deploy/local/kafka-cluster.

For fault tests that kill brokers: each node is a broker and a controller, topics get the
production durability settings (replication 3, ``min.insync.replicas`` 2, no unclean election).
"""

from __future__ import annotations

import re
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import pytest
from kafka import KafkaAdminClient

from lifecycle_testing.paths import DEPLOY_DIR
from lifecycle_testing.processes import run_kafka_script
from lifecycle_testing.waiting import eventually

CLUSTER_SCRIPT = DEPLOY_DIR / "local" / "kafka-cluster"


class ClusterError(RuntimeError):
    """deploy/local/kafka-cluster failed; the message holds its output."""


class LocalCluster:
    """``nodes`` brokers on free ports, their data in ``directory``."""

    def __init__(self, directory: Path, nodes: int = 3) -> None:
        self.directory = directory
        self.nodes = nodes
        self.bootstrap_servers = ""

    def script(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        """Run the cluster script on this cluster's directory."""
        return run_kafka_script(CLUSTER_SCRIPT, *arguments, directory=self.directory, timeout_s=240)

    def _must(self, *arguments: str) -> str:
        done = self.script(*arguments)
        if done.returncode != 0:
            raise ClusterError(f"kafka-cluster {' '.join(arguments)}:\n{done.stderr}")
        return done.stdout

    def start(self) -> str:
        """Start every node (formatting them the first time); return the bootstrap list."""
        started = self._must("start", "--nodes", str(self.nodes))
        self.bootstrap_servers = started.strip().splitlines()[-1]
        return self.bootstrap_servers

    def stop(self) -> None:
        """Stop every node."""
        self.script("stop")

    def kill(self) -> None:
        """SIGKILL every node (the data is thrown away)."""
        self.script("kill")

    def kill_node(self, node: int) -> None:
        """SIGKILL one node: a hard crash."""
        self._must("kill-node", "--node", str(node))

    def start_nodes(self, *nodes: int, timeout_s: float = 60.0) -> None:
        """Start nodes again, with their data (all at once), and wait until they take
        connections.

        The controller's metadata can still list a killed node (in sync, even) while it
        restarts, so its listener is what says it is back.
        """
        for node in nodes:
            self._must("start-node", "--node", str(node))
        for node in nodes:
            eventually(
                partial(takes_connections, self.port_of(node)),
                timeout_s=timeout_s,
                what=f"node {node} taking connections",
            )

    def port_of(self, node: int) -> int:
        """The client port of a node (from its server.properties)."""
        properties = (self.directory / f"node-{node}" / "server.properties").read_text()
        found = re.search(r"^listeners=PLAINTEXT://127\.0\.0\.1:(\d+),", properties, re.MULTILINE)
        assert found, f"no client listener in node {node}'s server.properties"
        return int(found.group(1))

    def partition_state(self, topic: str, partition: int) -> tuple[int, list[int]]:
        """The partition's leader and its in-sync replicas, as the controller sees them."""
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap_servers)
        try:
            (description,) = admin.describe_topics([topic])
        finally:
            admin.close()
        state = next(p for p in description["partitions"] if p["partition_index"] == partition)
        return int(state["leader_id"]), sorted(int(n) for n in state["isr_nodes"])

    def wait_in_sync(self, topic: str, partition: int, replicas: int, timeout_s: float) -> None:
        """Until the partition has ``replicas`` in-sync replicas, in 3 answers in a row.

        The answers come from whichever broker the admin client picks, and a just-restarted
        broker can still serve its metadata from before the kill; one answer is not enough.
        """
        answers: list[list[int]] = []

        def in_sync_replicas() -> list[list[int]]:
            answers.append(self.partition_state(topic, partition)[1])
            return answers[-3:]

        eventually(
            in_sync_replicas,
            lambda last: len(last) == 3 and all(len(isr) >= replicas for isr in last),
            timeout_s=timeout_s,
            interval_s=0.5,
            what=f"{topic}/{partition} back to {replicas} in-sync replicas in 3 answers in a row",
        )


@contextmanager
def started_cluster(directory: Path, nodes: int = 3) -> Iterator[LocalCluster]:
    """A cluster of a test's own, started in ``directory`` and killed afterwards (a cluster
    that does not start fails the test with its output).

    Killed, not stopped: its data is thrown away, and a clean stop of a cluster that lost its
    quorum (the fault tests leave two nodes down) waits 30 s for the last node.
    """
    cluster = LocalCluster(directory, nodes)
    try:
        cluster.start()
    except ClusterError as error:
        pytest.fail(f"the {nodes}-broker cluster did not start:\n{error}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.kill()


def takes_connections(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port`` now."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True
