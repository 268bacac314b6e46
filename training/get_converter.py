"""Obtain llama.cpp's ``convert_hf_to_gguf.py`` offline-friendly, without vendoring it.

    python -m training.get_converter [--dest DIR]

llama-cpp-python's source distribution carries ``vendor/llama.cpp/convert_hf_to_gguf.py``
with the ``conversion/`` package and ``gguf-py/`` it imports. This downloads that sdist
once through pip (``pip download --no-binary :all:``, PyPI only) into the fnrag cache
and extracts just those three; later calls return the cached script. Machines without
network pass ``--converter PATH`` to ``training.export`` instead (any llama.cpp checkout).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path

from fnrag.embedders.e5convert import publish_dir
from fnrag.errors import FnragError
from training.smollm import default_cache_dir

LLAMA_CPP_PYTHON_VERSION = "0.3.36"
_MEMBERS = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/")


def converter_dir(version: str = LLAMA_CPP_PYTHON_VERSION) -> Path:
    return default_cache_dir() / f"llama.cpp-{version}"


def _extract(sdist: Path, dest: Path) -> None:
    prefix = f"{sdist.name.removesuffix('.tar.gz')}/vendor/llama.cpp/"
    tmp = Path(tempfile.mkdtemp(prefix=".converter-", dir=dest.parent))
    try:
        with tarfile.open(sdist) as archive:
            members = []
            for member in archive.getmembers():
                if not member.name.startswith(prefix):
                    continue
                relative = member.name[len(prefix) :]
                if any(relative == m or relative.startswith(m) for m in _MEMBERS) and (
                    member.isfile() or member.isdir()
                ):
                    member.name = relative
                    members.append(member)
            # "data" refuses links, absolute paths and parent references.
            archive.extractall(tmp, members=members, filter="data")
        if not (tmp / "convert_hf_to_gguf.py").is_file():
            raise FnragError(f"{sdist} holds no vendor/llama.cpp/convert_hf_to_gguf.py")
        publish_dir(tmp, dest, marker_ok=lambda d: (d / "convert_hf_to_gguf.py").is_file())
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def ensure_converter(dest: str | Path | None = None, sdist: str | Path | None = None) -> Path:
    """Path of ``convert_hf_to_gguf.py``, downloading the sdist through pip if needed."""
    target = Path(dest) if dest else converter_dir()
    script = target / "convert_hf_to_gguf.py"
    if script.is_file():
        return script
    target.parent.mkdir(parents=True, exist_ok=True)
    if sdist is None:
        download = target.parent / "sdist"
        name = f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}.tar.gz"
        if not (download / name).is_file():
            command = [
                sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                f"llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}",
                "-d", str(download),
            ]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0 or not (download / name).is_file():
                raise FnragError(
                    "could not download the llama-cpp-python sdist "
                    f"({done.stderr.strip()[-300:]}); pass --converter PATH to a llama.cpp "
                    "checkout's convert_hf_to_gguf.py instead"
                )
        sdist = download / name
    _extract(Path(sdist), target)
    return script


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.get_converter", description=__doc__)
    parser.add_argument("--dest", help="folder to extract into (default: the fnrag cache)")
    parser.add_argument("--sdist", help="an already downloaded llama_cpp_python-*.tar.gz")
    args = parser.parse_args(argv)
    try:
        print(ensure_converter(args.dest, args.sdist))
    except FnragError as error:
        print(f"get_converter: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
