"""Front matter through ruamel.yaml's round-trip mode, and conversions of what it loads."""

from __future__ import annotations

import copy
import io
import re
import threading
from collections.abc import Mapping, MutableMapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.scalarbool import ScalarBoolean
from ruamel.yaml.scalarfloat import ScalarFloat
from ruamel.yaml.scalarint import ScalarInt
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from scopecraft._errors import MalformedTask
from scopecraft.tasks._lines import is_blank, split_lines

# Lines of front matter never wrap when written back.
_WIDTH = 4096


_local = threading.local()


def _yaml() -> YAML:
    # One instance per thread: ruamel.yaml's objects are not thread-safe (the store runs in
    # worker threads), and building one scans ruamel's plug-in folder, so it is kept.
    yaml: YAML | None = getattr(_local, "yaml", None)
    if yaml is None:
        yaml = YAML(typ="rt")
        yaml.preserve_quotes = True
        yaml.width = _WIDTH
        yaml.allow_unicode = True
        yaml.indent(mapping=2, sequence=4, offset=2)
        _local.yaml = yaml
    return yaml


def load_front_matter(text: str, where: Path | str) -> CommentedMap:
    """Load a front-matter block into a round-trip mapping.

    Args:
        text: The YAML between the ``---`` lines.
        where: The file, for error messages.

    Returns:
        The mapping (empty for an empty block).

    Raises:
        MalformedTask: When the block is not valid YAML or not a mapping.
    """
    try:
        data = _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        at = f" at front-matter line {mark.line + 1}" if mark is not None else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise MalformedTask(where, f"the front matter is not valid YAML{at}: {problem}") from exc
    except Exception as exc:  # ruamel.yaml raises assorted errors on hostile input
        raise MalformedTask(where, f"the front matter is not valid YAML: {exc}") from exc
    if data is None:
        return CommentedMap()
    if not isinstance(data, CommentedMap):
        raise MalformedTask(where, "the front matter is not a mapping of keys to values")
    return data


def dump_front_matter(data: Mapping[object, object]) -> str:
    """Write a mapping as YAML (the text between the ``---`` lines), comments included.

    Args:
        data: The mapping, usually the round-trip mapping read from a file.

    Returns:
        The YAML text, ending with a newline (empty for an empty mapping).
    """
    if not data:
        return ""
    if _has_unicode_break(data):
        data = _quote_unicode_breaks(copy.deepcopy(data))
    stream = io.StringIO()
    _yaml().dump(data, stream)
    return stream.getvalue()


# ruamel.yaml writes NEL, LS and PS raw inside single quotes, where NEL reads back as a space;
# double quotes escape them.
_UNICODE_BREAKS = re.compile("[\x85\u2028\u2029]")


def _has_unicode_break(value: object) -> bool:
    if isinstance(value, str):
        return _UNICODE_BREAKS.search(value) is not None
    if isinstance(value, Mapping):
        return any(_has_unicode_break(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_has_unicode_break(item) for item in value)
    return False


def _quote_unicode_breaks(value: Any) -> Any:
    if isinstance(value, str):
        return DoubleQuotedScalarString(value) if _UNICODE_BREAKS.search(value) else value
    if isinstance(value, MutableMapping):
        for key in list(value):
            value[key] = _quote_unicode_breaks(value[key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            value[index] = _quote_unicode_breaks(item)
    elif isinstance(value, tuple):
        return [_quote_unicode_breaks(item) for item in value]
    return value


def to_builtin(value: object) -> object:
    """Turn what ruamel.yaml loads into plain Python values (dict, list, str, int, ...).

    Args:
        value: A loaded value.

    Returns:
        The same value made of builtin types; timestamps become ``datetime`` objects.
    """
    if isinstance(value, Mapping):
        return {to_builtin(key): to_builtin(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_builtin(item) for item in value]
    if isinstance(value, str):
        return str(value)
    if isinstance(value, ScalarBoolean):
        return bool(value)
    if isinstance(value, ScalarInt):
        return int(value)
    if isinstance(value, ScalarFloat):
        return float(value)
    if isinstance(value, datetime):
        return datetime(
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            value.microsecond,
            tzinfo=value.tzinfo,
        )
    if isinstance(value, date):
        return date(value.year, value.month, value.day)
    return value


def ordered_data(value: object) -> object:
    """Return a comparable form of loaded YAML that keeps key order and scalar types.

    Two front matters are the same data when their ``ordered_data`` are equal: the same keys in
    the same order, the same values, ``True`` distinct from ``1``.

    Args:
        value: A loaded value.

    Returns:
        Nested tuples and scalars.
    """
    if isinstance(value, Mapping):
        return ("map", tuple((ordered_data(k), ordered_data(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return ("seq", tuple(ordered_data(item) for item in value))
    plain = to_builtin(value)
    return (type(plain).__name__, plain)


def replace_key_line(
    fm_text: str, key: str, value: object, exists: bool, newline: str
) -> str | None:
    """Return ``fm_text`` with ``key``'s line set to ``value``; ``None`` if not that simple."""
    dumped = dump_front_matter(CommentedMap([(key, value)]))
    prefix = f"{key}:"
    if not dumped.startswith(prefix) or dumped.count("\n") != 1:
        return None
    value_text = dumped[len(prefix) :].strip()
    lines = split_lines(fm_text)
    if not exists:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += newline
        lines.append(f"{key}: {value_text}{newline}")
        return "".join(lines)
    key_line = re.compile(
        re.escape(key)
        + r"(?P<sep>[ \t]*:)(?P<space>[ \t]*)"
        + r"(?P<value>\"(?:[^\"\\]|\\.)*\"|'(?:[^']|'')*'|[^\s#][^\r\n]*?)?"
        + r"(?P<comment>[ \t]+#[^\r\n]*)?[ \t]*(?P<end>\r?\n?)"
    )
    found = [i for i, line in enumerate(lines) if key_line.fullmatch(line)]
    if len(found) != 1:
        return None
    index = found[0]
    following = next((line for line in lines[index + 1 :] if not is_blank(line)), None)
    if following is not None and (following[0] in " \t" or re.match(r"-(?:[ \t]|$)", following)):
        return None  # the value continues on the next lines
    match = key_line.fullmatch(lines[index])
    if match is None:  # pragma: no cover - found above
        return None
    space = match.group("space") or " "
    comment = match.group("comment") or ""
    lines[index] = f"{key}{match.group('sep')}{space}{value_text}{comment}{match.group('end')}"
    return "".join(lines)
