# rillet developer tasks. Everything runs inside .venv, created on first use.
#   make demo   the main job: train a CNN on the bundled digits, save, log, plot, reload
#   make test   run the test suite (and the doctests in rillet/)
#   make lint   ruff check + ruff format --check
#   make fuzz   differential fuzzing of graph mode (FUZZ_SECONDS=600)
#   make bench  the benchmark suite against PyTorch, TensorFlow, JAX, ONNX Runtime (~20 min)
#   make bench-graph  graph executor overhead and the compiled MLP step vs eager
#   make bench-aot  loops built ahead of time vs Numba's just-in-time (time, memory)
#   make bench-fit  fit throughput against Keras (TensorFlow) and PyTorch (~5 min)
#   make kws    keyword spotting end to end: espeak-ng data, training, streaming (~5 min)

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
AOT := rillet/ops/_aot_loops.json

.PHONY: venv demo test lint format clean

venv: $(STAMP) $(AOT)
	@:

# Re-install only when pyproject.toml is newer than the stamp (pip is slow even as a no-op).
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing rillet and its test tools into $(VENV) ..."
	@$(PY) -m pip install --quiet --disable-pip-version-check -e ".[test,lint]"
	@touch $(STAMP)

# The loop kernels with ahead-of-time signatures, compiled for this CPU into one extension
# module (rillet/ops/_aot.py): a process whose loops all match it never loads Numba and LLVM.
# Rebuilt when an op module changes; where the build fails, the loops compile on first use.
$(AOT): $(STAMP) $(wildcard rillet/ops/*.py)
	@echo "building the ahead-of-time loop kernels ..."
	@$(PY) -m rillet.ops._aot >/dev/null || \
		echo "the ahead-of-time build failed: loops will be compiled on first use (Numba)"

demo: venv
	$(VENV)/bin/rillet train examples/digits_cnn.py demo_output

test: venv
	$(PY) -m pytest -n 2 tests rillet

# Graph executor overhead (results and command lines in benchmarks/RESULTS.md), with NumPy's
# BLAS on its own kernel choice for the CPU, as the other benchmarks run it.
.PHONY: bench-graph
bench-graph: venv
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) benchmarks/graph_overhead.py

# Loops built ahead of time against Numba's just-in-time ones: step time, peak RSS and first
# call of rillet's suite workers, each way (benchmarks/aot_loops.py; results in RESULTS.md).
.PHONY: bench-aot
bench-aot: venv
	$(PY) benchmarks/aot_loops.py $(BENCH_AOT_ARGS)

# The peers live in their own environment, .venv-bench, made on first use (a new peer list
# gets a new stamp, so an older .venv-bench is topped up once).
BENCH_VENV := .venv-bench
BENCH_PEERS ?= tensorflow-cpu==2.21.0 torch==2.13.0 jax==0.10.2 onnxruntime==1.32.0 \
	onnx==1.23.2 threadpoolctl
BENCH_STAMP := $(BENCH_VENV)/.installed-suite

$(BENCH_STAMP):
	@test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	@echo "installing the benchmark peers ($(BENCH_PEERS)) into $(BENCH_VENV) ..."
	@$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check $(BENCH_PEERS)
	@touch $(BENCH_STAMP)

# threadpoolctl in .venv too: the workers report the BLAS they use.
.PHONY: bench-tools
bench-tools: venv
	@$(PY) -c "import threadpoolctl" 2>/dev/null || \
		$(PY) -m pip install --quiet --disable-pip-version-check threadpoolctl

# fit throughput against Keras 3 (TensorFlow) and PyTorch (benchmarks/fit_throughput.py).
.PHONY: bench-fit
bench-fit: bench-tools $(BENCH_STAMP)
	$(PY) benchmarks/fit_throughput.py $(BENCH_FIT_ARGS)

# The benchmark suite (benchmarks/suite/run.py): every workload for rillet and each peer, each
# (framework, variant, workload) in its own process, interleaved round by round; writes the
# "Benchmark suite" section of benchmarks/RESULTS.md. BENCH_ARGS passes options on, e.g.
# BENCH_ARGS="--quick" (every worker once) or BENCH_ARGS="--workloads mlp,cnn --rounds 3".
.PHONY: bench
bench: bench-tools $(BENCH_STAMP)
	@$(PY) -m compileall -q rillet  # as pip does on install (the peers' were, in .venv-bench)
	$(PY) benchmarks/suite/run.py $(BENCH_ARGS)

# End-to-end keyword spotting (examples/kws/README.md): make the data set with espeak-ng
# (installed with apt-get when missing and running as root; otherwise the small set shipped in
# examples/kws/data/shipped/ is used), train, then stream a long recording. About 5 minutes.
.PHONY: kws
kws: venv
	@command -v espeak-ng >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& apt-get update -qq && apt-get install -y -qq espeak-ng >/dev/null; } \
		|| echo "espeak-ng is not available: the shipped data set will be used"
	$(PY) -m examples.kws

# Differential fuzzing of graph mode (rillet.testing.fuzz) for FUZZ_SECONDS seconds: random
# programs run eagerly and as graphs must agree; shrunk reproducers of any disagreement are
# saved as tests in tests/graph/regressions/.
FUZZ_SECONDS ?= 600

.PHONY: fuzz
fuzz: venv
	$(PY) -m rillet.testing.fuzz --seconds $(FUZZ_SECONDS) --save-dir tests/graph/regressions

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: venv
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .hypothesis rillet/ops/_aot_loops.*
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
