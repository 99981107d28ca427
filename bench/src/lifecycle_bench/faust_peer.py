"""The peer job in faust-streaming: count events per customer in a RocksDB table and emit a
record when a customer's count reaches the threshold. Run by the benchmark as

    python -m lifecycle_bench.faust_peer worker -l warn --without-web
"""

from __future__ import annotations

import faust

from lifecycle_bench.peer_protocol import PeerSettings, ProgressClock


def build_app(settings: PeerSettings) -> faust.App:
    """The faust app of one benchmark run (settings come from the parent's environment)."""
    progress = ProgressClock(settings.expected)
    app = faust.App(
        settings.group_id,
        broker=f"kafka://{settings.bootstrap}",
        store="rocksdb://",
        datadir=settings.state_dir,
        topic_partitions=8,
        topic_replication_factor=1,
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
    )
    events = app.topic(
        settings.source, key_type=bytes, value_type=bytes, key_serializer="raw",
        value_serializer="raw",
    )  # fmt: skip
    crossings = app.topic(
        settings.sink, key_type=bytes, value_type=bytes, key_serializer="raw",
        value_serializer="raw",
    )  # fmt: skip
    event_counts = app.Table(
        "event-counts", default=int, partitions=8, options={"driver": "rocksdict"}
    )

    @app.agent(events)
    async def count_events(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            key = event.key
            count = event_counts[key] + 1
            event_counts[key] = count  # written back so the changelog sees it
            if count == settings.threshold:
                crossings.send_soon(key=key, value=b"threshold-crossed")
            progress.tick()

    return app


if __name__ == "__main__":
    build_app(PeerSettings.from_environment()).main()
