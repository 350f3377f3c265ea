"""Line-level reading of Markdown task files: lines, headings, code fences."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

__all__ = [
    "CODE_FENCE",
    "CONTROL",
    "FM_FENCE",
    "HEADING",
    "LINE_BREAK",
    "TITLE",
    "check_body",
    "code_lines",
    "heading_name",
    "is_blank",
    "is_one_line",
    "join_parts",
    "line_content",
    "split_lines",
    "with_blank_end",
]

TITLE = re.compile(r"#[ \t]+\s*(?P<title>\S(?:.*\S)?)\s*")
FM_FENCE = re.compile(r"---[ \t]*")
HEADING = re.compile(r"##[ \t]+(?P<name>\S.*?)[ \t]*")
CODE_FENCE = re.compile(r" {0,3}(?P<fence>`{3,}|~{3,})(?P<info>.*)")
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
LINE_BREAK = re.compile(r"[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def split_lines(text: str) -> list[str]:
    """Split on ``\\n`` only, keeping line endings (``str.splitlines`` splits on more)."""
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def line_content(line: str) -> str:
    """A line without its line ending."""
    if line.endswith("\n"):
        line = line[:-1]
    if line.endswith("\r"):
        line = line[:-1]
    return line


def is_blank(line: str) -> bool:
    """Tell whether a line holds only white space."""
    return not line.strip()


def code_lines(lines: Sequence[str]) -> set[int]:
    """Indexes of lines inside fenced code blocks (fence lines included).

    An opening fence without a closing one is text, not code: a stray fence in an instruction
    must not hide every section after it.
    """
    inside: set[int] = set()
    i = 0
    while i < len(lines):
        opening = CODE_FENCE.fullmatch(line_content(lines[i]))
        if opening is None or (opening.group("fence")[0] == "`" and "`" in opening.group("info")):
            i += 1
            continue
        fence = opening.group("fence")
        closing = re.compile(rf" {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*")
        for j in range(i + 1, len(lines)):
            if closing.fullmatch(line_content(lines[j])):
                inside.update(range(i, j + 1))
                i = j + 1
                break
        else:
            i += 1
    return inside


def heading_name(line: str) -> str | None:
    """Return the name of a ``## `` heading line, or ``None`` for any other line."""
    match = HEADING.fullmatch(line_content(line))
    return match.group("name") if match else None


def join_parts(pieces: Iterable[str], newline: str) -> str:
    """Concatenate parts, ending a part with a newline when another part follows it."""
    out: list[str] = []
    for piece in pieces:
        if not piece:
            continue
        if out and not out[-1].endswith("\n"):
            out.append(newline)
        out.append(piece)
    return "".join(out)


def with_blank_end(text: str, newline: str) -> str:
    """Return text ending with a blank line, so that a heading can follow it."""
    if not text:
        return newline
    if not text.strip() or text.endswith(newline * 2):
        return text
    return text.rstrip("\r\n") + newline * 2


def check_body(text: str) -> str:
    """Return a section's text without surrounding blank lines, refusing text that would split."""
    if not isinstance(text, str):
        raise TypeError(f"section text must be a string, not {type(text).__name__}")
    content = text.replace("\r\n", "\n").strip("\n")
    lines = split_lines(content)
    code = code_lines(lines)
    for index, line in enumerate(lines):
        if index not in code and heading_name(line) is not None:
            raise ValueError(
                f"section text may not contain a '## ' heading line ({line_content(line)!r}); "
                "use '###' for headings inside a section"
            )
        if index not in code and CODE_FENCE.fullmatch(line_content(line)):
            raise ValueError("section text has a code fence that is never closed")
    return content


def is_one_line(value: object) -> bool:
    """Tell whether a value is a non-empty string without line breaks."""
    return isinstance(value, str) and bool(value.strip()) and not LINE_BREAK.search(value)
