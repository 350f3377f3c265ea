"""Front matter through ruamel.yaml's round-trip mode, and conversions of what it loads.

Front matter comes from files anybody can write, so it is bounded before ruamel.yaml builds
anything: its size, the number of aliases, how deep it nests and how many values it holds once
every alias is expanded (see `load_front_matter()`). The last matters most: a few hundred
bytes of nested anchors and aliases (a "billion laughs") load as a small shared graph, but every
walk over the loaded data (`to_builtin()`, `ordered_data()`) visits the expanded tree.
"""

from __future__ import annotations

import copy
import io
import re
import threading
from collections.abc import Generator, Mapping, MutableMapping
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    Event,
    ScalarEvent,
)
from ruamel.yaml.scalarbool import ScalarBoolean
from ruamel.yaml.scalarfloat import ScalarFloat
from ruamel.yaml.scalarint import ScalarInt
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from scopecraft._errors import MalformedTask
from scopecraft.tasks._lines import is_blank, split_lines

# Lines of front matter never wrap when written back.
_WIDTH = 4096

MAX_FRONT_MATTER_BYTES: Final = 64 * 1024
"""The largest front-matter block read, in bytes of UTF-8 (real ones are well under 4 KiB)."""
MAX_FRONT_MATTER_ALIASES: Final = 100
"""The most aliases (``*name``) a front-matter block may hold."""
MAX_FRONT_MATTER_DEPTH: Final = 32
"""The deepest nesting of lists and mappings in a front-matter block, aliases expanded.

The block's own mapping is the first level.
"""
MAX_FRONT_MATTER_VALUES: Final = 100_000
"""The most values (scalars, lists, mappings) a front-matter block may hold, aliases expanded.

Without aliases a block within `MAX_FRONT_MATTER_BYTES` holds fewer than this.
"""


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

    The block is checked before it is loaded: at most `MAX_FRONT_MATTER_BYTES` bytes,
    `MAX_FRONT_MATTER_ALIASES` aliases, `MAX_FRONT_MATTER_DEPTH` levels of
    nesting and `MAX_FRONT_MATTER_VALUES` values once aliases are expanded, and no
    alias inside the node it names (a recursive structure). The check reads ruamel.yaml's
    parser events, in time and memory proportional to the text.

    Args:
        text: The YAML between the ``---`` lines.
        where: The file, for error messages.

    Returns:
        The mapping (empty for an empty block).

    Raises:
        MalformedTask: When the block is not valid YAML, not a mapping, or exceeds a limit.
    """
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > MAX_FRONT_MATTER_BYTES:
        raise MalformedTask(
            where,
            f"the front matter is {size} bytes, more than the limit of "
            f"{MAX_FRONT_MATTER_BYTES} bytes (MAX_FRONT_MATTER_BYTES)",
        )
    yaml = _yaml()
    try:
        problem = _structure_problem(yaml, text)
        data = None if problem is not None else yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        at = f" at front-matter line {mark.line + 1}" if mark is not None else ""
        what = exc.problem or exc.context or "invalid YAML"
        raise MalformedTask(where, f"the front matter is not valid YAML{at}: {what}") from exc
    except Exception as exc:  # ruamel.yaml raises assorted errors on hostile input
        raise MalformedTask(where, f"the front matter is not valid YAML: {exc}") from exc
    finally:
        # ruamel.yaml keeps a record of every document it read; the instance lives as long as
        # its thread, so drop them rather than grow with every task file read.
        yaml.doc_infos.clear()
    if problem is not None:
        raise MalformedTask(where, problem)
    if data is None:
        return CommentedMap()
    if not isinstance(data, CommentedMap):
        raise MalformedTask(where, "the front matter is not a mapping of keys to values")
    return data


@dataclass(slots=True)
class _Open:
    """A list or mapping whose end event has not come yet."""

    anchor: str | None
    values: int = 1
    """Values so far, aliases expanded, itself included."""
    height: int = 1
    """Levels of nesting so far, aliases expanded, itself included."""


def _nests_too_deep() -> str:
    return (
        f"the front matter nests lists and mappings deeper than {MAX_FRONT_MATTER_DEPTH} "
        "levels (MAX_FRONT_MATTER_DEPTH), aliases expanded"
    )


def _structure_problem(yaml: YAML, text: str) -> str | None:
    """Say which limit the block exceeds, reading parser events only; ``None`` when none.

    Each anchored node's expanded size and height are recorded at its end event, so an alias
    costs one lookup however large the node it names, and nothing is built. Parse errors
    propagate.
    """
    expanded: dict[str, tuple[int, int]] = {}  # anchor -> (values, height) of its node
    unfinished: set[str] = set()  # anchors of the collections still open
    stack: list[_Open] = []
    aliases = 0
    values = 0
    events: Generator[Event, None, None] = yaml.parse(text)
    with closing(events):  # closing a generator that stopped early resets the parser
        for event in events:
            node_values, node_height = 0, 0
            if isinstance(event, AliasEvent):
                aliases += 1
                if aliases > MAX_FRONT_MATTER_ALIASES:
                    return (
                        f"the front matter has more than {MAX_FRONT_MATTER_ALIASES} aliases "
                        "(MAX_FRONT_MATTER_ALIASES); write the values out instead"
                    )
                name = str(event.anchor)
                if name in unfinished:
                    return f"the front matter's alias *{name} is inside the value it names"
                # An undefined alias is left to the loader, which reports it with its line.
                node_values, node_height = expanded.get(name, (1, 0))
                if len(stack) + node_height > MAX_FRONT_MATTER_DEPTH:
                    return _nests_too_deep()
            elif isinstance(event, ScalarEvent):
                node_values = 1
                if event.anchor is not None:
                    expanded[str(event.anchor)] = (1, 0)
            elif isinstance(event, CollectionStartEvent):
                values += 1
                if len(stack) >= MAX_FRONT_MATTER_DEPTH:
                    return _nests_too_deep()
                anchor = None if event.anchor is None else str(event.anchor)
                stack.append(_Open(anchor))
                if anchor is not None:
                    unfinished.add(anchor)
                continue
            elif isinstance(event, CollectionEndEvent) and stack:
                node = stack.pop()
                if node.anchor is not None:
                    unfinished.discard(node.anchor)
                    expanded[node.anchor] = (node.values, node.height)
                if stack:
                    stack[-1].values += node.values
                    stack[-1].height = max(stack[-1].height, node.height + 1)
                continue
            else:
                continue
            # A scalar or an alias: one value, or the expanded node an alias names.
            values += node_values
            if values > MAX_FRONT_MATTER_VALUES:
                return (
                    f"the front matter holds more than {MAX_FRONT_MATTER_VALUES} values once "
                    "its aliases are expanded (MAX_FRONT_MATTER_VALUES); write the values out "
                    "instead of nesting aliases"
                )
            if stack:
                stack[-1].values += node_values
                stack[-1].height = max(stack[-1].height, node_height + 1)
    return None


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
