"""An actor answers every request, whatever its handler raises, and keeps serving."""

from __future__ import annotations

from actors.runtime import Actor, ActorSpec, Inbound
from wire import errors, protocol
from wire.control import Ack, Ping
from wire.fetch import Fetch


class _Outbox:
    def __init__(self):
        self.sent = []

    def send_multipart(self, parts, copy=True):
        self.sent.append(parts)


class _Unencodable(protocol.Response, tag="unencodable_test_r"):
    value: object = None


def _actor(handlers) -> tuple[Actor, _Outbox]:
    spec = ActorSpec(name="test-actor", kind="broker", bind="tcp://127.0.0.1:1", advertised="",
                     data_dir="/nonexistent", controller="")
    actor = Actor(spec, "inproc://unused")
    actor._outbox = outbox = _Outbox()
    actor.handlers = handlers
    return actor, outbox


def _replies(outbox: _Outbox) -> list[protocol.Response]:
    return [protocol.decode_response(parts[1]) for parts in outbox.sent]


def test_handler_exceptions_of_any_kind_become_error_replies():
    raised = iter([errors.NotLeader("moved"), KeyError("k"), RecursionError("deep"), ZeroDivisionError()])
    actor, outbox = _actor({Ping: lambda *_: (_ for _ in ()).throw(next(raised))})
    for corr in (1, 2, 3, 4):
        actor._dispatch(Inbound(b"peer", Ping(corr=corr), []))
    replies = _replies(outbox)
    assert [r.corr for r in replies] == [1, 2, 3, 4]
    assert replies[0].error == errors.NotLeader.code
    assert all(r.error == errors.UnknownServerError.code for r in replies[1:])
    assert "RecursionError" in replies[2].message


def test_a_reply_that_cannot_be_encoded_is_answered_with_an_error():
    actor, outbox = _actor({Ping: lambda *_: _Unencodable(value=object())})
    actor._dispatch(Inbound(b"peer", Ping(corr=9), []))
    (reply,) = _replies(outbox)
    assert reply.corr == 9 and reply.error == errors.UnknownServerError.code


def test_a_request_type_without_a_handler_is_refused_by_name():
    actor, outbox = _actor({Ping: lambda *_: Ack()})
    actor._dispatch(Inbound(b"peer", Fetch(topic="t", partition=0, offset=0, corr=3), []))
    actor._dispatch(Inbound(b"peer", Ping(corr=4), []))
    first, second = _replies(outbox)
    assert first.error == errors.InvalidRequest.code and "does not handle fetch requests" in first.message
    assert isinstance(second, Ack) and second.corr == 4


def test_an_answer_that_cannot_be_sent_does_not_escape_dispatch():
    actor, outbox = _actor({Ping: lambda *_: Ack()})
    attempts = []

    def broken(parts, copy=True):
        attempts.append(protocol.decode_response(parts[1]))
        raise OSError("outbox closed")

    outbox.send_multipart = broken
    actor._dispatch(Inbound(b"peer", Ping(corr=1), []))  # returns normally: the actor thread lives on
    assert [type(a) for a in attempts] == [Ack, protocol.ErrorResponse]  # the answer, then the error answer
