"""Ingest one file in a child process and report the outcome as one JSON line.

Usage: python tests/ingest_child.py FILE [MEMORY_MB]

Used by tests/test_hostile_input.py and benchmarks/fuzz_ingest.py so a hostile
file that hangs or eats memory kills only the child.  Outcome ``ok`` (document
loaded and chunked), ``fnrag`` (a FnragError: the intended clear refusal) or
``crash`` (any other exception: a bug), with the error type and message.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def ingest(path: Path) -> dict[str, object]:
    from fnrag.chunking import chunk_document
    from fnrag.errors import FnragError
    from fnrag.ingest.sources import load_document

    try:
        document = load_document(path, path.name)
        chunks = chunk_document(document)
    except FnragError as error:
        return {"outcome": "fnrag", "type": type(error).__name__, "message": str(error)[:500]}
    except BaseException as error:
        return {"outcome": "crash", "type": type(error).__name__, "message": str(error)[:500]}
    return {"outcome": "ok", "chunks": len(chunks), "chars": len(document.text)}


def main() -> int:
    path = Path(sys.argv[1])
    memory_mb = int(sys.argv[2]) if len(sys.argv) > 2 else 2048
    limit = memory_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    print(json.dumps(ingest(path), ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
