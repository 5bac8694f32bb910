"""The cluster's entry point: a local cluster (or a few brokers joining one) assembled and supervised.

Three jobs, three places:

* ``actors.supervision.ChildSupervisor`` is the generic supervisor — start,
  watch, restart with backoff and intensity, stop in reverse start order — and
  knows nothing about topics;
* ``actors.children.desired_children`` is the pure function from the controller's
  image to the dynamic children (partition leaders) these brokers should run, and
  ``actors.children.plan`` the diff the supervisor applies;
* this module assembles a cluster around them: config, endpoints and ports, the
  static children (controller, one BrokerActor and one RetentionCleaner per
  broker), death reports to the controller, the registry file other terminals
  read, and the control socket behind ``zafka actors`` / ``kill`` / ``stop``;
* and it stops brokers the way Kafka does (``actors.shutdown``): a controlled
  shutdown moves their leaderships away before any of their actors stops.

Children are forked from a forkserver that has the heavy imports preloaded, so
each actor process starts fast and shares those pages. Every child dies with the
supervisor (see ``actors.runtime``).
"""

from __future__ import annotations

import collections
import json
import logging
import multiprocessing
import os
import shutil
import signal
import threading
import time

import msgspec
import psutil
import zmq

from actors.children import Running, desired_children, display_kind, plan
from actors.config import BrokerConfig, ConfigError, load_properties
from actors.kinds import BROKER, CLUSTER, DYNAMIC, PRELOAD, in_start_order, kind_row
from actors.log_limit import LogLimit
from actors.ports import PortAllocator
from actors.shutdown import controlled_shutdown
from actors.specs import ActorArgs, ActorSpec
from actors.supervision import FAILED, STOPPING, Child, ChildSpec, ChildSupervisor, RestartIntensity
from actors.watch import MetadataWatcher
from wire import control, errors, protocol, sockets
from wire.admin import DescribeCluster
from wire.metadata import ClusterImage
from wire.transport import Connection

log = logging.getLogger("zafka.supervisor")

REGISTRY_FILE = "supervisor.json"
# control requests are a few hundred bytes: ZeroMQ drops a peer that sends more than this, and
# the decode gate answers anything between protocol.MAX_HEADER_BYTES and it with an error
CONTROL_MAX_MESSAGE_BYTES = 2 * protocol.MAX_HEADER_BYTES
# what `zafka kill --signal` may send (the same list as the CLI's): crash, stop cleanly, freeze, thaw
KILL_SIGNALS = {name: signal.Signals["SIG" + name] for name in ("KILL", "TERM", "INT", "STOP", "CONT", "HUP")}


