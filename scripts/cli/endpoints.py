"""Broker endpoints on the command line: checked before use, and asked once before a command relies on them.

Why check up front: ZeroMQ takes almost any string. ``tcp://garbage`` fails deep
inside ``connect`` as "Invalid argument", a port of 99999 or an empty list is
accepted and the client then retries for its full 30 s timeout. So every endpoint
the user gives (``--bootstrap``, ``$ZAFKA_BOOTSTRAP``, ``--controller``) goes through
:func:`parse_endpoints` first, which names the bad value and the expected form.

Why ask before the command: the clients retry unreachable brokers for as long as
their request timeout (the cluster may be restarting). On the command line a
cluster that is not there at all should be said in a few seconds, not thirty:
:func:`check_answers` sends one Metadata request to every endpoint and returns at
the first reply, or fails after :data:`NO_ANSWER_TIMEOUT_S` naming the endpoints.
"""

from __future__ import annotations

import ipaddress
import re
import time

from .output import CommandError, seconds

NO_ANSWER_TIMEOUT_S = 5.0  # how long `zafka` waits for any bootstrap endpoint before saying nobody answers
RETRY_S = 0.1  # between attempts at an endpoint that refused the connection (it may be starting)
EXPECTED = "expected tcp://host:port (host a name or an IPv4 address; port 1-65535)"
# zafka's actors bind and advertise IPv4 endpoints only (listeners with an IPv6 host are not supported
# yet), so an IPv6 endpoint is refused here rather than accepted and never answered
NO_IPV6 = "IPv6 endpoints are not supported yet; use an IPv4 address (127.0.0.1) or a host name"

_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


class EndpointError(ValueError):
    """An endpoint string that cannot name a broker; the message names the value and the expected form."""


