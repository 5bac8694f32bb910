"""``zafka cluster start|status|stop``, ``zafka broker start``, ``zafka actors``, ``zafka kill``.

These talk to the supervisor, not to the brokers: its registry
(``<data-dir>/supervisor.json``) says where its control socket listens, and the
control socket answers ``ListActors``, ``KillActor``, ``ClusterStatus`` and
``StopCluster``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

from . import main as cli
from .output import CommandError, Progress, duration, info, mb, seconds, table, wait_with_progress, warn

READY_MARK = "zafka: cluster serving"
DEFAULT_PORT = 9092
CONTROL_TIMEOUT_MS = 5000


# -- helpers ----------------------------------------------------------------------------------

def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped counts as gone)."""
    import psutil

    if not pid or pid <= 0:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:  # AccessDenied: it exists, it is just not ours
        return True


def running_registry(args) -> dict:
    """The registry of a supervisor that is still alive, else a one-line error saying so."""
    data_dir = cli.data_dir(args)
    reg = cli.registry(args)
    if not pid_alive(int(reg.get("pid", 0))):
        raise CommandError(
            f"no cluster is running with data dir {data_dir}: its supervisor (pid {reg.get('pid')}) is gone "
            "(a stale supervisor.json was left behind); start one with `zafka cluster start`"
        )
    return reg


def control_call(args, request, reg: dict | None = None, timeout_ms: int = CONTROL_TIMEOUT_MS):
    """Send a control request to the data dir's supervisor; typed errors become one clear line."""
    from wire.errors import RequestTimedOut
    from wire.transport import call

    reg = reg or running_registry(args)
    try:
        response, _ = call(reg["control"], request, timeout_ms=timeout_ms)
    except RequestTimedOut:
        if not pid_alive(int(reg.get("pid", 0))):
            raise CommandError(
                f"the cluster's supervisor (pid {reg.get('pid')}) is gone; start one with `zafka cluster start`"
            ) from None
        raise CommandError(
            f"the supervisor (pid {reg.get('pid')}) did not answer on {reg['control']} within "
            f"{timeout_ms} ms; see {reg.get('logs_dir', 'the logs dir')}"
        ) from None
    return response


def _server_message(exc) -> str:
    """A supervisor error's own text, without the generic hint of its wire error class."""
    text = str(exc)
    hint = getattr(exc, "hint", "")
    if hint and text.endswith(f" ({hint})"):
        text = text[: -len(hint) - 3]
    return text


# -- cluster start / broker start -----------------------------------------------------------------

def start(args) -> int:
    return _serve(args, brokers=args.brokers, controller=None, broker_ids=None,
                  what=f"{args.brokers} broker{'s' if args.brokers != 1 else ''}")


def broker_start(args) -> int:
    return _serve(args, brokers=1, controller=args.controller, broker_ids=[args.broker_id],
                  what=f"broker {args.broker_id} (controller {args.controller})")


def _check_not_running(data_dir: str) -> None:
    from supervisor import read_registry

    try:
        reg = read_registry(data_dir)
    except (OSError, ValueError):
        return
    pid = int(reg.get("pid", 0))
    if pid_alive(pid) and pid != os.getpid():
        raise CommandError(
            f"a cluster is already running with data dir {data_dir} (supervisor pid {pid}, bootstrap "
            f"{reg.get('bootstrap')}); stop it with `zafka cluster stop` or choose another --data-dir"
        )


