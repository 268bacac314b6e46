"""Signed manifests: authenticity on top of the manifest's checksums.

The manifest names every data file with its sha256, so whoever can write the index
folder can edit a chunk and recompute its checksum. A signature made with a secret
key closes that gap: ``HMAC-SHA256(key, DOMAIN + exact manifest bytes)``, stored in
``signature-<build_id>.json`` beside the manifest. Because the manifest names every
data file's checksum, the signature covers the whole index.

Each build writes its own signature file *before* it replaces ``manifest.json``
(the commit), exactly like its data files. A build killed in between leaves the old
manifest with the old signature, both still valid; the new signature is an orphan
swept by the next build. A signature only validates the exact bytes it was made
for, and the manifest holds its build id, so a stale signature never vouches for
another build.

Keys are files of at least 32 random bytes, read byte for byte
(``head -c 32 /dev/urandom > index.key; chmod 600 index.key``); ``$FNRAG_INDEX_KEY``
names the file when no key is given.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from pathlib import Path
from typing import Any

from fnrag.errors import IndexFormatError, InputError
from fnrag.files import write_file_atomic

__all__ = [
    "ALGORITHM",
    "ENV_KEY",
    "MIN_KEY_BYTES",
    "KeySource",
    "key_id",
    "load_key",
    "resolve_key",
    "sign_manifest",
    "signature_name",
    "verify_manifest",
    "write_signature",
]

ALGORITHM = "hmac-sha256"
ENV_KEY = "FNRAG_INDEX_KEY"
MIN_KEY_BYTES = 32
# A key file is a few dozen bytes; anything this large was given by mistake (a PDF).
MAX_KEY_BYTES = 4096
MAX_SIGNATURE_BYTES = 4096
SIGNATURE_FORMAT = "fnrag-index-signature"
SIGNATURE_PREFIX = "signature-"
# Domain separation: a MAC made here can never be replayed as some other fnrag MAC.
_DOMAIN = b"fnrag-index-manifest-v1\0"
_KEY_ID_DOMAIN = b"fnrag-index-key-id-v1\0"
_BUILD_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{0,63}")
_MAKE_KEY = "make one with `head -c 32 /dev/urandom > index.key && chmod 600 index.key`"

KeySource = str | os.PathLike[str] | bytes


def load_key(source: KeySource, what: str = "index key") -> bytes:
    """The key bytes: ``bytes`` are the key itself, a path names a key file."""
    if isinstance(source, bytes | bytearray):
        key, where = bytes(source), what
    else:
        path = Path(os.fsdecode(source)).expanduser()
        where = f"{what} file {path}"
        try:
            if path.stat().st_size > MAX_KEY_BYTES:
                raise InputError(
                    f"{where} is larger than {MAX_KEY_BYTES} bytes, so it is not a key file; "
                    f"{_MAKE_KEY}"
                )
            key = path.read_bytes()
        except FileNotFoundError:
            raise InputError(
                f"{where} does not exist; give the right file (--index-key, --sign-key or "
                f"${ENV_KEY}) or {_MAKE_KEY}"
            ) from None
        except OSError as error:
            raise InputError(
                f"cannot read {where} ({error.strerror or error}); give a readable key file"
            ) from None
    if len(key) < MIN_KEY_BYTES:
        raise InputError(
            f"{where} holds {len(key)} bytes; an HMAC-SHA256 key needs at least "
            f"{MIN_KEY_BYTES} random bytes: {_MAKE_KEY}"
        )
    # 32 random bytes show ~30 distinct values; a handful means a typed or zero key.
    if len(set(key)) < 8:
        raise InputError(
            f"{where} is not random (only {len(set(key))} distinct byte values); {_MAKE_KEY}"
        )
    return key


def resolve_key(source: KeySource | None) -> bytes | None:
    """The key from ``source``, else from ``$FNRAG_INDEX_KEY``, else None (no signing)."""
    if source is not None:
        return load_key(source)
    configured = os.environ.get(ENV_KEY)
    if not configured:
        return None
    return load_key(configured, f"${ENV_KEY} key")


def key_id(key: bytes) -> str:
    """A short public fingerprint of ``key``: it says which key, and reveals nothing of it."""
    return hashlib.sha256(_KEY_ID_DOMAIN + key).hexdigest()[:16]


def signature_name(build_id: object) -> str:
    if not isinstance(build_id, str) or not _BUILD_ID.fullmatch(build_id):
        raise IndexFormatError(
            f"the manifest has an invalid build id {build_id!r}; it was damaged or tampered "
            "with: rebuild the index with `fnrag build-index --sign-key KEY`"
        )
    return f"{SIGNATURE_PREFIX}{build_id}.json"


def _mac(key: bytes, manifest_bytes: bytes) -> bytes:
    return hmac.new(key, _DOMAIN + manifest_bytes, hashlib.sha256).digest()


def sign_manifest(manifest_bytes: bytes, build_id: str, key: bytes) -> bytes:
    """The signature file's bytes for these exact manifest bytes."""
    record = {
        "format": SIGNATURE_FORMAT,
        "version": 1,
        "algorithm": ALGORITHM,
        "key_id": key_id(key),
        "build_id": build_id,
        "manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest(),
        "signature": _mac(key, manifest_bytes).hex(),
    }
    return (json.dumps(record, indent=2) + "\n").encode("ascii")


