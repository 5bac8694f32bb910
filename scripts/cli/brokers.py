"""``zafka broker stop ID`` and ``zafka broker start ID|--id N --controller EP``.

Stopping a broker is Kafka's controlled shutdown (``actors.shutdown``): the
supervisor has the controller move the broker's leaderships to in-sync replicas
on other brokers, waits for the new leaders to serve, then stops the broker's
actors with SIGTERM. They stay down — not restarted, as a crash would be — until
``zafka broker start ID``.
"""

from __future__ import annotations

from . import cluster
from . import main as cli
from .output import CommandError, info, warn

# the `broker start` options that configure a new broker's supervisor (flag: argparse dest)
SERVER_FLAGS = {"--config": "config", "--override": "override", "--port": "port", "--host": "host",
                "--detach": "detach", "--ready-file": "ready_file"}


def stop(args) -> int:
    from wire.control import StopBroker
    from wire.errors import ZafkaError

    try:
        result = cluster.control_call(args, StopBroker(broker_id=args.stopped_id), timeout_ms=int(args.timeout * 1000))
    except ZafkaError as exc:
        raise CommandError(cluster._server_message(exc)) from None
    broker = args.stopped_id
    if not result.controlled:
        warn(f"broker {broker}: no controlled shutdown (controlled.shutdown.enable=false or no controller); its "
             "partitions fail over as after a crash")
    elif result.moved:
        moves = ", ".join(f"{m.topic}-{m.partition} to broker {m.leader} (epoch {m.leader_epoch})" for m in result.moved)
        info(f"broker {broker}: moved {len(result.moved)} leadership{'s' if len(result.moved) != 1 else ''}: {moves}")
    else:
        info(f"broker {broker}: led no partition that could move")
    if result.remaining:
        warn(f"still led by broker {broker} when it stopped (no in-sync replica elsewhere): "
             f"{', '.join(result.remaining)}; they are offline until an ISR member returns")
    if result.stranded:
        warn(f"no other live replica: {', '.join(result.stranded)}")
    info(f"stopped {', '.join(result.stopped) or 'nothing (no actor was running)'}; "
         f"`zafka broker start {broker}` brings it back")
    return 0


def start(args) -> int:
    if args.stopped_id is not None:
        if args.broker_id is not None or args.controller is not None:
            raise cli.UsageError("give a stopped broker's ID, or --id and --controller for a new one, not both")
        given = [flag for flag, value in SERVER_FLAGS.items() if getattr(args, value) not in (None, [], False)]
        if given:  # the stopped broker restarts with the config its supervisor has: these would be ignored
            verb = "applies" if len(given) == 1 else "apply"
            raise cli.UsageError(f"{', '.join(given)} only {verb} to a new broker (--id and --controller); a stopped "
                                 "broker restarts with its cluster's config")
        return _start_stopped(args)
    if args.broker_id is None or args.controller is None:
        raise cli.UsageError("give the ID of a broker `zafka broker stop` stopped, or both --id and --controller "
                             "to run a new broker joining that controller")
    return cluster.broker_start(args)


def _start_stopped(args) -> int:
    from wire.control import StartBroker
    from wire.errors import ZafkaError

    try:
        result = cluster.control_call(args, StartBroker(broker_id=args.stopped_id))
    except ZafkaError as exc:
        raise CommandError(cluster._server_message(exc)) from None
    info(f"broker {args.stopped_id}: started {', '.join(result.started)}; its replicas follow and rejoin the ISR "
         "once caught up (watch with `zafka topics describe --under-replicated`)")
    return 0