def _check_host(host: str, item: str) -> None:
    if not host:
        raise EndpointError(f"{item!r} has no host; {EXPECTED}")
    if host.startswith("[") or host.endswith("]"):
        inner = host[1:-1] if host.startswith("[") and host.endswith("]") else None
        try:
            ipaddress.IPv6Address(inner or "")
        except ValueError:
            raise EndpointError(f"{item!r}: {host} is not a bracketed IPv6 address; {EXPECTED}") from None
        raise EndpointError(f"{item!r}: {NO_IPV6}; {EXPECTED}")
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise EndpointError(f"{item!r}: {host!r} is not a host name; {EXPECTED}") from None
        raise EndpointError(f"{item!r}: {NO_IPV6}; {EXPECTED}")
    if re.fullmatch(r"[0-9.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise EndpointError(f"{item!r}: {host} is not an IPv4 address; {EXPECTED}") from None
        return
    name = host[:-1] if host.endswith(".") else host
    if len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
        raise EndpointError(f"{item!r}: {host!r} is not a host name; {EXPECTED}")


def parse_endpoint(text: str) -> str:
    """One endpoint, normalised to ``tcp://host:port`` (a bare ``host:port`` gets ``tcp://``)."""
    item = str(text).strip()
    if not item:
        raise EndpointError(f"the endpoint is empty; {EXPECTED}")
    if "," in item:
        raise EndpointError(f"{item!r}: one endpoint is wanted here, not a list; {EXPECTED}")
    rest = item
    if "://" in item:
        scheme, rest = item.split("://", 1)
        if scheme.lower() != "tcp":
            raise EndpointError(f"{item!r}: only tcp:// endpoints are supported, not {scheme}://; {EXPECTED}")
    elif "/" in item:
        raise EndpointError(f"{item!r} is not an endpoint; {EXPECTED}")
    if rest.startswith("[") and "]" in rest:
        close = rest.index("]")
        host, after = rest[: close + 1], rest[close + 1:]
        if not after.startswith(":"):
            raise EndpointError(f"{item!r} has no port; {EXPECTED}")
        port_text = after[1:]
    else:
        host, sep, port_text = rest.rpartition(":")
        if not sep:
            raise EndpointError(f"{item!r} has no port; {EXPECTED}")
    if not port_text:
        raise EndpointError(f"{item!r} has no port; {EXPECTED}")
    if not port_text.isascii() or not port_text.isdigit():
        raise EndpointError(f"{item!r}: port {port_text!r} is not a number; {EXPECTED}")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise EndpointError(f"{item!r}: port {port} is out of range; {EXPECTED}")
    _check_host(host, item)
    return f"tcp://{host}:{port}"


def parse_endpoints(text: str) -> list[str]:
    """A comma-separated list of endpoints, normalised and without duplicates; never empty.

    An empty entry (``a,,b`` or a trailing comma) is an error rather than skipped:
    it is usually a variable that expanded to nothing.
    """
    raw = str(text)
    if not raw.strip():
        raise EndpointError(f"no endpoint given (the value is empty); {EXPECTED}, several comma-separated")
    items = raw.split(",")
    endpoints: list[str] = []
    for i, item in enumerate(items, 1):
        if not item.strip():
            raise EndpointError(f"{raw!r}: entry {i} of {len(items)} is empty; {EXPECTED}, several comma-separated")
        endpoint = parse_endpoint(item)
        if endpoint not in endpoints:
            endpoints.append(endpoint)
    return endpoints


# -- does anything answer? -------------------------------------------------------------------------

def _reason(error: BaseException) -> str:
    text = str(error)
    if text.startswith("cannot connect"):
        return "connection refused or unreachable"
    if text.startswith("lost the connection"):
        return "the connection dropped"
    if text.startswith("no reply"):
        return "no reply"
    return text


def _unresolvable(endpoint: str) -> str | None:
    """Why a host name cannot be looked up, or None (ZeroMQ would only retry it silently)."""
    import socket

    host = endpoint.removeprefix("tcp://").rpartition(":")[0]
    if host.startswith("[") or re.fullmatch(r"[0-9.]+", host):
        return None
    try:
        socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"cannot resolve host {host!r}: {exc.strerror}"
    except OSError:
        return None  # let the connection attempt say what is wrong
    return None


def check_answers(endpoints: list[str], source: str, timeout_s: float | None = None) -> str:
    """The first endpoint whose broker answers a Metadata request; ``CommandError`` if none does in time.

    Any reply counts, an error reply too: something speaking zafka's protocol is
    there, and the command's own request will report what is wrong. An endpoint
    that refuses the connection is asked again every :data:`RETRY_S`, so a cluster
    that is still starting is found as soon as it listens.
    """
    import zmq

    from wire.connections import ConnectionPool, Reply
    from wire.errors import ZafkaError
    from wire.metadata import Metadata

    timeout_s = NO_ANSWER_TIMEOUT_S if timeout_s is None else timeout_s
    deadline = time.monotonic() + timeout_s
    reasons: dict[str, str] = {}
    due = {}  # endpoint -> when to (re)send
    for endpoint in endpoints:
        unresolved = _unresolvable(endpoint)
        if unresolved:
            reasons[endpoint] = unresolved
        else:
            due[endpoint] = 0.0
    sent = False
    pool = ConnectionPool()
    try:
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            for endpoint, at in list(due.items()):
                if at > now:
                    continue
                del due[endpoint]
                try:
                    pool.send(endpoint, Metadata(topics=[], allow_auto_create=False),
                              timeout_ms=(deadline - now) * 1000, context=endpoint)
                    sent = True
                except (ZafkaError, zmq.ZMQError) as exc:
                    reasons[endpoint] = str(exc)
            if not due and not pool.pending_count():
                break  # every endpoint failed in a way asking again cannot fix
            wake = min([deadline, *due.values()])
            for event in pool.poll(max(wake - time.monotonic(), 0) * 1000):
                if isinstance(event, Reply):
                    return event.context
                reason = _reason(event.error)
                if reason != "no reply" or event.context not in reasons:
                    # a retry cut short by the deadline says less than the refusal before it
                    reasons[event.context] = reason
                due[event.context] = time.monotonic() + RETRY_S
    finally:
        pool.close()
    if len(endpoints) == 1:
        why = reasons.get(endpoints[0], "no reply")
        where = f"at {endpoints[0]} ({source})"
    else:
        why = "; ".join(f"{e}: {reasons.get(e, 'no reply')}" for e in endpoints)
        where = f"at any of {', '.join(endpoints)} ({source})"
    waited = f" within {seconds(timeout_s)} s" if sent else ""
    raise CommandError(
        f"no zafka broker answered {where}{waited} ({why}); "
        "is the cluster running? see `zafka cluster status`, or pass --bootstrap tcp://HOST:PORT"
    )
