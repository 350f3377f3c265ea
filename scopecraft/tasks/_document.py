"""The task document: a Scopecraft task file held so that it can be written back unchanged.

A task file is a ``# Title`` line, a YAML front-matter block between ``---`` lines (or the block
first and the title after it), some text, and ``## `` sections (``Instruction``, ``Tasks``,
``Deliverable``, ``Log`` and any others) in the order written. `TaskDocument` keeps the
raw text of every part next to its parsed form and writes a part anew only when it was changed, so
an untouched document renders to the very bytes it was read from, and setting a status or
appending a log line changes that line and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import attrs
from pydantic import ValidationError
from ruamel.yaml.comments import CommentedMap

from scopecraft._errors import MalformedTask
from scopecraft._models import Task, utcnow
from scopecraft.tasks._lines import (
    CONTROL,
    FM_FENCE,
    TITLE,
    check_body,
    code_lines,
    heading_name,
    is_blank,
    is_one_line,
    join_parts,
    line_content,
    split_lines,
    with_blank_end,
)
from scopecraft.tasks._normalize import (
    normalize_priority,
    normalize_status,
    normalize_tags,
    normalize_type,
)
from scopecraft.tasks._yaml import (
    dump_front_matter,
    load_front_matter,
    ordered_data,
    replace_key_line,
    to_builtin,
)

__all__ = [
    "REQUIRED_KEYS",
    "Section",
    "TaskDocument",
    "format_log_entry",
    "new_task_document",
    "parse_document",
]

REQUIRED_KEYS: Final = ("type", "status", "area")
"""Front-matter keys every task file must have, with a non-empty value."""

_MODELLED_KEYS: Final = frozenset({"type", "status", "area", "priority", "tags"})


@attrs.frozen
class Section:
    """One ``## `` section of a task document.

    Attributes:
        name: The heading's text (``Instruction``, ``Log``, ``Notes``, ...).
        body: The exact text after the heading line up to the next heading, blank lines
            included.
        heading: The heading line as read (with its line ending), written back while ``name``
            is unchanged; ``None`` for a new section.
    """

    name: str
    body: str = ""
    heading: str | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def text(self) -> str:
        """The body without the blank lines and spaces around it."""
        return self.body.strip()

    def heading_line(self, newline: str = "\n") -> str:
        """Return the heading line to write: the one read, or ``## <name>`` when renamed or new.

        Args:
            newline: The line ending of the document.

        Returns:
            The heading line with its line ending (without one only at the end of a file).
        """
        if self.heading is not None and heading_name(self.heading) == self.name:
            return self.heading
        return f"## {self.name}{newline}"


@attrs.define
class _Layout:
    """The raw text around the parsed parts, for writing a document back unchanged."""

    title_line: str
    title: str
    gap: str
    open_fence: str
    fm_text: str
    fm_data: object
    close_fence: str
    newline: str
    bom: str = ""


def _as_commented_map(value: Mapping[object, object]) -> CommentedMap:
    if isinstance(value, CommentedMap):
        return value
    if not isinstance(value, Mapping):
        raise TypeError(f"front matter is a mapping, not {type(value).__name__}")
    return CommentedMap(value)


def _check_title(_: object, __: object, value: str) -> None:
    if not is_one_line(value) or value != value.strip():
        raise ValueError(
            f"a task title is one line of text without surrounding spaces, not {value!r}"
        )


def _check_required(front_matter: Mapping[object, object], where: Path | str) -> None:
    missing = [key for key in REQUIRED_KEYS if key not in front_matter]
    if missing:
        raise MalformedTask(
            where,
            f"the front matter lacks {', '.join(missing)}; every task needs type, status, area",
        )
    for key in REQUIRED_KEYS:
        value = front_matter[key]
        if isinstance(value, Mapping | list):
            raise MalformedTask(where, f"{key} must be a single value, not a list or mapping")
        if value is None or not str(value).strip():
            raise MalformedTask(where, f"{key} is empty")


@attrs.define(eq=False)
class TaskDocument:
    """A task file, parsed, editable, and able to render back to its exact text.

    A document is an editing buffer, so it is mutable: change ``title``, call
    `set_field()`, `set_status()`, `set_section()` or `append_log()`, then
    `render()`. Parts nobody changed are written back byte for byte.

    Two documents are equal when they hold the same content: title, front matter (keys in
    order, values and their types), the text before the first section, and the sections. The
    layout (which block comes first, blank lines around them) is not compared.

    Attributes:
        title: The text of the ``# Title`` line.
        front_matter: The front matter as a ruamel.yaml round-trip mapping: key order, comments
            and unknown keys are kept. Edit it through `set_field()` to change a single
            line; a direct edit re-writes the whole block.
        sections: The ``## `` sections in file order.
        intro: The text between the title/front-matter block and the first section.
        front_matter_first: Whether the file put its front matter before its title. The
            document renders title-first; ``render(original_order=True)`` keeps this order.
    """

    title: str = attrs.field(validator=_check_title)
    front_matter: CommentedMap = attrs.field(converter=_as_commented_map)
    sections: list[Section] = attrs.Factory(list)
    intro: str = ""
    front_matter_first: bool = False
    _layout: _Layout | None = attrs.field(default=None, repr=False)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TaskDocument):
            return NotImplemented
        return (
            self.title == other.title
            and ordered_data(self.front_matter) == ordered_data(other.front_matter)
            and self.intro == other.intro
            and self.sections == other.sections
        )

    # -- reading -------------------------------------------------------------------------------

    @property
    def newline(self) -> str:
        """The document's line ending (``"\\n"`` or ``"\\r\\n"``)."""
        return self._layout.newline if self._layout else "\n"

    @property
    def status(self) -> str:
        """The ``status`` value as written (see `normalize_status()` for its meaning)."""
        return str(self.front_matter.get("status", ""))

    def section(self, name: str) -> Section | None:
        """Return the first section with that heading, compared without case.

        Args:
            name: The heading, for example ``"Instruction"``.

        Returns:
            The section, or ``None`` when the document has none by that name.
        """
        index = self._section_index(name)
        return None if index is None else self.sections[index]

    def section_text(self, name: str) -> str:
        """Return a section's text without surrounding blank lines, or ``""`` when missing.

        Args:
            name: The heading, compared without case.

        Returns:
            The text.
        """
        found = self.section(name)
        return found.text if found else ""

    def _section_index(self, name: str) -> int | None:
        key = name.strip().casefold()
        for index, section in enumerate(self.sections):
            if section.name.casefold() == key:
                return index
        return None

    def to_task(
        self,
        *,
        task_id: str,
        path: Path,
        parent_id: str | None = None,
        sequence: int | None = None,
        is_parent: bool = False,
        location: str | None = None,
    ) -> Task:
        """Build the `Task` this document describes, with normalised values.

        ``instruction`` is the ``## Instruction`` section; a document without one (older files)
        gets its text before the first of ``Tasks``, ``Deliverable`` and ``Log`` instead, other
        sections' headings included.

        Args:
            task_id: The task's id (from its file or folder name).
            path: The task file.
            parent_id: The parent task's id, for a subtask.
            sequence: A subtask's sequence number.
            is_parent: True for a parent task's ``_overview.md``.
            location: ``backlog``, ``current``, ``archive/YYYY-MM``, ...

        Returns:
            The task.

        Raises:
            MalformedTask: When a required key is missing or empty, or a value is unusable.
        """
        front = self.front_matter
        _check_required(front, path)
        if self.section("Instruction") is not None:
            instruction = self.section_text("Instruction")
        else:
            instruction = self._loose_instruction()
        extra = {
            str(key): to_builtin(value) for key, value in front.items() if key not in _MODELLED_KEYS
        }
        try:
            return Task(
                id=task_id,
                title=self.title,
                type=normalize_type(front["type"]),
                status=normalize_status(front["status"]),
                area=str(front["area"]).strip(),
                priority=normalize_priority(front.get("priority")),
                parent_id=parent_id,
                sequence=sequence,
                tags=normalize_tags(front.get("tags")),
                path=path,
                is_parent=is_parent,
                location=location,
                instruction=instruction,
                tasks_section=self.section_text("Tasks"),
                deliverable=self.section_text("Deliverable"),
                extra=extra,
            )
        except ValidationError as exc:
            raise MalformedTask(path, f"unusable values: {exc}") from exc

    def _loose_instruction(self) -> str:
        parts = [self.intro]
        for section in self.sections:
            if section.name.casefold() in ("tasks", "deliverable", "log"):
                break
            parts.append(section.heading_line(self.newline) + section.body)
        return "".join(parts).strip()

    # -- editing -------------------------------------------------------------------------------

    def set_field(self, key: str, value: object) -> None:
        """Set one front-matter key, changing only its line when it is a one-line value.

        A key that exists on a line of its own (``status: todo  # comment``) has that line's
        value replaced, comment kept; a new key is added as the block's last line. Anything
        else (a multi-line value, a value needing several lines) re-writes the block through
        ruamel.yaml, which keeps key order and comments but may change quoting.

        Args:
            key: The front-matter key.
            value: A YAML-representable value.
        """
        layout = self._ensure_layout()
        if ordered_data(self.front_matter) != layout.fm_data:
            # The mapping was edited directly: the raw text is stale, so write it all anew.
            self.front_matter[key] = value
            return
        expected = CommentedMap(self.front_matter)
        expected[key] = value
        new_text = replace_key_line(
            layout.fm_text, key, value, key in self.front_matter, self.newline
        )
        if new_text is not None:
            try:
                reloaded = load_front_matter(new_text, "<front matter>")
            except MalformedTask:
                reloaded = None
            if reloaded is not None and ordered_data(reloaded) == ordered_data(expected):
                self.front_matter = reloaded
                layout.fm_text = new_text
                layout.fm_data = ordered_data(reloaded)
                return
        self.front_matter[key] = value

    def set_status(self, status: str) -> None:
        """Set the ``status`` key (its line only), as given.

        Args:
            status: The new status, written as given; pass a canonical value such as
                ``"in_progress"``.

        Raises:
            ValueError: When ``status`` is empty or not a single line.
        """
        if not is_one_line(status):
            raise ValueError(f"a status is one non-empty line of text, not {status!r}")
        self.set_field("status", status.strip())

    def set_section(self, name: str, text: str) -> None:
        """Replace a section's text, or add the section at the end of the document.

        The blank lines that followed the old text are kept, so the next heading stays where
        it was.

        Args:
            name: The heading (compared without case when looking for the section).
            text: The new text (surrounding blank lines are dropped).

        Raises:
            ValueError: When ``text`` holds a ``## `` heading or an unclosed code fence, which
                would split the section when read back.
        """
        content = check_body(text)
        newline = self.newline
        index = self._section_index(name)
        new_body = content.replace("\n", newline) + newline if content else ""
        if index is None:
            self._end_with_blank_line()
            self.sections.append(Section(name.strip(), new_body))
            return
        old = self.sections[index]
        lines = split_lines(old.body)
        keep = len(lines)
        while keep > 0 and is_blank(lines[keep - 1]):
            keep -= 1
        trailing = "".join(lines[keep:])
        self.sections[index] = attrs.evolve(old, body=new_body + trailing)

    def append_log(self, text: str, *, now: datetime | None = None) -> str:
        """Append ``- YYYY-MM-DD HH:MM: text`` (UTC) to ``## Log``, adding the section if missing.

        The line goes after the last non-blank line of the section; nothing else changes.

        Args:
            text: The entry; line breaks and control characters become spaces.
            now: The entry's time, timezone-aware (default: the current time).

        Returns:
            The line added, without its line ending.

        Raises:
            ValueError: When ``text`` is empty or ``now`` is naive.
        """
        entry = format_log_entry(text, now)
        newline = self.newline
        index = self._section_index("Log")
        if index is None:
            self._end_with_blank_line()
            self.sections.append(Section("Log", entry + newline))
            return entry
        old = self.sections[index]
        lines = split_lines(old.body)
        last = len(lines) - 1
        while last >= 0 and is_blank(lines[last]):
            last -= 1
        if last < 0:
            lines.insert(0, entry + newline)
        elif lines[last].endswith("\n"):
            lines.insert(last + 1, entry + newline)
        else:
            lines[last] += newline
            lines.insert(last + 1, entry)
        heading = old.heading_line(newline)
        if not heading.endswith("\n"):
            heading += newline
        self.sections[index] = Section(old.name, "".join(lines), heading)
        return entry

    def _end_with_blank_line(self) -> None:
        """Make the document end with a blank line, before a section is added after it."""
        newline = self.newline
        if self.sections:
            last = self.sections[-1]
            self.sections[-1] = attrs.evolve(last, body=with_blank_end(last.body, newline))
        else:
            self.intro = with_blank_end(self.intro, newline)

    def _ensure_layout(self) -> _Layout:
        if self._layout is None:
            fm_text = dump_front_matter(self.front_matter)
            self._layout = _Layout(
                title_line=f"# {self.title}\n",
                title=self.title,
                gap="\n",
                open_fence="---\n",
                fm_text=fm_text,
                fm_data=ordered_data(self.front_matter),
                close_fence="---\n",
                newline="\n",
            )
        return self._layout

    # -- writing -------------------------------------------------------------------------------

    def render(self, *, original_order: bool = False) -> str:
        """Return the document's text.

        Parts not changed since parsing come back byte for byte. The title comes first unless
        ``original_order`` is set and the file was read front-matter-first.

        Args:
            original_order: Keep a front-matter-first file's order (to compare with the
                original); by default every document renders title-first.

        Returns:
            The text of the file.
        """
        layout = self._ensure_layout()
        newline = layout.newline
        title_line = layout.title_line if self.title == layout.title else f"# {self.title}{newline}"
        if ordered_data(self.front_matter) == layout.fm_data:
            fm_text = layout.fm_text
        else:
            fm_text = dump_front_matter(self.front_matter).replace("\n", newline)
        block = layout.open_fence + fm_text if fm_text else layout.open_fence
        pieces: list[str]
        if self.front_matter_first and original_order:
            pieces = [block, layout.close_fence, layout.gap, title_line]
        elif self.front_matter_first:
            pieces = [title_line, newline, block, layout.close_fence]
        else:
            pieces = [title_line, layout.gap, block, layout.close_fence]
        pieces.append(self.intro)
        for section in self.sections:
            pieces.append(section.heading_line(newline))
            pieces.append(section.body)
        return layout.bom + join_parts(pieces, newline)