def write_signature(index_dir: Path, manifest_bytes: bytes, build_id: str, key: bytes) -> str:
    """Write (atomically) the signature of ``manifest_bytes``; return its file name.

    Call it before the manifest is replaced: see the module docstring for why.
    """
    name = signature_name(build_id)
    write_file_atomic(index_dir / name, sign_manifest(manifest_bytes, build_id, key))
    return name


def verify_manifest(index_dir: Path, manifest_bytes: bytes, key: bytes) -> str:
    """Check that ``manifest_bytes`` were signed with ``key``; return the key id.

    Raises IndexFormatError (saying what to do) for an unsigned index, another key's
    signature, or a manifest changed after signing. Only the manifest is parsed here.
    """
    rebuild = "rebuild it with `fnrag build-index SOURCE... --sign-key KEY`"
    try:
        build_id = json.loads(manifest_bytes.decode("utf-8")).get("build_id")
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        raise IndexFormatError(
            f"the manifest of {index_dir} is not valid JSON, so its signature cannot hold: "
            f"the index was damaged or tampered with; {rebuild}"
        ) from None
    path = index_dir / signature_name(build_id)
    try:
        if path.stat().st_size > MAX_SIGNATURE_BYTES:
            raise IndexFormatError(f"{path} is too large to be a signature; {rebuild}")
        record: Any = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise IndexFormatError(
            f"the index at {index_dir} is not signed, and an index key is configured; "
            f"{rebuild}, or load it without --index-key/${ENV_KEY} if you trust it"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise IndexFormatError(f"{path} is not a readable signature; {rebuild}") from None
    if not isinstance(record, dict) or record.get("format") != SIGNATURE_FORMAT:
        raise IndexFormatError(f"{path} is not an fnrag index signature; {rebuild}")
    # The file never chooses how it is checked: only the algorithm we trust is accepted.
    if record.get("algorithm") != ALGORITHM:
        raise IndexFormatError(
            f"{path} uses signature algorithm {record.get('algorithm')!r}, not {ALGORITHM}; "
            f"{rebuild}"
        )
    try:
        claimed = bytes.fromhex(str(record.get("signature", "")))
    except ValueError:
        claimed = b""
    expected = _mac(key, manifest_bytes)
    if hmac.compare_digest(claimed, expected):
        return key_id(key)
    mine = key_id(key)
    theirs = record.get("key_id")
    if theirs != mine:
        raise IndexFormatError(
            f"the index at {index_dir} was signed with another key (key id {theirs!s:.16}, "
            f"yours {mine}); check --index-key/${ENV_KEY} names the key it was built with, "
            f"or {rebuild}"
        )
    raise IndexFormatError(
        f"the manifest of {index_dir} does not match its signature: it was changed after "
        f"signing (tampered with or damaged); do not use it: {rebuild}"
    )