def _serve(args, *, brokers: int, controller: str | None, broker_ids: list[int] | None, what: str) -> int:
    data_dir = os.path.abspath(cli.data_dir(args))
    _check_not_running(data_dir)
    if args.config and not os.path.isfile(args.config):
        raise CommandError(f"config file not found: {args.config}")
    if args.detach:
        return _detach(args, data_dir, what)

    from supervisor import Supervisor

    supervisor = Supervisor(
        data_dir, brokers=brokers, config=dict(args.override), config_file=args.config, host=args.host,
        port=_port(args), controller=controller, broker_ids=broker_ids, start_timeout=args.start_timeout,
    )
    for warning in supervisor.warnings:
        warn(f"config: {warning}")
    if supervisor.base_port:
        endpoints = list(supervisor.broker_endpoints.values())
        if supervisor.own_controller:
            endpoints.insert(0, supervisor.controller_endpoint)
        _check_ports_free(endpoints)

    def interrupt(signum, frame):  # SIGTERM while starting: unwind like Ctrl-C
        raise KeyboardInterrupt

    previous_term = signal.signal(signal.SIGTERM, interrupt)
    started = False
    try:
        with Progress(f"starting {what} in {data_dir}...", stream=sys.stdout, done="ok"):
            supervisor.start()
        started = True
    except TimeoutError:
        # Our own words, not the supervisor's: its message rounds the timeout to whole
        # seconds ("0 s" for 0.001) and can end in "(None)" when no attempt failed.
        raise CommandError(_not_serving(args.start_timeout, supervisor.logs_dir)) from None
    except RuntimeError as exc:
        raise CommandError(f"the cluster did not start: {exc}") from None
    finally:
        if not started:  # the serving loop below restores it otherwise
            signal.signal(signal.SIGTERM, previous_term)

    stopping = threading.Event()

    def stop(signum, frame):
        if stopping.is_set():
            return
        stopping.set()
        sys.stdout.write("\nstopping...\n")
        sys.stdout.flush()
        threading.Thread(target=supervisor.stop, name="stop", daemon=True).start()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        info(f"bootstrap:  {supervisor.bootstrap_servers}")
        if supervisor.own_controller:
            info(f"controller: {supervisor.controller_endpoint}")
        info(f"data dir:   {supervisor.data_dir}")
        info(f"logs:       {supervisor.logs_dir}  (supervisor.log and one log per actor)")
        info(f"supervisor: pid {os.getpid()}, control {supervisor.control_endpoint}")
        info(f"{READY_MARK}; Ctrl-C or `zafka cluster stop` to stop")
        if args.ready_file:
            _write_ready(args.ready_file)
        supervisor.wait()
    finally:
        supervisor.stop()  # idempotent: returns at once when already stopped
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    info("cluster stopped")
    return 0


def _not_serving(start_timeout: float, where: str) -> str:
    return (f"the cluster did not serve within {seconds(start_timeout)} s (--start-timeout {seconds(start_timeout)}); "
            f"see {where}, or allow more time with a larger --start-timeout")


def _port(args) -> int:
    """``--port``; else the config's ``listeners`` port (0 tells the supervisor to use it); else 9092."""
    if args.port is not None:
        return args.port
    keys = {key for key, _ in args.override}
    if args.config:
        from actors.config import load_properties

        keys |= set(load_properties(args.config))
    return 0 if "listeners" in keys else DEFAULT_PORT


def _check_ports_free(endpoints: list[str]) -> None:
    """Fail with one clear line when a fixed port is taken (another cluster, another program)."""
    for endpoint in endpoints:
        host, _, port = endpoint.removeprefix("tcp://").rpartition(":")
        host = host.strip("[]")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as ZeroMQ binds: TIME_WAIT is no conflict
            try:
                s.bind((host, int(port)))
            except OSError as exc:
                raise CommandError(
                    f"cannot listen on {host}:{port} ({exc.strerror}); is another cluster running there? "
                    "choose another --port (or --port 0 for any free ports)"
                ) from None


def _write_ready(path: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(os.getpid()))
    os.replace(tmp, path)


def _detach_argv(args, data_dir: str, ready_file: str) -> list[str]:
    argv = [sys.executable, "-m", "scripts.cli.main"]
    if args.handler == ("cluster", "broker_start"):
        argv += ["broker", "start", "--id", str(args.broker_id), "--controller", args.controller]
    else:
        argv += ["cluster", "start", "--brokers", str(args.brokers)]
    argv += ["--data-dir", data_dir, "--start-timeout", str(args.start_timeout), "--ready-file", ready_file]
    if args.port is not None:
        argv += ["--port", str(args.port)]
    if args.host:
        argv += ["--host", args.host]
    if args.config:
        argv += ["--config", os.path.abspath(args.config)]
    for key, value in args.override:
        argv += ["--override", f"{key}={value}"]
    return argv


