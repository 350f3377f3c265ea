"""The task document: parsing both orders, exact rendering, minimal edits, malformed input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scopecraft import MalformedTask
from scopecraft._models import Priority
from scopecraft.tasks import (
    Section,
    TaskDocument,
    format_log_entry,
    new_task_document,
    parse_document,
)

NOW = datetime(2025, 7, 1, 12, 30, tzinfo=UTC)

TITLE_FIRST = """\
# Implement token endpoints

---
type: feature
status: todo
area: auth
priority: high  # agreed with the team
tags:
  - execution:autonomous
---


## Instruction
Add `/oauth/callback`.

## Tasks
- [ ] Callback handler

## Deliverable

## Log
- 2025-05-14 09:12: Split into subtasks
"""

FRONT_MATTER_FIRST = """\
---
type: feature
status: To Do
area: api
estimate: 3h
---

# Add a rate limiter

## Instruction
100 requests a minute.

## Log

## Notes
Keep this.
"""


def test_title_first_document_parses_into_its_parts() -> None:
    """A title-first file gives its title, front matter, and sections in order with exact bodies."""
    doc = parse_document(TITLE_FIRST)
    assert doc.title == "Implement token endpoints"
    assert not doc.front_matter_first
    assert list(doc.front_matter) == ["type", "status", "area", "priority", "tags"]
    assert [s.name for s in doc.sections] == ["Instruction", "Tasks", "Deliverable", "Log"]
    assert doc.sections[0].body == "Add `/oauth/callback`.\n\n"
    assert doc.section_text("tasks") == "- [ ] Callback handler"
    assert doc.intro == "\n\n"


def test_front_matter_first_document_parses_and_keeps_unknown_keys() -> None:
    """Front matter before the title is read too, and a custom key such as estimate is kept."""
    doc = parse_document(FRONT_MATTER_FIRST)
    assert doc.front_matter_first
    assert doc.title == "Add a rate limiter"
    assert doc.front_matter["estimate"] == "3h"
    assert [s.name for s in doc.sections] == ["Instruction", "Log", "Notes"]


@pytest.mark.parametrize("text", [TITLE_FIRST, FRONT_MATTER_FIRST])
def test_untouched_document_renders_byte_for_byte(text: str) -> None:
    """Rendering in the original order gives back exactly the text that was parsed."""
    assert parse_document(text).render(original_order=True) == text


def test_front_matter_first_renders_title_first_by_default() -> None:
    """The default rendering puts the title first; the content read back is the same."""
    doc = parse_document(FRONT_MATTER_FIRST)
    rendered = doc.render()
    assert rendered.startswith("# Add a rate limiter\n\n---\ntype: feature\n")
    again = parse_document(rendered)
    assert not again.front_matter_first
    assert again == doc


def test_set_status_changes_only_the_status_line_and_keeps_its_comment() -> None:
    """Setting the status rewrites that one line; a trailing comment on it survives."""
    text = TITLE_FIRST.replace("status: todo", "status: todo  # was blocked")
    doc = parse_document(text)
    doc.set_status("in_progress")
    expected = text.replace("status: todo  # was blocked", "status: in_progress  # was blocked")
    assert doc.render() == expected
    assert doc.status == "in_progress"


def test_set_status_keeps_quoting_style_of_other_keys() -> None:
    """Other keys keep their exact spelling (quotes, emoji escapes) when the status changes."""
    text = '# T\n\n---\ntype: "\\U0001F41E Bug"\nstatus: "🟡 To Do"\narea: core\n---\n'
    doc = parse_document(text)
    doc.set_status("done")
    assert doc.render() == text.replace('status: "🟡 To Do"', "status: done")


def test_append_log_adds_one_line_after_the_last_entry() -> None:
    """A log entry is one new line at the end of ## Log, timestamped in UTC; nothing else moves."""
    doc = parse_document(TITLE_FIRST)
    local = NOW.astimezone(timezone(timedelta(hours=2)))
    line = doc.append_log("Started by ses-1", now=local)
    assert line == "- 2025-07-01 12:30: Started by ses-1"
    assert doc.render() == TITLE_FIRST + line + "\n"


def test_append_log_into_an_empty_log_followed_by_another_section() -> None:
    """An empty ## Log followed by another section gets the entry right under its heading."""
    doc = parse_document(FRONT_MATTER_FIRST)
    doc.append_log("first", now=NOW)
    expected = FRONT_MATTER_FIRST.replace(
        "## Log\n\n## Notes", "## Log\n- 2025-07-01 12:30: first\n\n## Notes"
    )
    assert doc.render(original_order=True) == expected


