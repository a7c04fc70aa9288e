# pantau developer entry points. Every target bootstraps .venv by itself on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test test-fast fuzz lint fmt schema grafana demo bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,demo]'  # demo: every extra, the tests run all parts
	touch $(STAMP)

## test: the whole suite against real services (mosquitto, influxd, pymodbus over TCP and a socat pty); the 30
## slowest tests are listed at the end, so CI's log shows where its time goes (CI must stay well under 20 min)
test: $(STAMP)
	$(BIN)/python -m pytest --durations=30 $(PYTEST_ARGS)

## test-fast: the edit-test loop, well under 2 minutes: every test that starts no child process and opens no
## listening socket (`-m "not services"`; the rule and its guard: tests/harness/lanes.py)
test-fast: $(STAMP)
	PANTAU_FAST_LANE=1 $(BIN)/python -m pytest -m "not services" $(PYTEST_ARGS)

## fuzz: the fuzz tests of tests/fuzz (hypothesis) with the long profile: 20 000 examples per test, random, the
## example database kept so a finding replays (CI runs the same tests with the bounded, derandomized `ci` profile);
## then each coverage-guided atheris target for FUZZ_SECONDS (a crash is saved as crash-<hash> here)
FUZZ_SECONDS ?= 300
fuzz: $(STAMP)
	PANTAU_FUZZ_PROFILE=long $(BIN)/python -m pytest -m "not services" --timeout 3600 tests/fuzz $(PYTEST_ARGS)
	for target in records modbus contract; do \
		$(BIN)/python -m tests.fuzz.atheris_targets $$target -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

## faults: the fault-injection suite of tests/faults with the long profile: outages of a minute or two, three
## seeds per family, about three hours (make test runs one or two seeds per family with outages of seconds)
faults: $(STAMP)
	PANTAU_FAULT_PROFILE=long $(BIN)/python -m pytest tests/faults $(PYTEST_ARGS)

## lint: ruff (broad rule set) and mypy --strict on the packages
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## schema: regenerate docs/schema/*.json from the contract models
schema: $(STAMP)
	$(BIN)/pantau contract schema --out docs/schema

## grafana: regenerate grafana/ (dashboards, provisioning, alert rules) from the sites and the rules file
grafana: $(STAMP)
	$(BIN)/pantau grafana build

## demo: simulated sites, gateways, embedded broker, backend with rules and API on 127.0.0.1:8000 (Ctrl-C stops)
## (DEMO_ARGS passes options through, e.g. make demo DEMO_ARGS="--port 8080 --workdir var/demo")
demo: $(STAMP)
	$(BIN)/pantau demo $(DEMO_ARGS)

## bench: benchmarks (figures as ratios against a baseline run side by side; never part of `make test`).
## Each step says how long it took and the last line the total: all of it must stay under 15 minutes on
## 2 cores (issue 18; bench/results/<date>-make-bench.md has the last timing and where the time goes).
## BENCH_OUT=DIR writes the reports elsewhere (a trial run that must not replace the committed ones)
BENCH_START := $(shell date +%s)
BENCH_OUT ?= bench/results
timed = @started=$$(date +%s); $(BIN)/python -m $(1) && echo "make bench: $(1) took $$(( $$(date +%s) - started )) s"
bench: $(STAMP)
	$(call timed,bench.modbus_polling)
	$(call timed,bench.gateway_cpu --out $(BENCH_OUT))
	$(call timed,bench.ingest_throughput --out $(BENCH_OUT))
	$(call timed,bench.e2e_latency --out $(BENCH_OUT))
	$(call timed,bench.outbox_replay --out $(BENCH_OUT))
	$(call timed,bench.api_latency --profile --out $(BENCH_OUT))
	@echo "make bench: all took $$(( $$(date +%s) - $(BENCH_START) )) s (budget 900 s)"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