def _project_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _detach(args, data_dir: str, what: str) -> int:
    logs_dir = os.path.join(data_dir, "logs")
    os.makedirs(logs_dir, exist_ok=True)
    out_path = os.path.join(logs_dir, "cluster.out")
    ready_file = os.path.join(data_dir, ".zafka-ready")
    try:
        os.unlink(ready_file)
    except FileNotFoundError:
        pass
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_project_root(), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    with open(out_path, "ab") as out:
        offset = out.tell()
        process = subprocess.Popen(
            _detach_argv(args, data_dir, ready_file), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, env=env, close_fds=True,
        )
    print(f"starting {what} in the background (pid {process.pid}, output in {out_path})", end="", flush=True)
    deadline = time.monotonic() + args.start_timeout + 15
    next_dot = time.monotonic() + 1
    while not os.path.exists(ready_file):
        if process.poll() is not None:
            print(" failed", flush=True)
            raise CommandError(f"the cluster did not start: {_last_error(out_path, offset)}; see {out_path}")
        if time.monotonic() > deadline:
            print(" timed out", flush=True)
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
            raise CommandError(_not_serving(args.start_timeout, out_path))
        if time.monotonic() >= next_dot:
            print(".", end="", flush=True)
            next_dot += 1
        time.sleep(0.05)
    os.unlink(ready_file)
    print(" ok", flush=True)
    from wire.control import ClusterStatus

    reg = cli.registry(args)
    status = control_call(args, ClusterStatus(), reg)
    for line in _output_since(out_path, offset):
        if line.startswith("zafka: warning:"):
            print(line, file=sys.stderr)
    info(f"bootstrap:  {status.bootstrap}")
    info(f"data dir:   {status.data_dir}")
    info(f"logs:       {status.logs_dir}  (supervisor.log, one log per actor, cluster.out)")
    info(f"supervisor: pid {status.supervisor_pid}")
    flag = f" --data-dir {data_dir}" if getattr(args, "data_dir", None) else ""
    info(f"stop it with `zafka cluster stop{flag}`")
    return 0


def _output_since(path: str, offset: int) -> list[str]:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return []


def _last_error(path: str, offset: int) -> str:
    lines = [line.strip() for line in _output_since(path, offset) if line.strip()]
    for line in reversed(lines):
        if line.startswith("zafka: error:"):
            return line.removeprefix("zafka: error:").strip()
    return lines[-1] if lines else "it exited without output"


# -- status / stop ----------------------------------------------------------------------------------

def status(args) -> int:
    from wire.control import ClusterStatus

    reg = running_registry(args)
    st = control_call(args, ClusterStatus(), reg)
    info(f"bootstrap:      {st.bootstrap}")
    info(f"controller:     {st.controller_endpoint}")
    info(f"data dir:       {st.data_dir}")
    info(f"logs dir:       {st.logs_dir}  (supervisor.log and one log per actor)")
    info(f"supervisor pid: {st.supervisor_pid}")
    info(f"brokers:        {', '.join(str(b) for b in st.brokers)}")
    info(f"actors:         {st.actors}")
    info(f"failed actors:  {', '.join(st.failed) if st.failed else 'none'}")
    return 1 if st.failed else 0


