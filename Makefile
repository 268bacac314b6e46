.PHONY: install test test-fast lint format typecheck bench sample clean

install:
	bash scripts/install-dev.sh

test:
	python3 -m pytest

test-fast:
	python3 -m pytest -m "not slow and not server"

lint:
	ruff check fnrag training tests benchmarks
	ruff format --check fnrag training tests benchmarks

format:
	ruff format fnrag training tests benchmarks
	ruff check --fix fnrag training tests benchmarks

typecheck:
	mypy fnrag training

sample:
	fnrag build-index && fnrag search "실명확인을 생략할 수 있는 거래는?"

bench:
	python3 benchmarks/bench_retrieval.py

clean:
	rm -rf index/default .pytest_cache .mypy_cache .ruff_cache
