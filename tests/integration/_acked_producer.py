"""Child process of the replication tests: an ``acks=all`` producer whose every acknowledgement is on record.

Run as a script, never collected (the leading underscore)::

    python _acked_producer.py BOOTSTRAP TOPIC PARTITIONS COUNT CHUNK PAUSE_MS OUT

It sends ``COUNT`` records, values ``b"0"``, ``b"1"``, ... to partition
``value % PARTITIONS``, ``CHUNK`` at a time with ``PAUSE_MS`` between chunks (so
faults land mid-stream), and appends one line per record to ``OUT`` once its
fate is known: ``ack VALUE PARTITION OFFSET SENT_S ACKED_S`` (monotonic seconds:
latency from send to acknowledgement) or ``fail VALUE ERROR``; then ``done``.
Lines are flushed per chunk, so the test reads what was acknowledged even if this
process is killed. Being its own process, it meets failovers as an application
does: its own sockets, its own retries, nothing shared with the test.

It exits on its own if its parent goes away, or after ``MAX_SECONDS``.
"""

from __future__ import annotations

import os
import sys
import threading
import time

MAX_SECONDS = 300


def _die_with_parent(parent: int) -> None:
    def watch() -> None:
        deadline = time.monotonic() + MAX_SECONDS
        while os.getppid() == parent and time.monotonic() < deadline:
            time.sleep(0.2)
        os._exit(3)

    threading.Thread(target=watch, daemon=True).start()


def main(argv: list[str]) -> int:
    bootstrap, topic, partitions, count, chunk, pause_ms, out = argv
    partitions, count, chunk, pause = int(partitions), int(count), int(chunk), int(pause_ms) / 1000
    _die_with_parent(os.getppid())
    from wire import Producer

    with open(out, "a") as f, Producer(bootstrap=bootstrap, acks="all", linger_ms=2,
                                        delivery_timeout_ms=60_000) as producer:
        for first in range(0, count, chunk):
            sent, acked_at = [], {}
            for i in range(first, min(first + chunk, count)):
                future = producer.send(topic, value=b"%d" % i, partition=i % partitions)
                sent.append((i, time.monotonic(), future))
                future.add_done_callback(lambda _, i=i: acked_at.__setitem__(i, time.monotonic()))
            lines = []
            for i, at, future in sent:
                try:
                    meta = future.result(timeout=60)
                    lines.append(f"ack {i} {meta.partition} {meta.offset} {at:.6f} {acked_at.get(i) or time.monotonic():.6f}\n")
                except Exception as exc:  # noqa: BLE001 - not acknowledged is not lost: the test counts it
                    lines.append(f"fail {i} {type(exc).__name__}\n")
            f.write("".join(lines))
            f.flush()
            time.sleep(pause)
        f.write("done\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