def format_log_entry(text: str, now: datetime | None = None) -> str:
    """Format a log line as Scopecraft writes it: ``- YYYY-MM-DD HH:MM: text`` in UTC.

    Args:
        text: The entry; line breaks and control characters become single spaces.
        now: The entry's time, timezone-aware (default: the current time).

    Returns:
        The line, without its line ending.

    Raises:
        ValueError: When ``text`` is empty or ``now`` is naive.
    """
    clean = " ".join(CONTROL.sub(" ", text).split())
    if not clean:
        raise ValueError("a log entry needs some text")
    when = utcnow() if now is None else now
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("log times must be timezone-aware datetimes")
    return f"- {when.astimezone(UTC):%Y-%m-%d %H:%M}: {clean}"


def parse_document(text: str, *, path: Path | str | None = None) -> TaskDocument:
    """Parse the text of a task file.

    Accepts the title first (``# Title``, blank lines, then the ``---`` block) or the front
    matter first (the block, blank lines, then ``# Title``); sections are ``## `` lines outside
    fenced code blocks.

    Args:
        text: The file's text.
        path: The file, named in errors.

    Returns:
        The document; ``render(original_order=True)`` gives ``text`` back.

    Raises:
        MalformedTask: When the file has no title, no front matter, broken YAML, or lacks one
            of ``type``, ``status`` and ``area``.
    """
    where: Path | str = path if path is not None else "<task document>"
    bom = ""
    if text.startswith("\ufeff"):
        bom, text = "\ufeff", text[1:]
    lines = split_lines(text)
    if not lines or all(is_blank(line) for line in lines):
        raise MalformedTask(where, "the file is empty")
    newline = "\r\n" if lines[0].endswith("\r\n") else "\n"

    def closing_fence(start: int) -> int:
        for index in range(start, len(lines)):
            if FM_FENCE.fullmatch(line_content(lines[index])):
                return index
        raise MalformedTask(where, "the front matter has no closing '---' line")

    def skip_blank(start: int) -> int:
        while start < len(lines) and is_blank(lines[start]):
            start += 1
        return start

    front_matter_first = FM_FENCE.fullmatch(line_content(lines[0])) is not None
    if front_matter_first:
        opening = 0
        closing = closing_fence(1)
        title_at = skip_blank(closing + 1)
        gap = "".join(lines[closing + 1 : title_at])
        title_match = (
            TITLE.fullmatch(line_content(lines[title_at])) if title_at < len(lines) else None
        )
        if title_match is None:
            raise MalformedTask(where, "no '# Title' line follows the front matter")
        body_at = title_at + 1
    else:
        title_at = 0
        title_match = TITLE.fullmatch(line_content(lines[0]))
        if title_match is None:
            raise MalformedTask(
                where, "the file does not start with a '# Title' line or a '---' front matter block"
            )
        opening = skip_blank(1)
        gap = "".join(lines[1:opening])
        if opening >= len(lines) or not FM_FENCE.fullmatch(line_content(lines[opening])):
            raise MalformedTask(where, "no '---' front matter block follows the title")
        closing = closing_fence(opening + 1)
        body_at = closing + 1

    fm_text = "".join(lines[opening + 1 : closing])
    front_matter = load_front_matter(fm_text, where)
    _check_required(front_matter, where)
    title_line = lines[title_at]
    title = title_match.group("title")

    body = lines[body_at:]
    code = code_lines(body)
    starts = [i for i, line in enumerate(body) if i not in code and heading_name(line)]
    intro = "".join(body[: starts[0]] if starts else body)
    sections: list[Section] = []
    for number, start in enumerate(starts):
        end = starts[number + 1] if number + 1 < len(starts) else len(body)
        heading = body[start]
        name = heading_name(heading)
        if name is None:  # pragma: no cover - starts holds heading lines only
            continue
        sections.append(Section(name, "".join(body[start + 1 : end]), heading))

    layout = _Layout(
        title_line=title_line,
        title=title,
        gap=gap,
        open_fence=lines[opening],
        fm_text=fm_text,
        fm_data=ordered_data(front_matter),
        close_fence=lines[closing],
        newline=newline,
        bom=bom,
    )
    try:
        return TaskDocument(
            title=title,
            front_matter=front_matter,
            sections=sections,
            intro=intro,
            front_matter_first=front_matter_first,
            layout=layout,
        )
    except ValueError as exc:
        raise MalformedTask(where, str(exc)) from exc


