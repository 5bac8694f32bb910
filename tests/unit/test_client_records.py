"""Client value types, the per-record future, interceptor chains and bootstrap parsing."""

from __future__ import annotations

import concurrent.futures as cf
import subprocess
import sys
import threading

import pytest

from wire import errors
from wire.client.errors import ClientClosed, ClientConfigError, GroupsNotAvailable, NoOffsetForPartition, NotAssigned
from wire.client.futures import RecordFuture
from wire.client.interceptors import InterceptorChain
from wire.client.metadata import parse_bootstrap
from wire.client.records import ConsumerRecord, ProducerRecord, RecordMetadata, TopicPartition

# -- value types ---------------------------------------------------------------------------------


def test_topic_partition_is_hashable_and_equal_to_a_plain_tuple():
    tp = TopicPartition("orders", 2)
    assert {tp: 1}[TopicPartition("orders", 2)] == 1
    assert tp == ("orders", 2) and hash(tp) == hash(("orders", 2))
    topic, partition = tp
    assert (topic, partition) == ("orders", 2)


def test_record_types_have_the_documented_fields():
    assert RecordMetadata._fields == ("topic", "partition", "offset", "timestamp")
    assert ConsumerRecord._fields == ("topic", "partition", "offset", "key", "value", "headers", "timestamp")
    assert ProducerRecord("t")._asdict() == {
        "topic": "t", "value": None, "key": None, "partition": None, "headers": None, "timestamp_ms": None,
    }


def test_consumer_record_built_without_namedtuple_new_is_a_full_record():
    # The consumer builds records with tuple.__new__ for speed; they must behave the same.
    fast = tuple.__new__(ConsumerRecord, ("t", 0, 5, b"k", b"v", [], 9))
    assert fast == ConsumerRecord("t", 0, 5, b"k", b"v", [], 9)
    assert fast.offset == 5 and fast.value == b"v" and isinstance(fast, ConsumerRecord)


# -- the per-record future ----------------------------------------------------------------------


def test_future_completed_before_anyone_looks_never_builds_a_condition():
    f = RecordFuture()
    f.set_result(42)
    assert f._cond is None  # the cheap path was taken
    assert f.done() and f.result(0) == 42


_RACE = r"""
import gc, sys, threading
from wire.client.futures import RecordFuture

go, done, armed = threading.Semaphore(0), threading.Semaphore(0), [False]

class Garbage:  # cyclic garbage whose finalizer lets the other thread in mid-collection
    def __init__(self): self.me = self
    def __del__(self):
        if armed[0]:
            go.release(); done.acquire(timeout=0.5)

futures, keep = [RecordFuture() for _ in range(300)], []
def waiter():
    for f in futures:
        armed[0] = True
        Garbage()
        gc.disable(); keep.extend([{} for _ in range(90)]); gc.enable()  # the next GC allocation collects
        f.result(timeout=5)
        armed[0] = False
def completer():
    for k, f in enumerate(futures):
        inside = go.acquire(timeout=0.01)
        f.set_result((k, [k]))
        if inside:
            done.release()
threads = [threading.Thread(target=waiter), threading.Thread(target=completer)]
for t in threads: t.start()
for t in threads: t.join()
assert all(f.__dict__ == {} for f in futures)
del futures, keep
gc.collect()
print("ok")
"""


def test_future_survives_completion_while_its_waiter_is_inside_a_gc():
    """The sender completes a future while the caller's thread, just starting ``result()``, runs a
    collection whose finalizer released the GIL (about one suite run in three crashed or hung so):
    no segfault, no lost wake-up, no instance dict (see wire/client/futures.py)."""
    import os

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root, PYTHONMALLOC="debug", PYTHONFAULTHANDLER="1")
    run = subprocess.run([sys.executable, "-c", _RACE], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-2000:]


def test_future_wakes_a_waiter_that_was_already_blocked():
    f = RecordFuture()
    started = threading.Event()
    box = []

    def wait():
        started.set()
        box.append(f.result(timeout=10))

    t = threading.Thread(target=wait)
    t.start()
    assert started.wait(5)
    # The waiter may or may not be inside wait() yet; both orders must deliver the value.
    f.set_result("meta")
    t.join(10)
    assert not t.is_alive() and box == ["meta"]


def test_future_exception_reaches_result_and_exception():
    f = RecordFuture()
    err = errors.RecordTooLarge("too big")
    f.set_exception(err)
    with pytest.raises(errors.RecordTooLarge):
        f.result(0)
    assert f.exception(0) is err


def test_future_result_times_out_while_pending():
    with pytest.raises(cf.TimeoutError):
        RecordFuture().result(timeout=0.01)


