"""Child process of the consumer-group tests: one member of a group, everything it does on record.

Run as a script, never collected (the leading underscore)::

    python _group_consumer.py BOOTSTRAP GROUP TOPICS OUT [--instance ID] [--strategy S] [--session-ms N]

It subscribes to the comma-separated TOPICS, polls, and after each non-empty poll
commits (process first, then commit), and commits again when partitions are revoked.
Each line of OUT, flushed at once, is one of: ``assign T:P,...`` / ``revoke T:P,...``
(with monotonic seconds), ``rec TOPIC P OFFSET VALUE SECONDS``, ``committed`` and
``commit-failed ERROR`` (a commit refused while the group rebalanced). SIGTERM closes the consumer cleanly (it leaves the group); a
SIGKILL is a crash. It exits on its own if its parent goes away, or after MAX_SECONDS.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time

MAX_SECONDS = 300


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("bootstrap")
    ap.add_argument("group")
    ap.add_argument("topics")
    ap.add_argument("out")
    ap.add_argument("--instance", default=None)
    ap.add_argument("--strategy", default="range,cooperative-sticky")
    ap.add_argument("--session-ms", type=int, default=3000)
    args = ap.parse_args(argv)
    parent = os.getppid()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def watch() -> None:
        deadline = time.monotonic() + MAX_SECONDS
        while os.getppid() == parent and time.monotonic() < deadline:
            time.sleep(0.2)
        os._exit(3)

    threading.Thread(target=watch, daemon=True).start()
    from wire import CommitFailed, Consumer

    out = open(args.out, "a", buffering=1)

    def note(line: str) -> None:
        out.write(line + "\n")

    def parts(ps) -> str:
        return ",".join(f"{tp.topic}:{tp.partition}" for tp in sorted(ps))

    with Consumer(args.bootstrap, group_id=args.group, auto_offset_reset="earliest", enable_auto_commit=False,
                  session_timeout_ms=args.session_ms, heartbeat_interval_ms=max(100, args.session_ms // 10),
                  max_poll_interval_ms=30_000, group_instance_id=args.instance,
                  partition_assignment_strategy=args.strategy.split(",")) as consumer:
        def commit() -> None:
            try:
                consumer.commit()
            except CommitFailed as exc:  # rebalancing: the next poll() finishes it; a later commit covers these
                note(f"commit-failed {type(exc).__name__}")
                return
            note("committed")

        def revoked(ps) -> None:
            commit()  # the last chance to commit what was processed from them
            note(f"revoke {time.monotonic():.6f} {parts(ps)}")

        consumer.subscribe(args.topics.split(","),
                           on_assign=lambda ps: note(f"assign {time.monotonic():.6f} {parts(ps)}"),
                           on_revoke=revoked)
        while not stop.is_set():
            records = consumer.poll(timeout_ms=100)
            now = time.monotonic()
            for r in records:
                note(f"rec {r.topic} {r.partition} {r.offset} {r.value.decode()} {now:.6f}")
            if records:
                commit()
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
