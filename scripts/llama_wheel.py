"""Builds llama-cpp-python portably, caches the wheel by its build flags, and checks the result.

pip compiles llama-cpp-python from source with llama.cpp's default ``GGML_NATIVE=ON``: the
library is then tuned to the CPU it was built on, and on another machine of the same kind
whose CPU differs (a Xeon with AMX, say) the first chat completion dies with a general
protection fault in ``libggml-cpu.so``. So the wheel is built with the instruction sets
named here and no others, and kept in a cache whose key is the version *and* the flags: a
wheel built with other flags (or natively) is never handed back.

    python3 scripts/llama_wheel.py wheel      # print the cached wheel's path, building it once
    python3 scripts/llama_wheel.py check      # fail unless the installed build is portable
    python3 scripts/llama_wheel.py info       # print llama.cpp's system-info line
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

VERSION = "0.3.36"
# AVX2-class x86-64 (every CPU of the machines this project runs on has these); no
# AVX-512, no AMX: those are opt-in for a bank's own server (README, "A faster server on
# a bank's own machine").
PORTABLE_CMAKE_ARGS = (
    "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON "
    "-DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF "
    "-DGGML_AVX_VNNI=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
)
# Features a portable build must not report in llama.cpp's system-info line.
NON_PORTABLE_FEATURES = (
    "AVX512",
    "AVX512_VBMI",
    "AVX512_VNNI",
    "AVX512_BF16",
    "AVX_VNNI",
    "AMX_INT8",
    "AMX_BF16",
    "AMX_TILE",
)
FLAGS_FILE = "build-flags.json"


class BuildError(RuntimeError):
    """The wheel could not be built or found; the message says what to do."""


def cache_root() -> Path:
    """Where built wheels are kept: ``$FNRAG_WHEEL_CACHE``, else ``~/.cache/fnrag-wheels``."""
    configured = os.environ.get("FNRAG_WHEEL_CACHE")
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fnrag-wheels"


def build_identity(version: str, cmake_args: str) -> dict[str, str]:
    """Everything the built binary depends on: the cache key is a hash of this."""
    return {
        "package": "llama-cpp-python",
        "version": version,
        "cmake_args": " ".join(shlex.split(cmake_args)),
        "python": sys.implementation.cache_tag or sys.version,
        "platform": sysconfig.get_platform(),
        "machine": platform.machine(),
    }


def cache_dir_for(identity: dict[str, str], root: Path | None = None) -> Path:
    """The cache folder of one build identity (version and flags both in the key)."""
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    return (root or cache_root()) / f"llama-cpp-python-{identity['version']}-{digest}"


def cached_wheel(folder: Path, identity: dict[str, str]) -> Path | None:
    """The wheel in ``folder`` when its recorded flags equal ``identity``; else None."""
    try:
        recorded = json.loads((folder / FLAGS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if recorded != identity:
        return None
    wheels = sorted(folder.glob("llama_cpp_python-*.whl"))
    return wheels[0] if len(wheels) == 1 else None


def build_wheel(identity: dict[str, str], root: Path | None = None) -> Path:
    """Returns the cached wheel for ``identity``, compiling it first when absent (~9 min)."""
    folder = cache_dir_for(identity, root)
    found = cached_wheel(folder, identity)
    if found is not None:
        return found
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache may be shared
    try:
        env = dict(os.environ, CMAKE_ARGS=identity["cmake_args"], FORCE_CMAKE="1")
        # --no-cache-dir: pip's own wheel cache is keyed by version only and would hand
        # back whatever was built before, native builds included.
        command = [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-cache-dir",
            "--no-deps",
            "--no-binary",
            "llama-cpp-python",
            "-w",
            str(tmp),
            f"llama-cpp-python=={identity['version']}",
        ]
        print(
            f"building llama-cpp-python {identity['version']} with CMAKE_ARGS="
            f"{identity['cmake_args']!r} (once; 4-9 minutes on 2 cores)",
            file=sys.stderr,
            flush=True,
        )
        result = subprocess.run(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        if result.returncode != 0:
            raise BuildError(
                "building llama-cpp-python failed; the last lines of pip's output:\n"
                + "\n".join(result.stdout.splitlines()[-30:])
                + "\nIt needs gcc, g++ and the Python headers (apt-get install build-essential "
                "python3-dev)."
            )
        (tmp / FLAGS_FILE).write_text(
            json.dumps(identity, indent=2, sort_keys=True), encoding="utf-8"
        )
        if cached_wheel(tmp, identity) is None:
            raise BuildError(f"pip wheel left no single llama_cpp_python wheel in {tmp}")
        if folder.exists():  # a half-written or foreign folder under our key: replace it
            shutil.rmtree(folder)
        os.replace(tmp, folder)  # atomic: a killed build never leaves a cache entry
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    wheel = cached_wheel(folder, identity)
    assert wheel is not None
    return wheel


def system_info() -> str:
    """llama.cpp's system-info line of the installed build (compile-time CPU features)."""
    code = "import llama_cpp; print(llama_cpp.llama_print_system_info().decode())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"llama_cpp does not import: {result.stderr.strip()[-500:]}")
    return result.stdout.strip()


def non_portable_features(info: str) -> list[str]:
    """The features in a system-info line that a portable build must not have."""
    enabled = set(re.findall(r"\b([A-Z0-9_]+) = 1\b", info))
    return [feature for feature in NON_PORTABLE_FEATURES if feature in enabled]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["wheel", "check", "info", "key"])
    parser.add_argument("--version", default=VERSION)
    parser.add_argument("--cmake-args", default=PORTABLE_CMAKE_ARGS)
    args = parser.parse_args(argv)
    identity = build_identity(args.version, args.cmake_args)
    try:
        if args.action == "key":
            print(cache_dir_for(identity))
        elif args.action == "wheel":
            print(build_wheel(identity))
        elif args.action == "info":
            print(system_info())
        else:
            info = system_info()
            bad = non_portable_features(info)
            if bad:
                print(
                    f"llama-cpp-python is built for this CPU only ({', '.join(bad)} on): "
                    f"{info}\nRe-run scripts/install-dev.sh, which installs the portable "
                    "build.",
                    file=sys.stderr,
                )
                return 1
            print(f"llama.cpp build is portable: {info}")
    except BuildError as error:
        print(f"llama_wheel: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