def test_append_log_creates_the_log_section_when_missing() -> None:
    """A document without ## Log gets one at its end, after a blank line."""
    text = "# T\n\n---\ntype: bug\nstatus: todo\narea: ui\n---\n\n## Instruction\nFix it."
    doc = parse_document(text)
    doc.append_log("noted", now=NOW)
    assert doc.render() == text + "\n\n## Log\n- 2025-07-01 12:30: noted\n"


def test_append_log_keeps_a_missing_final_newline_missing() -> None:
    """A file that does not end with a newline still does not after an entry is appended."""
    text = "# T\n\n---\ntype: bug\nstatus: todo\narea: ui\n---\n\n## Log\n- 2025-01-01 00:00: a"
    doc = parse_document(text)
    doc.append_log("b", now=NOW)
    assert doc.render() == text + "\n- 2025-07-01 12:30: b"


def test_crlf_document_round_trips_and_edits_keep_crlf() -> None:
    """Windows line endings are kept exactly, and new lines use them too."""
    text = TITLE_FIRST.replace("\n", "\r\n")
    doc = parse_document(text)
    assert doc.render() == text
    doc.set_status("done")
    doc.append_log("x", now=NOW)
    rendered = doc.render()
    assert "status: done\r\n" in rendered
    assert rendered.endswith("- 2025-07-01 12:30: x\r\n")
    assert "\n" not in rendered.replace("\r\n", "")


def test_headings_inside_code_fences_are_not_sections() -> None:
    """A ``## Log`` line inside a fenced code block belongs to the section around it."""
    text = (
        "# T\n\n---\ntype: chore\nstatus: todo\narea: docs\n---\n\n"
        "## Instruction\nWrite:\n```markdown\n## Log\n- nothing\n```\n\n## Log\n"
    )
    doc = parse_document(text)
    assert [s.name for s in doc.sections] == ["Instruction", "Log"]
    doc.append_log("real entry", now=NOW)
    assert doc.render().endswith("## Log\n- 2025-07-01 12:30: real entry\n")


def test_unclosed_code_fence_does_not_hide_later_sections() -> None:
    """A stray opening fence is text: the sections after it are still found."""
    text = (
        "# T\n\n---\ntype: chore\nstatus: todo\narea: docs\n---\n\n## Instruction\n```\n\n## Log\n"
    )
    assert [s.name for s in parse_document(text).sections] == ["Instruction", "Log"]


def test_setting_an_unknown_key_appends_it_to_the_front_matter() -> None:
    """A new key goes on a new last line of the block; the rest is untouched."""
    doc = parse_document(TITLE_FIRST)
    doc.set_field("assignee", "architect")
    assert doc.render() == TITLE_FIRST.replace("---\n\n\n", "assignee: architect\n---\n\n\n")


def test_setting_a_multiline_value_rewrites_the_block_but_keeps_data() -> None:
    """A key whose value spans lines is set through ruamel.yaml; other keys keep their values."""
    doc = parse_document(TITLE_FIRST)
    doc.set_field("tags", ["a", "b"])
    again = parse_document(doc.render())
    assert list(again.front_matter["tags"]) == ["a", "b"]
    assert again.front_matter["priority"] == "high"
    assert "# agreed with the team" in doc.render()


def test_direct_edit_of_the_front_matter_is_rendered() -> None:
    """Changing the mapping directly is noticed at render time (the block is re-dumped)."""
    doc = parse_document(TITLE_FIRST)
    doc.front_matter["area"] = "billing"
    assert parse_document(doc.render()).front_matter["area"] == "billing"


def test_renaming_the_title_rewrites_only_the_title_line() -> None:
    """A new title replaces the first line and nothing else."""
    doc = parse_document(TITLE_FIRST)
    doc.title = "Token endpoints"
    assert doc.render() == TITLE_FIRST.replace("# Implement token endpoints", "# Token endpoints")


def test_set_section_replaces_text_and_keeps_spacing() -> None:
    """Replacing a section keeps the blank line before the next heading; a new one is appended."""
    doc = parse_document(TITLE_FIRST)
    doc.set_section("deliverable", "Both endpoints.")
    doc.set_section("Decisions", "Use PKCE.")
    rendered = doc.render()
    assert "## Deliverable\nBoth endpoints.\n\n## Log\n" in rendered
    assert rendered.endswith("Split into subtasks\n\n## Decisions\nUse PKCE.\n")