def stop(args) -> int:
    from wire.control import StopCluster
    from wire.errors import ZafkaError

    reg = running_registry(args)
    pid = int(reg["pid"])
    try:
        control_call(args, StopCluster(), reg)
    except (CommandError, ZafkaError):
        if pid_alive(pid):  # the control socket is stuck: a SIGTERM stops it cleanly too
            os.kill(pid, signal.SIGTERM)
    gone = wait_with_progress(lambda: not pid_alive(pid), f"stopping the cluster (supervisor pid {pid})",
                              args.timeout, stream=sys.stdout, done="done")
    if not gone:
        raise CommandError(
            f"the supervisor (pid {pid}) is still running after {seconds(args.timeout)} s; see "
            f"{reg.get('logs_dir')}; `kill {pid}` ends it"
        )
    info(f"cluster stopped (data dir {reg.get('data_dir')})")
    return 0


# -- actors / kill -------------------------------------------------------------------------------

LAG_TIMEOUT_MS = 500  # a frozen follower shows "?" rather than holding the table up


def follower_lags(fetchers) -> dict[str, str]:
    """name -> records behind its leader, asked of every follower at once ("?" when it does not say)."""
    from wire.connections import ConnectionPool, Reply
    from wire.control import ReplicaStatus

    pool = ConnectionPool()
    out = {a.name: "?" for a in fetchers}
    try:
        for a in fetchers:
            pool.send(a.endpoint, ReplicaStatus(), timeout_ms=LAG_TIMEOUT_MS, context=a.name)
        deadline = time.monotonic() + LAG_TIMEOUT_MS / 1000 + 0.1
        while pool.pending_count() and time.monotonic() < deadline:
            for event in pool.poll(50):
                if isinstance(event, Reply) and not event.response.error:
                    lag = getattr(event.response, "lag", None)
                    out[event.context] = "?" if lag is None else str(lag)
    finally:
        pool.close()
    return out


def actors(args) -> int:
    from wire.control import ListActors

    response = control_call(args, ListActors(memory=args.memory))
    lags = follower_lags([a for a in response.actors if a.kind == "fetcher" and a.alive and a.endpoint])
    now = time.time()
    rows = []
    total_uss = total_rss = 0
    for a in response.actors:
        up = duration(now - a.started_at) if a.alive and a.started_at else "-"
        rows.append([
            a.name, a.kind, a.broker if a.broker >= 0 else "-", a.pid or "-", a.restarts,
            a.state if a.alive or a.state != "running" else "dead", up,
            mb(a.rss) if a.rss else "-", mb(a.uss) if a.uss else "-", lags.get(a.name, "-"),
        ])
        total_uss += a.uss
        total_rss += a.rss
    print(table(rows, ["NAME", "KIND", "BROKER", "PID", "RESTARTS", "STATE", "UPTIME", "RSS(MB)", "USS(MB)", "LAG"],
                right=(3, 4, 7, 8, 9)))
    alive = sum(1 for a in response.actors if a.alive)
    if args.memory:
        info(f"total USS: {mb(total_uss)} MB across {alive} live actor processes "
             f"(the RSS sum, {mb(total_rss)} MB, counts shared pages in every process)")
    else:
        info(f"{alive} live actor processes")
    return 0


def kill(args) -> int:
    from wire.control import KillActor
    from wire.errors import ZafkaError

    if args.name and args.broker_id is not None:
        raise cli.UsageError("give an actor NAME or --broker ID, not both")
    if not args.name and args.broker_id is None:
        raise cli.UsageError("name an actor (see `zafka actors`) or give --broker ID")
    down_ms = int((args.down or 0) * 1000)
    request = (KillActor(broker_id=args.broker_id, signal=args.signal, down_ms=down_ms) if args.broker_id is not None
               else KillActor(name=args.name, signal=args.signal, down_ms=down_ms))
    try:
        response = control_call(args, request)
    except ZafkaError as exc:
        text = _server_message(exc)
        if args.name:
            text += "; see `zafka actors` for the names"
        raise CommandError(text) from None
    what = f"broker {args.broker_id}" if args.broker_id is not None else args.name
    if not response.killed:
        info(f"{what}: no live actors to signal")
        return 0
    info(f"sent SIG{args.signal} to {', '.join(response.killed)}")
    if args.signal in ("KILL", "TERM", "INT"):
        info("the supervisor restarts them; watch with `zafka actors`")
    return 0