class Supervisor:
    """A local cluster (controller + brokers) or, with ``controller=``, brokers joining one."""

    def __init__(
        self,
        data_dir: str,
        brokers: int = 3,
        config: dict | None = None,
        *,
        config_file: str | None = None,
        host: str | None = None,
        port: int = 0,
        controller: str | None = None,
        broker_ids: list[int] | None = None,
        start_timeout: float = 30.0,
    ):
        if not start_timeout > 0:  # also refuses nan
            raise ValueError(f"start_timeout must be a positive number of seconds, got {start_timeout!r}")
        self.data_dir = os.path.abspath(data_dir)
        os.makedirs(self.data_dir, exist_ok=True)
        props = load_properties(config_file) if config_file else {}
        props.update({k: str(v) for k, v in (config or {}).items()})
        self.broker_config, self.warnings = BrokerConfig.from_properties(props)
        self.props = self.broker_config.properties
        listener = self.broker_config.listeners[0] if "listeners" in props else None
        self.host = host or (listener.host if listener and listener.host not in ("", "0.0.0.0", "localhost") else "127.0.0.1")
        if port == 0 and listener is not None and listener.port:
            port = listener.port
        self._advertised_host = (
            self.broker_config.advertised_listeners[0].host if "advertised.listeners" in props else ""
        )
        self.base_port = port
        self.broker_ids = broker_ids or list(range(1, brokers + 1))
        self.own_controller = controller is None
        self.ports = PortAllocator(self.host)
        self.controller_endpoint = controller or f"tcp://{self.host}:{port - 1 if port else self.ports.take()}"
        self.broker_endpoints = {
            b: f"tcp://{self.host}:{port + i if port else self.ports.take()}" for i, b in enumerate(self.broker_ids)
        }
        # fixed for the supervisor's life (a restarted coordinator listens where brokers say it does)
        self.coordinator_endpoints = {b: self._free_endpoint() for b in self.broker_ids}
        explicit_dirs = "log.dirs" in props or "log.dir" in props
        self.log_dirs = list(self.broker_config.log_dirs) if explicit_dirs else [os.path.join(self.data_dir, "kafka-logs")]
        self.start_timeout = start_timeout
        cfg = self.broker_config
        intensity = RestartIntensity(
            max_restarts=cfg.supervisor_max_restarts, max_seconds=cfg.supervisor_max_seconds,
            backoff_s=cfg.supervisor_restart_backoff_ms / 1000, backoff_max_s=cfg.supervisor_restart_backoff_max_ms / 1000,
        )
        mp = multiprocessing.get_context("forkserver")
        mp.set_forkserver_preload(PRELOAD)
        self.tree = ChildSupervisor(mp, intensity, on_death=self._report_death, between_rounds=self._reconcile)
        self._stopping = threading.Event()
        # brokers stopped on purpose (`zafka broker stop`): their actors stay down until start_broker;
        # the lock keeps a reconcile from starting a replica of a broker being stopped
        self._down_brokers: set[int] = set()
        self._brokers_lock = threading.Lock()
        self._stopped = threading.Event()
        self._image: ClusterImage | None = None
        self._reports: collections.deque = collections.deque()
        self._threads: list[threading.Thread] = []
        self._control_ready = threading.Event()
        self.control_endpoint = ""
        self._log_handler: logging.Handler | None = None
        self._control_refusals = LogLimit(log)
        self._control_handlers = {
            control.ListActors: lambda r: control.ActorsResponse(actors=self.actors(memory=r.memory)),
            control.KillActor: self._control_kill,
            control.StopCluster: self._control_stop,
            control.ClusterStatus: self._control_status,
            control.StopBroker: lambda r: self.stop_broker(r.broker_id),
            control.StartBroker: self._control_start_broker,
            control.Ping: lambda r: control.Ack(),
        }

    # -- the children ------------------------------------------------------------------------
    def _spec(self, name: str, kind: str, endpoint: str, args: ActorArgs, broker_id: int = -1) -> ChildSpec:
        return ChildSpec(ActorSpec(
            name=name, kind=kind, bind=endpoint, advertised=self._advertised(endpoint),
            data_dir=self.data_dir, controller=self.controller_endpoint, broker_id=broker_id,
            config=self.broker_config, args=args, supervisor_pid=os.getpid(), tick_ms=kind_row(kind).tick_ms,
        ))

    def _advertised(self, endpoint: str) -> str:
        adv = self._advertised_host
        if not adv:
            return endpoint
        port = endpoint.rsplit(":", 1)[1]
        return f"tcp://{adv}:{port}"

    def broker_log_dirs(self, broker_id: int) -> list[str]:
        return [os.path.join(d, f"broker-{broker_id}") for d in self.log_dirs]

    def _static_specs(self) -> list[ChildSpec]:
        """The cluster- and broker-scoped children of the kind table, in start order."""
        specs = []
        for k in in_start_order():
            if k.scope == CLUSTER and self.own_controller:
                specs.append(self._spec(k.name, k.name, self._endpoint_of(k.name), k.args.static(-1, ())))
            elif k.scope == BROKER:
                for b in self.broker_ids:
                    args = k.args.static(b, tuple(self.broker_log_dirs(b)))
                    if k.name == "broker":
                        args = msgspec.structs.replace(args, coordinator=self._advertised(self.coordinator_endpoints[b]))
                    specs.append(self._spec(f"{k.name}-{b}", k.name, self._endpoint_of(k.name, b), args, b))
        return specs

    def _endpoint_of(self, kind: str, broker_id: int = -1) -> str:
        """The controller and the brokers listen where the config says (clients are told); the rest anywhere."""
        if kind == "controller":
            return self.controller_endpoint
        if kind == "broker":
            return self.broker_endpoints[broker_id]
        if kind == "coordinator":
            return self.coordinator_endpoints[broker_id]
        return self._free_endpoint()

    def _free_endpoint(self) -> str:
        return f"tcp://{self.host}:{self.ports.take()}"

    @property
    def children(self) -> dict[str, Child]:
        with self.tree.lock:
            return dict(self.tree.children)

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        return self.broker_endpoints[self.broker_ids[0]]

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(self.broker_endpoints[b] for b in self.broker_ids)

    @property
    def logs_dir(self) -> str:
        return os.path.join(self.data_dir, "logs")

    def start(self) -> "Supervisor":
        self._open_log()
        for warning in self.warnings:
            log.warning("config: %s", warning)
        for d in self.log_dirs:
            for b in self.broker_ids:
                os.makedirs(os.path.join(d, f"broker-{b}"), exist_ok=True)
        try:
            for spec in self._static_specs():  # in start order: the table's ranks
                self.tree.start(spec)
            self._spawn_thread(self._control_loop, "control")
            self._control_ready.wait(5)
            self._watcher = MetadataWatcher(self.controller_endpoint, self._on_image, name="supervisor-watch")
            self._watcher.start()
            self._spawn_thread(self._reporter_loop, "reporter")
            self.tree.start_watching()
            self._write_registry()
            self._wait_until_serving()
        except BaseException:
            self.stop()
            raise
        return self

    def _open_log(self) -> None:
        """``<data-dir>/logs/supervisor.log``, appended, whatever the host program logs elsewhere."""
        os.makedirs(self.logs_dir, exist_ok=True)
        handler = logging.FileHandler(os.path.join(self.logs_dir, "supervisor.log"), mode="a")
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s [supervisor pid=%(process)d] %(name)s: %(message)s"
        ))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        self._log_handler = handler

    def _spawn_thread(self, target, name: str) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def _wait_until_serving(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        last_problem = "no broker asked yet"
        while time.monotonic() < deadline:
            failed = [c.name for c in self.tree.snapshot() if c.state == FAILED]
            if failed:
                raise RuntimeError(f"actors failed to start: {', '.join(failed)}; see {self.logs_dir}")
            try:
                left_ms = int((deadline - time.monotonic()) * 1000)
                with Connection(self.bootstrap) as conn:
                    response, _ = conn.call(DescribeCluster(), timeout_ms=max(1, min(1000, left_ms)))
                alive = {b.id for b in response.brokers if b.alive}
                if set(self.broker_ids) <= alive and response.controller_endpoint:
                    return
                missing = sorted(set(self.broker_ids) - alive)
                last_problem = f"brokers {missing} not registered yet" if missing else "no controller yet"
            except errors.ZafkaError as exc:
                last_problem = str(exc)
            time.sleep(0.05)
        raise TimeoutError(
            f"cluster did not serve within {self.start_timeout:g} s ({last_problem}); see {self.logs_dir}"
        )

    def stop(self) -> None:
        """Stop every child in reverse start order (leaders first, the controller last), after a
        controlled shutdown of the brokers still up: leaderships move to brokers elsewhere (none
        when this supervisor runs the whole cluster, which then restarts with the ISRs it had)."""
        if self._stopping.is_set():
            self._stopped.wait(60)
            return
        self._stopping.set()
        with self._brokers_lock:
            up = [b for b in self.broker_ids if b not in self._down_brokers]
        if up and self.tree.snapshot():
            self._controlled_shutdown(up)
        watcher = getattr(self, "_watcher", None)
        if watcher is not None:
            watcher.stop()
        self.tree.stop_all()
        for t in self._threads:
            t.join(5)
        try:
            os.unlink(os.path.join(self.data_dir, REGISTRY_FILE))
        except FileNotFoundError:
            pass
        log.info("cluster stopped")
        if self._log_handler is not None:
            log.removeHandler(self._log_handler)
            self._log_handler.close()
        self._stopped.set()

    def wait(self) -> None:
        """Block until ``stop`` (from a signal handler, ``zafka cluster stop`` or another thread)."""
        while not self._stopped.wait(0.5):
            pass

    def __enter__(self) -> "Supervisor":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- dynamic children follow the controller's image -----------------------------------------
    def _on_image(self, image: ClusterImage) -> None:
        self._image = image
        self.tree.wake()

    def _reconcile(self) -> None:
        """Between watch rounds: apply ``actors.children.plan`` for the latest image."""
        with self._brokers_lock:  # a broker being stopped keeps its name changes, but gets no new replica
            image = self._image
            if image is None or self._stopping.is_set():
                return
            desired = desired_children(image, self.broker_ids, lambda b: self.broker_log_dirs(b)[0])
            dynamic = {c.name: c for c in self.tree.snapshot() if c.spec.kind.scope == DYNAMIC}
            running = {name: Running(c.spec.actor.broker_id, c.spec.actor.args, c.state == STOPPING)
                       for name, c in dynamic.items()}
            changes = plan(running, desired)
            if changes.rename:
                self.tree.rename(changes.rename)
                dynamic = {changes.rename.get(n, n): c for n, c in dynamic.items()}
            for retire in changes.retire:
                self.tree.retire(dynamic[retire.name], self._remove_data if retire.deleted else lambda child: None)
            for want in changes.start:
                if want.broker_id not in self._down_brokers:
                    self.tree.start(self._spec(want.name, want.kind, self._free_endpoint(), want.args,
                                               want.broker_id))

    @staticmethod
    def _remove_data(child: Child) -> None:
        path = child.spec.actor.args.directory
        shutil.rmtree(path, ignore_errors=True)
        log.info("removed %s and its directory %s", child.name, path)

    # -- stopping and starting one broker -----------------------------------------------------------
    def _controlled_shutdown(self, broker_ids: list[int]) -> control.BrokerStopResponse:
        if self.own_controller:
            controller = self.tree.get("controller")
            if controller is None or not controller.alive:
                log.warning("no controller running: brokers %s stop without moving their leaderships", broker_ids)
                return control.BrokerStopResponse(controlled=False)
        pids = []
        for b in broker_ids:
            child = self.tree.get(f"broker-{b}")
            pids.append(child.process.pid if child is not None and child.alive else 0)
        replicas = {(c.spec.actor.args.topic, c.spec.actor.args.partition): c.spec.actor.bind
                    for c in self.tree.snapshot() if c.spec.kind.scope == DYNAMIC and c.alive
                    and c.spec.actor.broker_id in broker_ids}
        return controlled_shutdown(self.broker_config, self.controller_endpoint, broker_ids, pids, replicas, log)

    def stop_broker(self, broker_id: int) -> control.BrokerStopResponse:
        """Kafka's clean broker stop: leaderships moved first (``controlled.shutdown.enable``), then
        every actor of the broker stopped with SIGTERM; they stay down until ``start_broker``."""
        self._check_broker(broker_id)
        with self._brokers_lock:
            if broker_id in self._down_brokers:
                raise errors.InvalidRequest(f"broker {broker_id} is already stopped; `zafka broker start {broker_id}`")
            self._down_brokers.add(broker_id)
        log.info("stopping broker %d", broker_id)
        result = self._controlled_shutdown([broker_id])
        stopped = self.tree.stop_group([c for c in self.tree.snapshot() if c.spec.actor.broker_id == broker_id])
        for child in stopped:  # the controller learns at once; it would otherwise wait out the sessions
            self._report_death(child, 0)
        result.stopped = [c.name for c in stopped]
        log.info("broker %d stopped: %s", broker_id, ", ".join(result.stopped) or "nothing was running")
        return result

    def start_broker(self, broker_id: int) -> list[str]:
        """Start again a broker ``stop_broker`` stopped; its replicas follow from the image."""
        self._check_broker(broker_id)
        with self._brokers_lock:
            if broker_id not in self._down_brokers:
                raise errors.InvalidRequest(f"broker {broker_id} is not stopped")
            self._down_brokers.discard(broker_id)
            static = [c for c in self.tree.snapshot()
                      if c.spec.actor.broker_id == broker_id and c.spec.kind.scope != DYNAMIC]
            for child in static:
                self.tree.start_again(child)
        self.tree.wake()
        log.info("broker %d started again", broker_id)
        return [c.name for c in static]

    def _check_broker(self, broker_id: int) -> None:
        if broker_id not in self.broker_ids:
            raise errors.UnknownActor(f"broker {broker_id} is not supervised here (brokers {self.broker_ids})")

    def _control_start_broker(self, request: control.StartBroker):
        return control.BrokerStartResponse(started=self.start_broker(request.broker_id))

    # -- reports to the controller ---------------------------------------------------------------
    def _report_death(self, child: Child, exitcode: int | None) -> None:
        a = child.spec.actor
        self._reports.append(control.ActorDied(
            name=a.name, kind=a.kind, broker_id=a.broker_id, topic=getattr(a.args, "topic", ""),
            partition=getattr(a.args, "partition", -1), pid=child.process.pid if child.process else 0,
        ))

    def _reporter_loop(self) -> None:
        conn = None
        while not self._stopping.is_set():
            if not self._reports:
                self._stopping.wait(0.02)
                continue
            report = self._reports[0]
            if report.kind == "controller" or not self.controller_endpoint:
                self._reports.popleft()
                continue
            conn = conn or Connection(self.controller_endpoint)
            try:
                report.corr = 0
                conn.call(report, timeout_ms=1000)
                self._reports.popleft()
            except errors.ZafkaError as exc:
                log.info("could not report %s to the controller yet: %s", report.name, exc)
                self._stopping.wait(0.2)
        if conn is not None:
            conn.close()

    # -- introspection and control ----------------------------------------------------------------
    def actors(self, memory: bool = True) -> list[control.ActorStatus]:
        out = []
        for c in self.tree.snapshot():
            alive = c.alive
            rss = uss = 0
            if memory and alive:
                try:
                    mem = psutil.Process(c.process.pid).memory_full_info()
                    rss, uss = mem.rss, mem.uss
                except (psutil.Error, OSError):
                    pass
            out.append(control.ActorStatus(
                name=c.name, kind=display_kind(c.name, c.spec.actor.kind), broker=c.spec.actor.broker_id,
                pid=c.process.pid if c.process else 0, restarts=c.restarts, alive=alive, state=c.state,
                started_at=c.started_at, endpoint=c.spec.actor.advertised, rss=rss, uss=uss,
            ))
        return out

    def kill(self, name: str, sig: int = signal.SIGKILL, down_s: float = 0.0) -> int:
        """Send ``sig`` to one actor (SIGKILL by default); returns its pid.

        ``down_s``: the supervisor waits at least that long before restarting it.

        A ``KeyError`` when there is no such running actor — including one that
        exits between the lookup and the signal, which is a race, not a crash.
        """
        child = self.tree.get(name)
        if child is None or not child.alive:
            raise KeyError(f"no running actor named {name!r}")
        pid = child.process.pid
        child.held_until = time.monotonic() + down_s
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            raise KeyError(f"actor {name!r} (pid {pid}) exited before the signal reached it") from None
        return pid

    def kill_broker(self, broker_id: int, sig: int = signal.SIGKILL, down_s: float = 0.0) -> list[str]:
        """A whole-broker crash: every actor of that broker at once (those already gone are skipped).

        ``down_s`` keeps the broker down that long: none of its actors restarts before.
        """
        victims = [c for c in self.tree.snapshot() if c.spec.actor.broker_id == broker_id and c.alive]
        killed = []
        held_until = time.monotonic() + down_s
        for c in victims:
            c.held_until = held_until
            try:
                os.kill(c.process.pid, sig)
            except ProcessLookupError:
                continue
            killed.append(c.name)
        return killed

    def pid_of(self, name: str) -> int:
        return self.tree.children[name].process.pid

    def _write_registry(self) -> None:
        registry = {
            "pid": os.getpid(), "control": self.control_endpoint, "bootstrap": self.bootstrap,
            "bootstrap_servers": self.bootstrap_servers, "controller": self.controller_endpoint,
            "brokers": self.broker_ids, "data_dir": self.data_dir, "logs_dir": self.logs_dir,
        }
        path = os.path.join(self.data_dir, REGISTRY_FILE)
        with open(path + ".tmp", "w") as f:
            json.dump(registry, f, indent=2)
        os.replace(path + ".tmp", path)

    def _control_loop(self) -> None:
        ctx = zmq.Context.instance()
        sock = sockets.router(ctx, max_message_bytes=CONTROL_MAX_MESSAGE_BYTES)
        port = sock.bind_to_random_port(f"tcp://{self.host}")
        self.control_endpoint = f"tcp://{self.host}:{port}"
        self._control_ready.set()
        try:
            while not self._stopping.is_set():
                if not sock.poll(100):
                    continue
                parts = sock.recv_multipart()
                if len(parts) < 2:
                    continue
                reply = self._control_reply(parts[1], len(parts) - 2)
                try:
                    sock.send_multipart([parts[0], reply])
                except zmq.ZMQError as exc:
                    log.debug("could not answer a control request: %s", exc)
        finally:
            sock.close(linger=0)

    def _control_reply(self, header: bytes, payload_frames: int) -> bytes:
        """The encoded answer to one control request; never raises, whatever ``header`` holds."""
        corr = 0
        try:
            request = protocol.decode_request(header, payload_frames)
            corr = request.corr
            handler = self._control_handlers.get(type(request))
            if handler is None:
                raise errors.InvalidRequest(f"the supervisor does not handle {protocol.request_name(request)} requests")
            response = handler(request)
        except protocol.FrameError as exc:
            self._control_refusals.log(time.monotonic(), logging.INFO, "control socket refused a frame: %s", exc)
            response = protocol.ErrorResponse(error=exc.code, message=str(exc), corr=exc.corr)
        except errors.ZafkaError as exc:
            response = protocol.ErrorResponse(error=exc.code, message=str(exc))
        except Exception as exc:  # noqa: BLE001 - the control socket serves every other terminal
            self._control_refusals.log(time.monotonic(), logging.ERROR, "control request failed", exc_info=exc)
            response = protocol.ErrorResponse(
                error=errors.UnknownServerError.code, message=f"{type(exc).__name__}: {exc}",
            )
        response.corr = response.corr or corr
        return protocol.encode(response)


    def _control_kill(self, request: control.KillActor):
        name = request.signal.upper().removeprefix("SIG")
        if name not in KILL_SIGNALS:
            raise errors.InvalidRequest(
                f"signal {request.signal!r} is not one zafka sends; use one of {', '.join(KILL_SIGNALS)}"
            )
        sig = KILL_SIGNALS[name]
        if request.broker_id >= 0:
            if request.broker_id not in self.broker_ids:
                raise errors.UnknownActor(
                    f"broker {request.broker_id} is not supervised here (brokers {self.broker_ids})"
                )
            return control.KillResponse(killed=self.kill_broker(request.broker_id, sig, request.down_ms / 1000))
        try:
            self.kill(request.name, sig, request.down_ms / 1000)
        except KeyError as exc:
            raise errors.UnknownActor(exc.args[0]) from None
        return control.KillResponse(killed=[request.name])

    def _control_stop(self, request: control.StopCluster):
        threading.Thread(target=self.stop, daemon=True).start()
        return control.Ack()

    def _control_status(self, request: control.ClusterStatus):
        return control.StatusResponse(
            bootstrap=self.bootstrap_servers, data_dir=self.data_dir, logs_dir=self.logs_dir,
            controller_endpoint=self.controller_endpoint, supervisor_pid=os.getpid(),
            brokers=self.broker_ids, actors=len(self.children),
            failed=[c.name for c in self.children.values() if c.state == "failed"],
        )


def read_registry(data_dir: str) -> dict:
    """What a running supervisor wrote about itself (for ``zafka`` commands in other terminals)."""
    path = os.path.join(os.path.abspath(data_dir), REGISTRY_FILE)
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"no cluster is running with data dir {data_dir} (no {path})") from None


__all__ = ["Supervisor", "ChildSpec", "read_registry", "ConfigError"]
