"""The decode gate turns every hostile frame into a ``FrameError``, and nothing else escapes it."""

from __future__ import annotations

import logging

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings

from actors.log_limit import LogLimit
from tests import hostile
from wire import errors, protocol
from wire.control import Ping
from wire.produce import Produce

GATE_CODES = {errors.InvalidRequest.code, errors.UnsupportedVersion.code}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(message=hostile.hostile_messages())
def test_decode_gate_raises_only_frame_error_for_hostile_messages(message):
    with pytest.raises(protocol.FrameError) as caught:
        protocol.decode_request(message[0], len(message) - 1)
    assert caught.value.code in GATE_CODES
    # the error reply built from it is itself a valid message for the client
    reply = protocol.decode_response(protocol.error_reply(caught.value.code, str(caught.value), caught.value.corr))
    assert reply.error == caught.value.code


@pytest.mark.parametrize("level", [b"\x91", b"\x81\xa1k"], ids=["arrays", "maps"])
def test_nesting_thousands_deep_is_a_frame_error_not_a_recursion_error(level):
    deep = level * 5000 + b"\xc0"
    with pytest.raises(protocol.FrameError, match="malformed request"):
        protocol.decode_request(deep, 0)
    # the same bytes as the value of an unknown field of a valid request
    wrapped = b"\x82\xa4type\xa4ping\xa1x" + deep
    with pytest.raises(protocol.FrameError, match="nested too deeply"):
        protocol.decode_request(wrapped, 0)


def test_a_deeply_nested_reply_is_a_frame_error_for_the_client():
    with pytest.raises(protocol.FrameError, match="malformed response"):
        protocol.decode_response(b"\x81\xa1k" * 5000 + b"\xc0")


def test_payload_frame_count_is_checked_by_type():
    ping = protocol.encode(Ping(corr=5))
    assert protocol.decode_request(ping, 0) == Ping(corr=5)
    with pytest.raises(protocol.FrameError, match="carries 0 payload frame") as caught:
        protocol.decode_request(ping, 3)
    assert caught.value.corr == 5  # the reply still reaches the caller's pending request
    produce = protocol.encode(Produce(topic="t", partition=0, corr=6))
    assert protocol.decode_request(produce, 1).topic == "t"
    for wrong in (0, 2):
        with pytest.raises(protocol.FrameError, match="carries 1 payload frame"):
            protocol.decode_request(produce, wrong)


def test_correlation_id_is_recovered_from_a_header_that_failed_validation():
    header = msgspec.msgpack.encode({"type": "ping", "corr": 77, "v": "one"})
    with pytest.raises(protocol.FrameError) as caught:
        protocol.decode_request(header, 0)
    assert caught.value.corr == 77
    for garbage in ([1, 2], False, True, 1.5, "7"):  # never echoed back: the reply must decode
        header = msgspec.msgpack.encode({"type": "ping", "corr": garbage, "v": "one"})
        with pytest.raises(protocol.FrameError) as caught:
            protocol.decode_request(header, 0)
        assert caught.value.corr == 0 and type(caught.value.corr) is int
        reply = protocol.error_reply(caught.value.code, str(caught.value), caught.value.corr)
        assert protocol.decode_response(reply).corr == 0


def test_every_request_type_has_a_well_formed_sample_that_decodes():
    # the strategies build hostile frames from these samples: they must be valid to begin with
    for cls in protocol.REQUEST_TYPES:
        header = msgspec.msgpack.encode(hostile.valid_fields(cls))
        assert type(protocol.decode_request(header, cls.payload_frames)) is cls


def test_log_limit_lets_a_burst_through_then_counts_and_reports(caplog):
    logger = logging.getLogger("test.loglimit")
    limit = LogLimit(logger, burst=3, window_s=10)
    with caplog.at_level(logging.INFO, logger="test.loglimit"):
        for i in range(10):
            limit.log(100.0 + i * 0.1, logging.INFO, "refused %d", i)
        assert [r.getMessage() for r in caplog.records] == ["refused 0", "refused 1", "refused 2"]
        assert limit.suppressed == 7
        limit.log(111.0, logging.INFO, "refused %d", 99)
    messages = [r.getMessage() for r in caplog.records]
    assert messages[3] == "7 more refused requests were not logged in the last 10 s"
    assert messages[4] == "refused 99"
    assert limit.suppressed == 0
