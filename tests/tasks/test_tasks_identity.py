"""Task ids, sequence prefixes, names from titles, and the central layout's encoded path."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scopecraft import InvalidName
from scopecraft.tasks import (
    GENERATED_TASK_ID_PATTERN,
    TASK_ID_PATTERN,
    central_tasks_dir,
    encode_project_path,
    is_task_id,
    name_from_title,
    subtask_sequence,
    validate_task_id,
)


@pytest.mark.parametrize(
    ("path", "encoded"),
    [
        ("/home/alice/code/myapp", "home-alice-code-myapp"),
        ("/Users/Bob/My App", "users-bob-my_app"),
        ("/srv/repos/my.project_v2", "srv-repos-my_project_v2"),
        ("/home/alice/code/myapp/", "home-alice-code-myapp"),
        ("/home/alice/code/x/../myapp", "home-alice-code-myapp"),
        ("/tmp/café", "tmp-caf_"),
        ("/tmp/a😀b", "tmp-a__b"),
    ],
)
def test_encode_project_path_follows_scopecraft(path: str, encoded: str) -> None:
    """Parts lowercased, characters outside [a-zA-Z0-9-] become _, parts joined by -."""
    assert encode_project_path(Path(path)) == encoded


def test_encode_project_path_does_not_follow_symlinks(tmp_path: Path) -> None:
    """The path is made absolute without resolving links, as Node's path.resolve does."""
    target = tmp_path / "real"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target)
    assert encode_project_path(link).endswith("-link")


def test_central_tasks_dir_is_under_projects() -> None:
    """The central tasks folder is <home>/projects/<encoded>/tasks."""
    home = Path("/home/alice/.scopecraft")
    assert central_tasks_dir(home, Path("/home/alice/code/myapp")) == (
        home / "projects" / "home-alice-code-myapp" / "tasks"
    )


@pytest.mark.parametrize(
    "task_id",
    ["auth-05A", "02_impl-api-05C", "otel-event-sourcing", "03-ui-update", "current", "a"],
)
def test_valid_ids_pass(task_id: str) -> None:
    """Generated ids and the older names found in Scopecraft's history are valid ids."""
    assert validate_task_id(task_id) == task_id
    assert is_task_id(task_id)


@pytest.mark.parametrize(
    "task_id",
    [
        "",
        "../x",
        "a/b",
        "a\\b",
        "..",
        ".hidden",
        "a b",
        "a;b",
        "$(touch x)",
        "a\nb",
        "-rf",
        "é",
        "x" * 129,
    ],
)
def test_invalid_ids_raise_invalid_name(task_id: str) -> None:
    """Separators, dots, spaces, shell characters and overlong ids are refused with a reason."""
    with pytest.raises(InvalidName) as caught:
        validate_task_id(task_id)
    assert caught.value.kind == "task id"
    assert caught.value.reason


def test_non_string_id_raises_invalid_name() -> None:
    """Something that is not a string is refused, not crashed on."""
    with pytest.raises(InvalidName):
        validate_task_id(5)  # type: ignore[arg-type]


@given(st.text(max_size=140))
def test_property_a_valid_id_is_a_safe_single_path_part(text: str) -> None:
    """Whatever passes validation is one path part with no separator, dot, space or shell char."""
    if not is_task_id(text):
        with pytest.raises(InvalidName):
            validate_task_id(text)
        return
    assert Path(text).name == text
    assert not set(text) & set("/\\. \t\n;$`&|<>*?'\"()[]{}!~")


@pytest.mark.parametrize(
    ("name", "sequence"),
    [
        ("02_impl-api-05C.task.md", 2),
        ("10_x-06A", 10),
        ("03-ui-update.task.md", 3),
        ("impl-api-05C.task.md", None),
        ("2025-release-05A", None),
    ],
)
def test_subtask_sequence_reads_the_prefix(name: str, sequence: int | None) -> None:
    """NN_ (and the older NN-) gives the sequence; other names have none."""
    assert subtask_sequence(name) == sequence


@pytest.mark.parametrize(
    ("title", "name"),
    [
        ("Add OAuth login (GitHub, Google)", "add-oauth-login-github-google"),
        ("Café — déjà vu", "cafe-deja-vu"),
        ("!!!", "task"),
        ("Implement the very long feature name that goes on", "implement-the-very-long"),
        ("Supercalifragilisticexpialidocious-and-more", "supercalifragilisticexpialidoc"),
    ],
)
def test_name_from_title_makes_a_short_kebab_name(title: str, name: str) -> None:
    """Titles become lowercase ASCII kebab names within 30 characters."""
    assert name_from_title(title) == name
    assert len(name) <= 30


def test_generated_pattern_accepts_only_the_generated_form() -> None:
    """The generated form is <name>-<MM><A-Z>, optionally NN_-prefixed, with a real month."""
    assert GENERATED_TASK_ID_PATTERN.fullmatch("impl-oauth-05K")
    assert GENERATED_TASK_ID_PATTERN.fullmatch("02_impl-api-05C")
    assert not GENERATED_TASK_ID_PATTERN.fullmatch("impl-oauth-13K")
    assert not GENERATED_TASK_ID_PATTERN.fullmatch("otel-event-sourcing")
    assert TASK_ID_PATTERN.fullmatch("otel-event-sourcing")
