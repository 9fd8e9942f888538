"""Shared test setup: offline settings, an isolated home, and the real-server fixtures."""

from __future__ import annotations

import os

# Tests run offline, like the product: nothing may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# `make test` runs two workers on two cores: a local LLM server on both cores would stall
# at every layer whenever the other worker runs (the product default is every core).
os.environ.setdefault("CURATION_LLM__N_THREADS", "1")

pytest_plugins = [
    "tests.fixtures.home",
    "tests.fixtures.llm",
    "tests.fixtures.runs",
    "tests.fixtures.argilla",
    "tests.fixtures.deterministic_llm",
]
