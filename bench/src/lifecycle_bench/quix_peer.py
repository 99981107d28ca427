"""The peer job in quixstreams: count events per customer in keyed (RocksDB) state and emit a
record when a customer's count reaches the threshold. Run by the benchmark as
``python -m lifecycle_bench.quix_peer``."""

from __future__ import annotations

from typing import Any

from quixstreams import Application, State

from lifecycle_bench.peer_protocol import PeerSettings, ProgressClock


def main() -> None:
    settings = PeerSettings.from_environment()
    progress = ProgressClock(settings.expected)
    app = Application(
        broker_address=settings.bootstrap,
        consumer_group=settings.group_id,
        auto_offset_reset="earliest",
        state_dir=settings.state_dir,
        loglevel="WARNING",
    )
    events = app.topic(settings.source, key_deserializer="bytes", value_deserializer="bytes")
    crossings = app.topic(settings.sink, key_serializer="bytes", value_serializer="bytes")

    def count(value: Any, state: State[Any, Any]) -> int:
        total = int(state.get("count", 0)) + 1
        state.set("count", total)
        if progress.tick():
            app.stop()
        return total

    frame = app.dataframe(events)
    frame = frame.apply(count, stateful=True)
    frame = frame.filter(lambda total: total == settings.threshold)
    frame = frame.apply(lambda _total: b"threshold-crossed")
    frame.to_topic(crossings)
    app.run()


if __name__ == "__main__":
    main()
