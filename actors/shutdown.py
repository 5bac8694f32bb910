"""A broker's controlled shutdown, as the supervisor stopping it runs it (Kafka's doControlledShutdown).

Before any actor of a stopping broker gets SIGTERM, the supervisor asks the
controller to move that broker's leaderships to in-sync replicas elsewhere and
to drop it from every ISR (``Controller.controlled_shutdown``; the rule is
``actors.replication.controlled_shutdown_move``). Then it waits for the
handover: each new leader serving at its new epoch, each old one stepped down.
Only then does it stop the broker, so a producer meets one ``NOT_LEADER`` and
finds the new leader already serving — a few milliseconds without a leader
instead of a session timeout — and the stopped replicas close their logs
cleanly, so the restart needs no recovery.

As in Kafka, an attempt that leaves partitions behind (the only candidate is
out of sync, and may catch up) is repeated ``controlled.shutdown.max.retries``
times, ``controlled.shutdown.retry.backoff.ms`` apart; then the broker stops
anyway. Partitions with nowhere to go (every replica stopping: a whole cluster
shutting down) are not a reason to wait.
"""

from __future__ import annotations

import logging
import time

from wire import control, errors
from wire.transport import Connection

from .config import BrokerConfig

REQUEST_TIMEOUT_MS = 2000
HANDOVER_TIMEOUT_S = 5.0  # a new leader that does not serve by then is left to the producers' retries
POLL_S = 0.005


def controlled_shutdown(config: BrokerConfig, controller: str, broker_ids: list[int], broker_pids: list[int],
                        replica_endpoints: dict[tuple[str, int], str],
                        log: logging.Logger) -> control.BrokerStopResponse:
    """Move the leaderships of ``broker_ids`` away and wait for the handover; what was done.

    ``replica_endpoints``: where this supervisor's replicas of those brokers listen,
    by (topic, partition), so the old leaders can be watched stepping down.
    """
    if not config.controlled_shutdown_enable:
        log.info("controlled.shutdown.enable=false: brokers %s stop without moving their leaderships", broker_ids)
        return control.BrokerStopResponse(controlled=False)
    started = time.monotonic()
    request = control.ControlledShutdown(broker_ids=list(broker_ids), broker_pids=list(broker_pids))
    attempts = config.controlled_shutdown_max_retries
    answer: control.ControlledShutdownResponse | None = None
    moved: list[control.MovedLeadership] = []
    for attempt in range(1, attempts + 1):
        request.corr = 0
        try:
            with Connection(controller) as conn:
                answer, _ = conn.call(request, timeout_ms=REQUEST_TIMEOUT_MS)
        except errors.ZafkaError as exc:
            log.warning("controlled shutdown of brokers %s, attempt %d of %d: %s", broker_ids, attempt, attempts, exc)
        else:
            moved.extend(answer.moved)
            if not answer.remaining:
                break
            log.info("controlled shutdown of brokers %s, attempt %d of %d: %s still led by them (no replica in "
                     "sync elsewhere yet)", broker_ids, attempt, attempts, ", ".join(answer.remaining))
        if attempt < attempts:
            time.sleep(config.controlled_shutdown_retry_backoff_ms / 1000)
    if answer is None:
        log.warning("controlled shutdown of brokers %s failed: the controller did not answer; stopping anyway",
                    broker_ids)
        return control.BrokerStopResponse(controlled=False)
    late = wait_for_handover(moved, replica_endpoints, time.monotonic() + HANDOVER_TIMEOUT_S)
    log.info("controlled shutdown of brokers %s: %d leaderships moved in %.0f ms%s%s%s", broker_ids, len(moved),
             (time.monotonic() - started) * 1000,
             f"; still led by them: {', '.join(answer.remaining)}" if answer.remaining else "",
             f"; nowhere to move: {', '.join(answer.stranded)}" if answer.stranded else "",
             f"; handover not seen for {', '.join(late)}" if late else "")
    return control.BrokerStopResponse(moved=moved, remaining=list(answer.remaining), stranded=list(answer.stranded))


def wait_for_handover(moved: list[control.MovedLeadership], old_endpoints: dict[tuple[str, int], str],
                      deadline: float) -> list[str]:
    """Poll until every new leader serves at its epoch and every old one has stepped down; the
    partitions where that was not seen by ``deadline``."""
    checks: list[tuple[str, str, control.MovedLeadership, bool]] = []  # name, endpoint, move, wants a leader
    for m in moved:
        name = f"{m.topic}-{m.partition}"
        if m.endpoint:
            checks.append((name, m.endpoint, m, True))
        old = old_endpoints.get((m.topic, m.partition))
        if old:
            checks.append((name, old, m, False))
    connections: dict[str, Connection] = {}
    try:
        while checks and time.monotonic() < deadline:
            checks = [c for c in checks if not _handed_over(connections, *c[1:])]
            if checks:
                time.sleep(POLL_S)
    finally:
        for conn in connections.values():
            conn.close()
    return sorted({name for name, *_ in checks})


def _handed_over(connections: dict[str, Connection], endpoint: str, move: control.MovedLeadership,
                 wants_leader: bool) -> bool:
    conn = connections.get(endpoint)
    if conn is None:
        conn = connections[endpoint] = Connection(endpoint)
    try:
        status, _ = conn.call(control.ReplicaStatus(), timeout_ms=200)
    except errors.ZafkaError:
        conn.close()
        del connections[endpoint]
        return False
    if wants_leader:
        return status.role == "leader" and status.leader_epoch >= move.leader_epoch
    return status.role != "leader"