def test_done_callbacks_run_once_whether_added_before_or_after_completion():
    calls = []
    f = RecordFuture()
    f.add_done_callback(lambda fut: calls.append(("before", fut.result())))
    f.set_result(1)
    f.add_done_callback(lambda fut: calls.append(("after", fut.result())))
    assert calls == [("before", 1), ("after", 1)]


def test_futures_work_with_wait_and_as_completed():
    futures = [RecordFuture() for _ in range(20)]
    futures[0].set_result(0)  # completed before anyone waits (cheap path)

    def complete_rest():
        for i, f in enumerate(futures[1:], 1):
            if i % 3:
                f.set_result(i)
            else:
                f.set_exception(errors.NotLeader("moved"))

    t = threading.Thread(target=complete_rest)
    t.start()
    done, not_done = cf.wait(futures, timeout=10)
    t.join(10)
    assert not not_done and len(done) == 20
    seen = {id(f) for f in cf.as_completed(futures, timeout=10)}
    assert seen == {id(f) for f in futures}


def test_record_futures_cannot_be_cancelled():
    f = RecordFuture()
    assert f.cancel() is False
    assert not f.cancelled()
    f.set_result(3)
    assert f.result(0) == 3


def test_many_futures_completed_while_waited_on_never_hang():
    futures = [RecordFuture() for _ in range(3000)]
    t = threading.Thread(target=lambda: [f.set_result(i) for i, f in enumerate(futures)])
    t.start()
    assert [f.result(timeout=10) for f in futures] == list(range(3000))
    t.join(10)


# -- interceptors ----------------------------------------------------------------------------------


class Tagger:
    def __init__(self, tag):
        self.tag = tag
        self.acks = []

    def on_send(self, record):
        return record._replace(value=record.value + self.tag)

    def on_acknowledgement(self, metadata, exception):
        self.acks.append((metadata, exception))

    def on_consume(self, records):
        return [r + (self.tag,) for r in records]


class Broken:
    def on_send(self, record):
        raise RuntimeError("boom")

    def on_acknowledgement(self, metadata, exception):
        raise RuntimeError("boom")

    def on_consume(self, records):
        raise RuntimeError("boom")

    def on_commit(self, offsets):
        raise RuntimeError("boom")


def test_interceptors_chain_in_order_and_a_failing_one_is_skipped(caplog):
    a, b = Tagger(b"-a"), Tagger(b"-b")
    chain = InterceptorChain([a, Broken(), b])
    out = chain.on_send(ProducerRecord("t", b"v"))
    assert out.value == b"v-a-b"
    chain.on_acknowledgement("meta", None)
    assert a.acks == b.acks == [("meta", None)]
    assert chain.on_consume([("r",)]) == [("r", b"-a", b"-b")]
    chain.on_commit({})  # only Broken has on_commit: logged, not raised
    assert sum("interceptor" in r.getMessage() for r in caplog.records) == 4


def test_interceptor_chain_reports_which_hooks_exist():
    chain = InterceptorChain([object()])
    assert not (chain.has_send or chain.has_ack or chain.has_consume)
    assert InterceptorChain([Tagger(b"")]).has_send


# -- bootstrap and errors ---------------------------------------------------------------------------


def test_bootstrap_lists_are_split_trimmed_deduplicated_and_get_a_scheme():
    assert parse_bootstrap(" tcp://a:1, b:2 ,tcp://a:1,") == ["tcp://a:1", "tcp://b:2"]
    assert parse_bootstrap(["tcp://x:9"]) == ["tcp://x:9"]
    with pytest.raises(ClientConfigError, match="tcp://127.0.0.1:9092"):
        parse_bootstrap(" , ")


def test_client_errors_are_zafka_errors_and_the_builtin_they_resemble():
    assert issubclass(ClientConfigError, errors.InvalidConfig) and issubclass(ClientConfigError, ValueError)
    assert issubclass(ClientClosed, errors.ZafkaError) and issubclass(ClientClosed, RuntimeError)
    assert issubclass(NotAssigned, errors.ZafkaError)
    assert issubclass(NoOffsetForPartition, errors.OffsetOutOfRange)
    assert issubclass(GroupsNotAvailable, NotImplementedError)
    assert "assign()" in str(GroupsNotAvailable("subscribe() needs groups"))  # says what to do instead


def test_importing_wire_does_not_import_the_clients():
    code = (
        "import sys, wire, wire.protocol;"
        "print(any(m in sys.modules for m in ('wire.client.producer', 'wire.client.consumer', 'wire.client.admin')));"
        "from wire import Producer, Consumer, Admin, TopicPartition, errors;"
        "print(Producer.__module__, Consumer.__module__, Admin.__module__, errors.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == [
        "False", "wire.client.producer", "wire.client.consumer", "wire.client.admin", "wire.errors",
    ]
