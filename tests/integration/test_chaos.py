"""Long chaos run (make test-slow): random SIGKILLs under load lose no acknowledged record."""

from __future__ import annotations

import random

import pytest

from scripts.chaos import run_chaos


@pytest.mark.slow
def test_random_sigkills_under_load_lose_no_acknowledged_record(make_cluster):
    seed = random.randrange(1 << 30)
    print(f"chaos seed {seed}")
    sup = make_cluster(brokers=3, config={"supervisor.max.restarts": "1000"})
    result = run_chaos(sup, duration=45, seed=seed, partitions=6)
    assert len(result["kills"]) >= 20
    assert result["acked"] > 1000
    assert result["lost"] == [], f"seed {seed}: acknowledged records lost: {result['lost'][:10]}"
