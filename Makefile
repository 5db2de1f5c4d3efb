# One entry point per job. `make demo` and `make test` build .venv themselves on a fresh clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: setup demo test faults scale proof lint types pr clean infra-check bench bench-quick bench-fleet \
	bench-fleet-quick diagrams mutation

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/nightshift demo

test: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS) -q

# The whole fault matrix (tests/faults: every AWS call of every Lambda Task x every fault kind); `make test`
# runs one case per Task.
faults: $(STAMP)
	NIGHTSHIFT_FAULT_MATRIX=full $(BIN)/pytest -n $(PYTEST_WORKERS) -q tests/faults

# The fleet-scale workflow tests too slow for `make test` (200 alarm-started executions at once, ~5 minutes).
scale: $(STAMP)
	NIGHTSHIFT_SCALE=1 $(BIN)/pytest -p no:xdist -q tests/workflow/test_in_flight.py

# The capacity property (tests/proof) on PROOF_EXAMPLES random fleets and the overlapping-groups property on a
# quarter as many, split over the xdist workers; prints how many examples passed and the wall time (README
# "Safety" has the measured rate). NIGHTSHIFT_PROOF_SEED=n replays a run (shard k uses n + k).
PROOF_EXAMPLES ?= 1000
proof: $(STAMP)
	@mkdir -p out && rm -f out/proof.log && start=$$(date +%s); \
	NIGHTSHIFT_PROOF_EXAMPLES=$(PROOF_EXAMPLES) NIGHTSHIFT_PROOF_SHARDS=$(PYTEST_WORKERS) NIGHTSHIFT_PROOF_LOG=out/proof.log \
	  $(BIN)/pytest -n $(PYTEST_WORKERS) -q --hypothesis-show-statistics tests/proof/test_capacity_property.py \
	  tests/proof/test_overlap_property.py -k "random_fleets or overlapping_groups"; status=$$?; \
	echo "make proof: $$(grep -c '^ok' out/proof.log) capacity examples passed (of $(PROOF_EXAMPLES)), $$(grep -c '^overlap ok' out/proof.log) overlapping-groups examples (of $$(( $(PROOF_EXAMPLES) / 4 ))) in $$(( $$(date +%s) - start )) s"; \
	exit $$status

lint: $(STAMP)
	$(BIN)/ruff check steps nightshift tests bench
	$(BIN)/python -m nightshift.diagrams --check
	! grep -rnE '(^|[^a-z_])(time\.)?sleep\(' steps --include='*.py'

types: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench.run

# CI runs bench-quick: the remediation bench's quick form, then the fleet bench's (bench-fleet-quick).
bench-quick: $(STAMP)
	$(BIN)/python -m bench.run --quick
	$(BIN)/python -m bench.fleet --quick

# Fleet throughput (issue 17): N = 1,000 with 50 leakers, several at once against one at a time, and 12 simulated
# hours of a fleet that leaks every 2-3 hours; writes bench/fleet-results.{md,json} (refuses a dirty tree).
bench-fleet: $(STAMP)
	$(BIN)/python -m bench.fleet

bench-fleet-quick: $(STAMP)
	$(BIN)/python -m bench.fleet --quick

# Mutation testing of the safety code (docs/mutation.md): mutmut over the modules in pyproject's
# [tool.mutmut], then the ASL mutants of nightshift/mutate_asl.py, then one score and the survivors. Long.
mutation: $(STAMP)
	$(BIN)/python -m nightshift.mutation_fresh
	-nice -n 10 env -u PYTHONPATH $(BIN)/mutmut run --max-children $(PYTEST_WORKERS)
	nice -n 10 $(BIN)/python -m nightshift.mutate_asl
	$(BIN)/python -m nightshift.mutation_report

diagrams: $(STAMP)
	$(BIN)/python -m nightshift.diagrams --write

infra-check:
	PYTHON=$(PYTHON) bash infra/check.sh

pr: lint types test infra-check

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache out .venv-infra .tools build mutants

# `sam build` (infra/template.yaml: CodeUri ../, Metadata BuildMethod: makefile) runs `make build-<LogicalId>`
# here for every function: it gets the steps package and infra/function/requirements.txt, nothing else.
build-%Function:
	mkdir -p "$(ARTIFACTS_DIR)"
	cp -R steps "$(ARTIFACTS_DIR)/steps"
	find "$(ARTIFACTS_DIR)/steps" -name __pycache__ -prune -exec rm -rf {} +
	python3 -m pip install --quiet --disable-pip-version-check -r infra/function/requirements.txt -t "$(ARTIFACTS_DIR)"