def new_task_document(
    title: str,
    *,
    type: str,
    area: str,
    status: str = "todo",
    priority: str | None = None,
    tags: Sequence[str] = (),
    extra: Mapping[str, object] | None = None,
    instruction: str = "",
    tasks: str = "",
    deliverable: str = "",
    log: str = "",
    sections: Mapping[str, str] | None = None,
) -> TaskDocument:
    """Create a task document in Scopecraft's title-first form.

    The front matter holds ``type``, ``status``, ``area``, then ``priority`` and ``tags`` when
    given, then ``extra`` in its order. The sections are ``Instruction``, ``Tasks``,
    ``Deliverable``, ``Log`` and then ``sections`` in their order.

    Args:
        title: One line of text.
        type: The task type (``feature``, ``bug``, ...).
        area: The product area.
        status: The status (default ``todo``).
        priority: ``highest``, ``high``, ``medium`` or ``low``, or ``None`` to leave it out.
        tags: Tags, in order.
        extra: More front-matter keys (not ``type``, ``status``, ``area``, ``priority``,
            ``tags``).
        instruction: The ``## Instruction`` text.
        tasks: The ``## Tasks`` text (usually a checklist).
        deliverable: The ``## Deliverable`` text.
        log: The ``## Log`` text.
        sections: More sections after the standard ones, heading to text.

    Returns:
        The document; `TaskDocument.render()` gives the file's text.

    Raises:
        ValueError: When the title or a required value is empty or not one line, a key is
            repeated, or a section's text would not read back as one section.
    """
    front = CommentedMap()
    for key, value in (("type", type), ("status", status), ("area", area)):
        if not is_one_line(value):
            raise ValueError(f"{key} must be one non-empty line of text, not {value!r}")
        front[key] = str(value).strip()
    if priority is not None:
        front["priority"] = str(priority)
    if tags:
        front["tags"] = [str(tag) for tag in tags]
    for extra_key, extra_value in (extra or {}).items():
        if extra_key in front or extra_key in _MODELLED_KEYS:
            raise ValueError(f"front-matter key {extra_key!r} is given twice")
        front[extra_key] = extra_value
    named = [
        ("Instruction", instruction),
        ("Tasks", tasks),
        ("Deliverable", deliverable),
        ("Log", log),
        *(sections or {}).items(),
    ]
    seen: set[str] = set()
    built: list[Section] = []
    for number, (name, text) in enumerate(named):
        clean_name = name.strip() if isinstance(name, str) else ""
        if not is_one_line(clean_name) or clean_name.casefold() in seen:
            raise ValueError(f"section names must be distinct single lines, not {name!r}")
        seen.add(clean_name.casefold())
        content = check_body(text)
        body = content + "\n" if content else ""
        if number + 1 < len(named):
            body += "\n"
        built.append(Section(clean_name, body))
    if not isinstance(title, str):
        raise ValueError("a task title is a string")
    return TaskDocument(title=title.strip(), front_matter=front, sections=built, intro="\n\n")