@pytest.mark.parametrize(
    "text",
    ["## Sneaky heading\nbody", "```\nnever closed", "ok\n\n##  Also a heading"],
)
def test_set_section_refuses_text_that_would_split_the_section(text: str) -> None:
    """Section text with a ## heading or an unclosed fence is refused instead of corrupting."""
    doc = parse_document(TITLE_FIRST)
    with pytest.raises(ValueError, match=r"heading|fence"):
        doc.set_section("Instruction", text)


def test_to_task_normalises_values_and_keeps_unmodelled_keys(tmp_path: Path) -> None:
    """The Task built from a document has canonical values and the other keys in extra."""
    doc = parse_document(FRONT_MATTER_FIRST)
    task = doc.to_task(task_id="add-rate-limiter-11A", path=tmp_path / "x.task.md")
    assert task.status == "todo"
    assert task.priority is Priority.MEDIUM
    assert task.extra == {"estimate": "3h"}
    assert task.instruction == "100 requests a minute."
    assert task.tags == ()


def test_document_without_instruction_uses_its_leading_text(tmp_path: Path) -> None:
    """Older files without ## Instruction give their text before Tasks/Deliverable/Log."""
    text = (
        "# T\n\n---\ntype: feature\nstatus: todo\narea: core\n---\n\n"
        "## Problem\nSlow.\n\n## Plan\nCache it.\n\n## Log\n- x\n"
    )
    task = parse_document(text).to_task(task_id="t-01A", path=tmp_path / "t-01A.task.md")
    assert task.instruction == "## Problem\nSlow.\n\n## Plan\nCache it."


MALFORMED = {
    "empty": ("", "empty"),
    "no title": ("---\ntype: a\nstatus: b\narea: c\n---\n\nno title here\n", "Title"),
    "text first": ("Hello\n---\ntype: a\n---\n", "does not start"),
    "no front matter": ("# T\n\n## Instruction\n", "front matter"),
    "unclosed front matter": ("# T\n\n---\ntype: a\nstatus: b\n", "closing"),
    "broken yaml": ("# T\n\n---\ntype: [a\nstatus: b\narea: c\n---\n", "not valid YAML"),
    "duplicate key": ("# T\n\n---\ntype: a\ntype: b\nstatus: b\narea: c\n---\n", "YAML"),
    "list front matter": ("# T\n\n---\n- a\n- b\n---\n", "not a mapping"),
    "missing area": ("# T\n\n---\ntype: a\nstatus: b\n---\n", "lacks area"),
    "empty status": ("# T\n\n---\ntype: a\nstatus:\narea: c\n---\n", "status is empty"),
    "list type": ("# T\n\n---\ntype: [a, b]\nstatus: b\narea: c\n---\n", "single value"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_documents_raise_with_a_reason(case: str) -> None:
    """Each kind of malformed file raises MalformedTask naming the file and what is wrong."""
    text, reason = MALFORMED[case]
    with pytest.raises(MalformedTask, match=reason) as caught:
        parse_document(text, path="x.task.md")
    assert caught.value.path == Path("x.task.md")


def test_new_task_document_renders_scopecraft_layout() -> None:
    """A new document is title-first with the four standard sections, as Scopecraft writes."""
    doc = new_task_document(
        "Meter API calls",
        type="feature",
        area="billing",
        priority="high",
        tags=["team:billing"],
        extra={"phase": "active"},
        instruction="Count calls.",
    )
    assert doc.render() == (
        "# Meter API calls\n\n---\ntype: feature\nstatus: todo\narea: billing\npriority: high\n"
        "tags:\n  - team:billing\nphase: active\n---\n\n\n## Instruction\nCount calls.\n\n"
        "## Tasks\n\n## Deliverable\n\n## Log\n"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"title": ""}, "title"),
        ({"title": "two\nlines"}, "title"),
        ({"type": " "}, "type"),
        ({"extra": {"status": "x"}}, "twice"),
        ({"sections": {"log": "again"}}, "distinct"),
    ],
)
def test_new_task_document_refuses_bad_input(kwargs: dict[str, object], message: str) -> None:
    """Empty or multi-line values, repeated keys and repeated sections are refused."""
    arguments: dict[str, object] = {"title": "T", "type": "bug", "area": "ui", **kwargs}
    with pytest.raises(ValueError, match=message):
        new_task_document(**arguments)  # type: ignore[arg-type]


