"""One member of the fault lab's consumer group, in a process of its own (``zafka chaos --consumers N``).

The lab (``scripts/cli/chaos.py``) starts it as a script, never imports it::

    python scripts/cli/lab_consumer.py BOOTSTRAP GROUP TOPIC LOG [--strategy S] [--session-ms N] [--max-seconds N]

It subscribes to TOPIC in GROUP, polls, and after each non-empty poll commits
(process first, then commit: at least once). Everything it does is appended to
LOG, one line each, with ``time.monotonic()`` seconds (one clock for every process
of the machine, so the lab can compare them with its own); the format is
:func:`scripts.cli.faultlab.parse_member_log`'s::

    start T PID
    assign T P,P,...          (the on_assign listener; "-" for none)
    revoke T P,P,...          (the on_revoke listener)
    rec T P OFFSET:VALUE ...  (one line per partition of a poll: what was processed)
    commit T0 T1              (a commit that started at T0 was acknowledged at T1)
    commit-failed T0 T1 ERROR
    error T ERROR MESSAGE     (poll raised; the loop goes on)
    stop T                    (SIGTERM: closed cleanly, it left the group)

Each poll's lines go out in one ``write`` to a file opened with ``O_APPEND``, so a
SIGKILL (the lab's ``member`` fault) leaves whole lines; the lab then appends
``gone T SIGKILL`` itself. The process exits by itself when its parent goes away
or after ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


class Log:
    """Lines appended with one ``write`` per call."""

    def __init__(self, path: str):
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, lines: list[str]) -> None:
        data = "".join(line + "\n" for line in lines).encode()
        while data:
            n = os.write(self.fd, data)
            data = data[n:]

    def close(self) -> None:
        os.close(self.fd)


def parts(tps) -> str:
    return ",".join(str(tp.partition) for tp in sorted(tps)) or "-"


def one_word(exc: BaseException) -> str:
    return type(exc).__name__


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bootstrap")
    ap.add_argument("group")
    ap.add_argument("topic")
    ap.add_argument("log")
    ap.add_argument("--strategy", default="range,cooperative-sticky")
    ap.add_argument("--session-ms", type=int, default=3000)
    ap.add_argument("--max-seconds", type=float, default=3600)
    args = ap.parse_args(argv)
    parent = os.getppid()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the lab, which stops its members itself

    def watch() -> None:
        deadline = time.monotonic() + args.max_seconds
        while os.getppid() == parent and time.monotonic() < deadline:
            time.sleep(0.2)  # polling the parent: no portable "parent died" signal
        os._exit(3)

    threading.Thread(target=watch, daemon=True).start()
    log = Log(args.log)
    log.write([f"start {time.monotonic():.6f} {os.getpid()}"])

    from wire import Consumer
    from wire.errors import ZafkaError

    session = args.session_ms
    with Consumer(args.bootstrap, group_id=args.group, auto_offset_reset="earliest", enable_auto_commit=False,
                  session_timeout_ms=session, heartbeat_interval_ms=max(50, session // 10),
                  max_poll_interval_ms=max(10_000, 3 * session), request_timeout_ms=10_000,
                  fetch_max_wait_ms=100, allow_auto_create_topics=False,
                  partition_assignment_strategy=args.strategy.split(","), client_id="zafka-chaos-member") as consumer:
        consumer.subscribe([args.topic],
                           on_assign=lambda tps: log.write([f"assign {time.monotonic():.6f} {parts(tps)}"]),
                           on_revoke=lambda tps: log.write([f"revoke {time.monotonic():.6f} {parts(tps)}"]))
        while not stop.is_set():
            try:
                records = consumer.poll(timeout_ms=100)
            except ZafkaError as exc:
                first = (str(exc).splitlines() or [""])[0]
                log.write([f"error {time.monotonic():.6f} {one_word(exc)} {first}"])
                stop.wait(0.1)  # a retry backoff
                continue
            if not records:
                continue
            now = time.monotonic()
            by_partition: dict[int, list[str]] = {}
            for r in records:  # "processing" is writing them down
                by_partition.setdefault(r.partition, []).append(f"{r.offset}:{r.value.decode(errors='replace')}")
            log.write([f"rec {now:.6f} {p} {' '.join(items)}" for p, items in sorted(by_partition.items())])
            started = time.monotonic()
            try:
                consumer.commit()
            except ZafkaError as exc:
                log.write([f"commit-failed {started:.6f} {time.monotonic():.6f} {one_word(exc)}"])
                continue
            log.write([f"commit {started:.6f} {time.monotonic():.6f}"])
    log.write([f"stop {time.monotonic():.6f}"])
    log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
