"""Settings as dataclasses: help text per field, loading from YAML, mirroring as CLI options.

Every tunable part of fnrag (search, refusal, asking, chunking, and each training step)
is a frozen dataclass whose fields are made with :func:`opt`, so the help text lives
next to the default. :func:`load_config` reads a YAML file into one (unknown keys and
wrong types are errors that name them); :func:`add_options` adds one command-line option
per field and :func:`overrides_from` collects the ones given.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from fnrag.errors import InputError

T = TypeVar("T")


def opt(default: Any, help: str) -> Any:
    """A dataclass field with a default and help text (lists/dicts/dataclasses are copied
    per instance)."""
    if isinstance(default, list | dict):
        value = default
        return dataclasses.field(
            default_factory=lambda: type(value)(value), metadata={"help": help}
        )
    if dataclasses.is_dataclass(default) and not isinstance(default, type):
        instance = default
        return dataclasses.field(
            default_factory=lambda: dataclasses.replace(instance), metadata={"help": help}
        )
    return dataclasses.field(default=default, metadata={"help": help})


def default_of(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _checked(value: Any, default: Any, key: str, origin: str) -> Any:
    """``value`` when it has the type of ``default`` (an int where a float is wanted is
    fine; a bool is never a number); else InputError naming the key."""
    if default is None or value is None:
        return value
    wanted = type(default)
    ok = isinstance(value, wanted) and not (isinstance(value, bool) and wanted is not bool)
    if wanted is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not ok:
        raise InputError(
            f"{origin}: {key} must be {wanted.__name__} (like {default!r}), "
            f"not {type(value).__name__} {value!r}"
        )
    return value


def config_from_mapping(
    cls: type[T], data: Mapping[str, Any], origin: str = "config", base: T | None = None
) -> T:
    """Build ``cls`` from a mapping (nested mappings for nested configs), starting from
    ``base`` or the defaults; keys the dataclass does not define are an error."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise InputError(
            f"{origin}: unknown key(s) {', '.join(unknown)}; valid keys: "
            f"{', '.join(sorted(fields))}"
        )
    values: dict[str, Any] = {}
    for name, value in data.items():
        f = fields[name]
        current = getattr(base, name) if base is not None else default_of(f)
        if dataclasses.is_dataclass(current) and not isinstance(current, type):
            if not isinstance(value, Mapping):
                raise InputError(f"{origin}: {name} must be a mapping of its own keys")
            values[name] = config_from_mapping(
                type(current), value, f"{origin}: {name}", base=current
            )
        else:
            values[name] = _checked(value, current, name, origin)
    if base is not None:
        return dataclasses.replace(base, **values)  # type: ignore[type-var]
    return cls(**values)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML file's top-level mapping, or InputError saying what is wrong with it."""
    import yaml

    file = Path(path)
    if not file.is_file():
        raise InputError(f"config file {file} not found; pass an existing YAML file")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise InputError(f"{file} is not valid YAML ({error}); fix the file") from None
    if not isinstance(data, dict):
        raise InputError(f"{file}: expected a mapping of option: value at the top level")
    return data


def load_config(
    cls: type[T], path: str | Path | None, overrides: Mapping[str, Any] | None = None
) -> T:
    """Read a YAML file into ``cls``; ``overrides`` (e.g. from the command line) win.

    With no ``path`` the config is the defaults plus ``overrides``. Overrides that are
    None (options not given) are ignored.
    """
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    if not path:
        return config_from_mapping(cls, given, origin="command line")
    data = read_yaml(path)
    data.update(given)
    return config_from_mapping(cls, data, origin=str(path))


def config_help(cls: type) -> str:
    """One line per field: name, default and help text."""
    lines = []
    for f in dataclasses.fields(cls):
        lines.append(f"  {f.name} (default {default_of(f)!r}): {f.metadata.get('help', '')}")
    return "\n".join(lines)


def scalar_fields(cls: type) -> list[dataclasses.Field]:
    """The fields of ``cls`` and of its nested configs that hold a plain value."""
    found = []
    for f in dataclasses.fields(cls):
        value = default_of(f)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            found.extend(scalar_fields(type(value)))
        elif isinstance(value, bool | int | float | str):
            found.append(f)
    return found


def add_options(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    flags: Mapping[str, Sequence[str]] | None = None,
    choices: Mapping[str, Sequence[str]] | None = None,
    skip: Sequence[str] = (),
) -> None:
    """One option per field of ``cls`` (nested configs flattened): ``--lexical-weight``.

    Options default to None, so a YAML file's value or the dataclass default applies
    unless the option is given. ``flags`` renames an option (``{"k": ["-k"]}``).
    """
    group = parser.add_argument_group(f"{cls.__name__} settings (also in the --config YAML file)")
    for f in scalar_fields(cls):
        if f.name in skip:
            continue
        default = default_of(f)
        names = list((flags or {}).get(f.name) or [f"--{f.name.replace('_', '-')}"])
        text = f"{f.metadata.get('help', '')} (default: {default})".replace("%", "%%")
        if isinstance(default, bool):
            group.add_argument(
                *names,
                dest=f.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=text,
            )
        else:
            group.add_argument(
                *names,
                dest=f.name,
                type=type(default),
                default=None,
                help=text,
                choices=(choices or {}).get(f.name),
                metavar=None if (choices or {}).get(f.name) else f.name.upper(),
            )


def overrides_from(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The options of ``cls`` given on the command line, nested like the dataclass."""
    given: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        value = default_of(f)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            nested = overrides_from(args, type(value))
            if nested:
                given[f.name] = nested
        elif getattr(args, f.name, None) is not None:
            given[f.name] = getattr(args, f.name)
    return given