def test_format_log_entry_flattens_text_and_refuses_naive_times() -> None:
    """Log text becomes one line; a naive datetime is refused rather than guessed."""
    assert format_log_entry("a\nb\tc  d", NOW) == "- 2025-07-01 12:30: a b c d"
    with pytest.raises(ValueError, match="timezone"):
        format_log_entry("x", datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="text"):
        format_log_entry(" \n ", NOW)


def test_documents_compare_by_content_not_layout() -> None:
    """Equality ignores which block came first but sees a changed section."""
    a = parse_document(FRONT_MATTER_FIRST)
    b = parse_document(a.render())
    assert a == b
    b.set_section("Notes", "Changed.")
    assert a != b
    assert a != "not a document"


# -- property tests ---------------------------------------------------------------------------

_line_chars = st.characters(exclude_categories=("Cs", "Cc", "Zl", "Zp"))
_one_line = st.text(_line_chars, min_size=1, max_size=40).map(str.strip).filter(bool)
_body_line = st.text(_line_chars, max_size=40).filter(
    lambda line: not line.lstrip().startswith(("#", "`", "~"))
)
_body = st.lists(_body_line, max_size=6).map("\n".join)
_key = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True).filter(
    lambda key: key not in {"type", "status", "area", "priority", "tags"}
)
_scalar = st.one_of(
    st.text(max_size=30),
    st.integers(-(10**12), 10**12),
    st.booleans(),
    st.none(),
)
_value = st.one_of(_scalar, st.lists(_scalar, max_size=4))
_statuses = st.one_of(
    st.sampled_from(["todo", "To Do", "🟡 To Do", "In Progress", "✅ Done", "blocked"]),
    _one_line,
)
_section_name = _one_line.filter(
    lambda name: name.casefold() not in {"instruction", "tasks", "deliverable", "log"}
)


@st.composite
def documents(draw: st.DrawFn) -> TaskDocument:
    """Random documents: titles, statuses, tags, unicode text, unknown keys and sections."""
    names = draw(st.lists(_section_name, max_size=3, unique_by=str.casefold))
    return new_task_document(
        draw(_one_line),
        type=draw(_one_line),
        area=draw(_one_line),
        status=draw(_statuses),
        priority=draw(st.none() | st.sampled_from(["highest", "High", "normal", "▶️ Medium"])),
        tags=draw(st.lists(st.text(_line_chars, min_size=1, max_size=20), max_size=4)),
        extra=draw(st.dictionaries(_key, _value, max_size=4)),
        instruction=draw(_body),
        tasks=draw(_body),
        deliverable=draw(_body),
        log=draw(_body),
        sections={name: draw(_body) for name in names},
    )


@settings(max_examples=150, deadline=None)
@given(doc=documents())
def test_property_parse_of_rendered_document_is_the_document(doc: TaskDocument) -> None:
    """parse(render(doc)) == doc, rendering is stable, and both give the same Task."""
    text = doc.render()
    again = parse_document(text)
    assert again == doc
    assert again.render() == text
    path = Path("/tasks/current/x-01A.task.md")
    assert again.to_task(task_id="x-01A", path=path) == doc.to_task(task_id="x-01A", path=path)


@settings(max_examples=75, deadline=None)
@given(doc=documents(), status=_one_line, entry=_one_line)
def test_property_status_and_log_edits_touch_nothing_else(
    doc: TaskDocument, status: str, entry: str
) -> None:
    """After set_status and append_log, every other key and section reads back unchanged."""
    before = parse_document(doc.render())
    doc.set_status(status)
    line = doc.append_log(entry, now=NOW)
    after = parse_document(doc.render())
    assert after.status == status
    assert {k: v for k, v in after.front_matter.items() if k != "status"} == {
        k: v for k, v in before.front_matter.items() if k != "status"
    }
    assert [s for s in after.sections if s.name != "Log"] == [
        s for s in before.sections if s.name != "Log"
    ]
    log = after.section("Log")
    assert log is not None
    assert [entry for entry in log.body.splitlines() if entry.strip()][-1] == line
    # The entry goes after the last non-blank line: the old log up to there is kept before
    # it, and trailing blank lines (spaces on them or not) stay after it.
    assert log.body.startswith(before.sections[3].body.rstrip())
    assert log.body.endswith(before.sections[3].body[len(before.sections[3].body.rstrip()) :])


def test_section_heading_line_is_kept_until_renamed() -> None:
    """A section keeps its heading line as read; a renamed one gets a fresh ## heading."""
    section = Section("Log", "", "##   Log  \n")
    assert section.heading_line() == "##   Log  \n"
    assert Section("Notes", "", "## Log\n").heading_line() == "## Notes\n"
