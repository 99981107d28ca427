"""``orchestrator serve``: the faust worker on the main thread's loop, the HTTP API on its own.

Until issue 13 uvicorn hosted faust inside its lifespan, on one event loop: a request that took
seconds of CPU (a 60 KB path once did, in a log mask) stopped stream processing for as long.
Now the API runs in a thread with a loop of its own and reads the worker's state through a
:class:`~orchestrator.worker_port.WorkerPort`; the worker's loop only ever runs those short
reads. Both share the process (and its GIL: a busy API thread still takes CPU time slices,
but it no longer holds the worker's loop; docs/benchmarks.md has the latency it keeps).

SIGTERM and SIGINT stop the HTTP server, then faust (within ``ORCHESTRATOR_STOP_TIMEOUT_S``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading

import faust
import uvicorn
from faust.contrib.asgi import bind_to_running_loop

from orchestrator.worker_port import WorkerPort

log = logging.getLogger("orchestrator")
# Exit status of a worker whose stop outlived ORCHESTRATOR_STOP_TIMEOUT_S (EX_SOFTWARE).
STOP_TIMED_OUT_EXIT_CODE = 70
HTTP_STOP_TIMEOUT_S = 5.0


def serve(app: faust.App, port: WorkerPort, config: uvicorn.Config, stop_timeout_s: float) -> int:
    """Run the worker and its API until SIGTERM or SIGINT; once stopped, the process ends by
    that signal (as uvicorn did), so a supervisor sees why it stopped."""
    caught = asyncio.run(_serve(app, port, config, stop_timeout_s))
    logging.shutdown()
    signal.signal(caught, signal.SIG_DFL)
    os.kill(os.getpid(), caught)
    return 128 + caught  # not reached: the default action of the signal ends the process


async def _serve(
    app: faust.App, port: WorkerPort, config: uvicorn.Config, stop_timeout_s: float
) -> signal.Signals:
    loop = asyncio.get_running_loop()
    bind_to_running_loop(app)
    app.finalize()
    # faust makes these on first use, bound to the loop that touches them: this one.
    _ = (app.tables, app.router, app.producer, app.consumer)
    port.bind(loop)
    stopping = asyncio.Event()
    caught: list[signal.Signals] = []
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, _on_signal, signal_number, caught, stopping)
    server = uvicorn.Server(config)
    http = threading.Thread(target=server.run, name="http-api", daemon=True)
    http.start()
    # Started in the background so /healthz answers while faust connects and recovers.
    starting = asyncio.ensure_future(app.maybe_start())
    await stopping.wait()
    server.should_exit = True
    await asyncio.to_thread(http.join, HTTP_STOP_TIMEOUT_S)
    if not starting.done():
        starting.cancel()
    await stop_within(app, stop_timeout_s)
    return caught[0]


def _on_signal(
    number: signal.Signals, caught: list[signal.Signals], stopping: asyncio.Event
) -> None:
    caught.append(number)
    stopping.set()


async def stop_within(app: faust.App, timeout_s: float) -> None:
    """Stop the faust app; exit the process when that takes longer than ``timeout_s``.

    With Kafka gone, faust's stop waits a minute per consumer thread and can wait for good on a
    client retrying a dead broker, so a worker told to stop would live on until SIGKILL. Exiting
    here is no worse than that SIGKILL: offsets not committed are read again by the next owner.
    """
    stopping = asyncio.ensure_future(app.stop())
    # asyncio.wait, not wait_for: wait_for would also wait for the cancelled stop to unwind.
    done, _ = await asyncio.wait({stopping}, timeout=timeout_s)
    if done:
        return
    log.error(
        "orchestrator did not stop in time; exiting without a clean stop",
        extra={"stop_timeout_s": timeout_s, "exit_code": STOP_TIMED_OUT_EXIT_CODE},
    )
    logging.shutdown()
    # The consumer threads are not daemons: a normal exit would wait for them to finish.
    os._exit(STOP_TIMED_OUT_EXIT_CODE)
