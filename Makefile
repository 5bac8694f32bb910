# Every target creates the virtualenv first, so a fresh clone needs nothing else.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv run test test-slow bench bench-redis clean

$(STAMP): setup.cfg
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# A local 3-broker cluster on tcp://127.0.0.1:9092 in the foreground; Ctrl-C stops it.
run: $(STAMP)
	$(BIN)/zafka cluster start --brokers 3 --data-dir zafka-data --port 9092

test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -q

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow -q

bench: $(STAMP)
	$(BIN)/python scripts/bench_codec.py
	$(BIN)/python scripts/bench_storage.py

# zafka next to Redis Streams on the same machine; installs redis-server and redis-py itself.
bench-redis: $(STAMP)
	$(BIN)/python scripts/bench_vs_redis.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis zafka-data
