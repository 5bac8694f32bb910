"""Codecs used from several threads at once (a producer's sender beside a consumer) stay correct."""

from __future__ import annotations

import os
import threading

from storage import compression


def test_each_thread_has_its_own_zstd_objects_and_round_trips_stay_exact():
    seen, failures = [], []

    def work(seed: int) -> None:
        seen.append((compression._zstd_compressor(), compression._zstd_decompressor()))
        for i in range(200):
            data = os.urandom(64) * (seed + i % 7 + 1)
            packed = compression.compress(compression.ZSTD, data)
            if compression.decompress(compression.ZSTD, packed) != data:
                failures.append((seed, i))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures
    assert len({id(c) for c, _ in seen}) == 4 and len({id(d) for _, d in seen}) == 4
