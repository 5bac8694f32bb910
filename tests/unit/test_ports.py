"""Actors' ports come from outside the ephemeral range, so no outgoing connection can take one."""

import random
import socket

from actors.ports import LOWEST_PORT, PortAllocator, ephemeral_range, listen_range


def test_the_listen_range_is_the_widest_stretch_outside_the_ephemeral_range():
    assert listen_range((32768, 60999)) == (LOWEST_PORT, 32767)  # Linux's default
    assert listen_range((10000, 50000)) == (50001, 65535)
    assert listen_range((10500, 65000)) is None  # too little room either side: the kernel chooses
    assert listen_range(None) is None


def test_the_kernel_range_is_read_from_its_file(tmp_path):
    path = tmp_path / "range"
    path.write_text("40000\t50000\n")
    assert ephemeral_range(str(path)) == (40000, 50000)
    path.write_text("garbage")
    assert ephemeral_range(str(path)) is None
    assert ephemeral_range(str(tmp_path / "missing")) is None


def test_ports_are_free_distinct_and_outside_the_range_outgoing_connections_use():
    low, high = 20000, 30000
    allocator = PortAllocator("127.0.0.1", (low, high), random.Random(7))
    ports = [allocator.take() for _ in range(50)]
    assert len(set(ports)) == 50 and all(low <= p <= high for p in ports)
    for port in ports[:5]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))  # really free


def test_a_port_someone_holds_is_skipped():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        held = holder.getsockname()[1]
        allocator = PortAllocator("127.0.0.1", (held, held), random.Random(1))
        port = allocator.take()  # the only port in range is held: the kernel's choice instead
        assert port != held and port > 0


def test_without_a_range_the_kernel_chooses():
    allocator = PortAllocator("127.0.0.1", None)
    a, b = allocator.take(), allocator.take()
    assert a != b and a > 0
