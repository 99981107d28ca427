"""The ceiling: a raw aiokafka consume -> decode -> encode -> produce passthrough.

No framework, batches from `getmany`, sends without awaiting each ack, one flush and one
commit per batch (so it is still at-least-once). This is the fastest a Python consumer on this
broker moves these records; every other figure is reported as a ratio to it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from lifecycle_schemas.codec import decode_event, encode_record

Transform = Callable[[bytes], bytes]


@dataclass(frozen=True)
class PipelineResult:
    """How fast one pipeline moved `records`, timed from its first record to its last."""

    pipeline: str
    records: int
    seconds: float
    # CPU seconds (user + system) the measured process(es) spent over the same span, when known.
    cpu_seconds: float | None = None

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


def json_round_trip(value: bytes) -> bytes:
    """Parse and re-serialise: the least any consumer of JSON records does."""
    return json.dumps(json.loads(value), separators=(",", ":")).encode()


def contract_round_trip(value: bytes) -> bytes:
    """Decode with the contracts' codec (full validation) and encode again, as a consumer must."""
    return encode_record(decode_event(value, now=None))


TRANSFORMS: dict[str, Transform] = {
    "ceiling-json": json_round_trip,
    "ceiling-contracts": contract_round_trip,
}


async def _passthrough(
    bootstrap: str,
    source: str,
    sink: str,
    group_id: str,
    expected: int,
    transform: Transform,
    timeout_s: float,
) -> tuple[int, float]:
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=512 * 1024
    )
    await consumer.start()
    await producer.start()
    moved = 0
    first_at: float | None = None
    deadline = time.monotonic() + timeout_s
    try:
        while moved < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            if not batches:
                continue
            if first_at is None:
                first_at = time.perf_counter()
            for records in batches.values():
                for record in records:
                    await producer.send(sink, key=record.key, value=transform(record.value or b""))
                    moved += 1
            await producer.flush()  # acknowledged before the offsets move: at-least-once
            await consumer.commit()
    finally:
        await producer.stop()
        await consumer.stop()
    return moved, time.perf_counter() - (first_at or time.perf_counter())


def run_passthrough(
    name: str,
    bootstrap: str,
    source: str,
    sink: str,
    group_id: str,
    expected: int,
    timeout_s: float = 600.0,
) -> PipelineResult:
    """Run one passthrough over `expected` preloaded records."""
    moved, seconds = asyncio.run(
        _passthrough(bootstrap, source, sink, group_id, expected, TRANSFORMS[name], timeout_s)
    )
    if moved < expected:
        raise RuntimeError(f"{name} moved {moved} of {expected} records within {timeout_s}s")
    return PipelineResult(name, moved, seconds)
