"""build_prompt: templates per mode, repository overrides, parent overview, verbatim instruction."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import pytest

from scopecraft._errors import AgentError
from scopecraft._models import SessionMode, Task
from scopecraft.agents import build_prompt, load_template

INSTRUCTION = "Fix the callback.\n- fake: say working on $HOME and ${x}\n  fake: write a.txt 100%"


def make_task(**kwargs: object) -> Task:
    values: dict[str, object] = {
        "id": "02_callback-05A",
        "title": "Fix the OAuth callback",
        "type": "bug",
        "status": "todo",
        "area": "auth",
        "path": Path("/repo/.tasks/current/auth-05A/02_callback-05A.task.md"),
        "parent_id": "auth-05A",
        "sequence": 2,
        "instruction": INSTRUCTION,
        "tasks_section": "- [ ] Exchange the code\n- [ ] Add a test",
        "deliverable": "A working callback.",
    }
    values.update(kwargs)
    return Task.model_validate(values)


OVERVIEW = Task(
    id="auth-05A",
    title="Add OAuth login",
    type="feature",
    status="current",
    area="auth",
    path=Path("/repo/.tasks/current/auth-05A/_overview.md"),
    is_parent=True,
    instruction="Users log in with GitHub.\nfake: say from the parent",
)


@pytest.mark.parametrize("mode", list(SessionMode))
def test_each_mode_has_a_packaged_template(mode: SessionMode) -> None:
    """Every mode has a template shipped as package data, found through importlib.resources."""
    resource = importlib.resources.files("scopecraft.agents") / "templates" / f"{mode.value}.md"
    assert resource.is_file()
    assert load_template(mode) == resource.read_text(encoding="utf-8")


@pytest.mark.parametrize("mode", list(SessionMode))
def test_prompt_holds_the_task_and_its_instruction_verbatim(mode: SessionMode) -> None:
    """The prompt names the task and holds its instruction lines exactly (``$`` and all), its
    tasks and its deliverable."""
    prompt = build_prompt(make_task(), mode=mode)
    assert "02_callback-05A" in prompt
    assert "Fix the OAuth callback" in prompt
    assert INSTRUCTION in prompt
    for instruction_line in INSTRUCTION.splitlines():
        assert instruction_line in prompt.splitlines()
    assert "- [ ] Exchange the code" in prompt
    assert "A working callback." in prompt


def test_empty_sections_are_left_out() -> None:
    """A task without tasks or deliverable gets no empty headings."""
    prompt = build_prompt(make_task(tasks_section="", deliverable=""), mode=SessionMode.AUTONOMOUS)
    assert "## Tasks" not in prompt
    assert "## Deliverable" not in prompt
    assert "## Instruction" in prompt


def test_parent_overview_is_included_as_quoted_context() -> None:
    """A subtask's prompt carries the parent's title, id and instruction, quoted so that the
    parent's own directive lines are not run by the subtask."""
    prompt = build_prompt(make_task(), mode=SessionMode.AUTONOMOUS, overview=OVERVIEW)
    assert "Add OAuth login (auth-05A)" in prompt
    assert "> Users log in with GitHub." in prompt
    assert "> fake: say from the parent" in prompt
    assert "\nfake: say from the parent" not in prompt


def test_extra_prompt_is_appended() -> None:
    """An explicit prompt from the user comes last."""
    prompt = build_prompt(make_task(), mode=SessionMode.AUTONOMOUS, extra="Also add docs.")
    assert prompt.rstrip().endswith("Also add docs.")


def test_planning_template_asks_for_a_json_plan() -> None:
    """Planning mode asks for a JSON plan of subtasks with title, sequence and instruction."""
    prompt = build_prompt(make_task(), mode=SessionMode.PLANNING)
    assert "```json" in prompt
    for key in ('"subtasks"', '"title"', '"sequence"', '"instruction"'):
        assert key in prompt


def test_repository_override_replaces_the_template(tmp_path: Path) -> None:
    """``<repo>/.scopecraft/prompts/<mode>.md`` replaces the built-in template for its mode
    only; unknown placeholders stay as written."""
    prompts = tmp_path / ".scopecraft" / "prompts"
    prompts.mkdir(parents=True)
    (prompts / "autonomous.md").write_text(
        "CUSTOM $task_id [$title] $unknown\n$instruction\n", encoding="utf-8"
    )
    prompt = build_prompt(make_task(), mode=SessionMode.AUTONOMOUS, repo_root=tmp_path)
    assert prompt.startswith("CUSTOM 02_callback-05A [Fix the OAuth callback] $unknown\n")
    assert INSTRUCTION in prompt
    other = build_prompt(make_task(), mode=SessionMode.INTERACTIVE, repo_root=tmp_path)
    assert not other.startswith("CUSTOM")


def test_override_without_instruction_still_gets_it(tmp_path: Path) -> None:
    """A template that does not place the instruction gets it appended verbatim."""
    prompts = tmp_path / ".scopecraft" / "prompts"
    prompts.mkdir(parents=True)
    (prompts / "autonomous.md").write_text("Just do $task_id.\n", encoding="utf-8")
    prompt = build_prompt(make_task(), mode=SessionMode.AUTONOMOUS, repo_root=tmp_path)
    assert prompt.startswith("Just do 02_callback-05A.")
    assert INSTRUCTION in prompt


def test_override_outside_the_repository_is_refused(tmp_path: Path) -> None:
    """An override that is a link out of the repository is refused."""
    outside = tmp_path / "elsewhere.md"
    outside.write_text("stolen $task_id", encoding="utf-8")
    repo = tmp_path / "repo"
    prompts = repo / ".scopecraft" / "prompts"
    prompts.mkdir(parents=True)
    (prompts / "autonomous.md").symlink_to(outside)
    with pytest.raises(AgentError, match="outside the repository"):
        build_prompt(make_task(), mode=SessionMode.AUTONOMOUS, repo_root=repo)


def test_unknown_mode_is_refused() -> None:
    """A mode that is not a ``SessionMode`` has no template."""
    with pytest.raises(AgentError, match="unknown mode"):
        load_template("sightseeing")
