"""Hostile task files: YAML alias bombs, deep nesting and huge files are refused before they cost.

A "billion laughs" front matter is a few hundred bytes of nested anchors and aliases that loads
as a small shared graph but expands to hundreds of millions of values when walked. These tests
check it is refused as `MalformedTask` while cheap, that the limits are exact,
and that legitimate aliases still load and round-trip unchanged.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import tracemalloc
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scopecraft
from scopecraft import MalformedTask
from scopecraft.tasks import (
    TaskStore,
    new_task_document,
    parse_document,
    read_document,
    update_task_file,
    write_task,
)
from scopecraft.tasks._files import MAX_TASK_FILE_BYTES
from scopecraft.tasks._yaml import (
    MAX_FRONT_MATTER_ALIASES,
    MAX_FRONT_MATTER_BYTES,
    MAX_FRONT_MATTER_DEPTH,
    MAX_FRONT_MATTER_VALUES,
    load_front_matter,
    to_builtin,
)

REQUIRED = "type: bug\nstatus: todo\narea: core\n"
"""The keys every task needs: three keys and three values, plus the mapping itself."""
REQUIRED_VALUES = 7


def laughs(levels: int, width: int = 9) -> str:
    """The classic bomb: ``l0: &l0 [x, ...]``, then ``l<i>: &l<i> [*l<i-1>, ...]``."""
    lines = [f"l0: &l0 [{','.join(['x'] * width)}]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [{','.join([f'*l{level - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def task_text(front_matter: str, title: str = "Hostile") -> str:
    """A task file around ``front_matter`` (which holds the required keys or not)."""
    return f"# {title}\n\n---\n{front_matter}---\n\n## Instruction\nDo it.\n"


def expanded_values(value: object) -> int:
    """Count values in the fully expanded tree, the way the guard counts them (keys too)."""
    if isinstance(value, Mapping):
        return 1 + sum(expanded_values(k) + expanded_values(v) for k, v in value.items())
    if isinstance(value, list):
        return 1 + sum(expanded_values(item) for item in value)
    return 1


def peak_bytes(action: Callable[[], object]) -> int:
    """Run ``action`` and return the peak of memory allocated meanwhile (tracemalloc)."""
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# -- the bomb ---------------------------------------------------------------------------------

# Run in a child process whose address space is capped at 512 MiB: if the guard ever regresses,
# the child fails with MemoryError within seconds instead of growing past 6 GB in the test run.
_CHILD = textwrap.dedent(
    """
    import json, resource, sys, tracemalloc
    resource.setrlimit(resource.RLIMIT_AS, (512 << 20, 512 << 20))
    from scopecraft.tasks import TaskStore
    store = TaskStore(sys.argv[1])
    tracemalloc.start()
    tasks = [task.id for task in store.list_tasks()]
    problems = [[problem.path.name, problem.reason] for problem in store.check_tasks()]
    peak = tracemalloc.get_traced_memory()[1]
    print(json.dumps({"tasks": tasks, "problems": problems, "peak": peak}))
    """
)


@pytest.mark.timeout(60)
def test_store_skips_a_billion_laughs_file_and_reports_it(tmp_path: Path) -> None:
    """The store lists the good task beside a 9-level bomb and reports the bomb, in little memory.

    The bomb is 9**9 values once expanded; check_tasks names the file and the limit, and the
    whole listing allocates a few MiB.
    """
    bomb = REQUIRED + laughs(9)
    assert len(bomb.encode()) < 512  # half a KiB
    current = tmp_path / ".tasks" / "current"
    current.mkdir(parents=True)
    (current / "bomb-01A.task.md").write_text(task_text(bomb, "Bomb"))
    (current / "good-01B.task.md").write_text(task_text(REQUIRED + "tags: [a]\n", "Good"))
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path / ".tasks")],
        capture_output=True,
        text=True,
        timeout=45,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-2000:]
    result = json.loads(child.stdout)
    assert result["tasks"] == ["good-01B"]
    [[name, reason]] = result["problems"]
    assert name == "bomb-01A.task.md"
    assert "MAX_FRONT_MATTER_VALUES" in reason
    assert "aliases are expanded" in reason
    assert result["peak"] < 16 << 20


@pytest.mark.timeout(20)
def test_engine_lists_the_good_tasks_and_checks_the_bomb(repo: Path, home: Path) -> None:
    """The engine's check_tasks reports a bomb file; list_tasks leaves it out and lists the rest."""
    # Six levels (531441 values): over the limit, yet affordable should the guard regress.
    bomb = repo / ".tasks" / "current" / "bomb-01Z.task.md"
    bomb.write_text(task_text(REQUIRED + laughs(6), "Bomb"))
    with scopecraft.connect(repo, home=home) as engine:
        ids = {task.id for task in engine.list_tasks()}
        problems = engine.check_tasks()
    assert {"ok-01A", "fail-01B"} <= ids
    assert "bomb-01Z" not in ids
    assert [
        (problem.path.name, "MAX_FRONT_MATTER_VALUES" in problem.reason) for problem in problems
    ] == [("bomb-01Z.task.md", True)]


@pytest.mark.timeout(20)
def test_the_bomb_is_refused_before_it_is_built() -> None:
    """A 6-level bomb is refused allocating under a MiB (its expanded tree takes hundreds)."""

    def load() -> None:
        with pytest.raises(MalformedTask, match="MAX_FRONT_MATTER_VALUES"):
            load_front_matter(REQUIRED + laughs(6), "bomb.task.md")

    assert peak_bytes(load) < 1 << 20


@pytest.mark.timeout(20)
def test_few_aliases_are_not_enough_to_pass() -> None:
    """A bomb with fewer aliases than the alias limit is still refused, for its expanded size.

    Three aliases a level over 20 levels are 60 aliases but 3**20 values: counting aliases
    alone would not stop it.
    """
    text = REQUIRED + laughs(20, width=3)
    assert text.count("*") < MAX_FRONT_MATTER_ALIASES
    with pytest.raises(MalformedTask, match="MAX_FRONT_MATTER_VALUES"):
        load_front_matter(text, "bomb.task.md")


def _exactly(total: int) -> str:
    """Front matter of ``total`` values when expanded.

    ``a`` holds k scalars, ``b`` m aliases of ``a`` and ``extra`` scalars, so that
    total = 7 + (2 + k) + (2 + m * (k + 1)) + extra.
    """
    k, m = 1110, 89  # 7 + 1112 + 2 + 89 * 1111 == 100_000
    extra = total - (REQUIRED_VALUES + 2 + k + 2 + m * (k + 1))
    assert 0 <= extra < 50
    return (
        REQUIRED
        + f"a: &a [{', '.join(['x'] * k)}]\n"
        + f"b: [{', '.join(['*a'] * m + ['y'] * extra)}]\n"
    )


@pytest.mark.timeout(20)
def test_the_expanded_value_limit_is_exact() -> None:
    """MAX_FRONT_MATTER_VALUES values once expanded load (and are that many); one more fails."""
    data = load_front_matter(_exactly(MAX_FRONT_MATTER_VALUES), "edge.task.md")
    assert expanded_values(to_builtin(data)) == MAX_FRONT_MATTER_VALUES
    with pytest.raises(MalformedTask, match="MAX_FRONT_MATTER_VALUES"):
        load_front_matter(_exactly(MAX_FRONT_MATTER_VALUES + 1), "edge.task.md")


@settings(max_examples=60, deadline=None)
@given(widths=st.lists(st.integers(1, 9), min_size=1, max_size=8))
def test_the_guard_counts_expanded_values_exactly(widths: list[int]) -> None:
    """A chain of anchors loads exactly when its expanded size is within the limit.

    For any widths, and when it loads, the loaded data expands to the size computed here.
    """
    lines = [f"l0: &l0 [{', '.join(['x'] * widths[0])}]"]
    size = 1 + widths[0]
    total = REQUIRED_VALUES + 1 + size
    for level, width in enumerate(widths[1:], start=1):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * width)}]")
        size = 1 + width * size
        total += 1 + size
    text = REQUIRED + "\n".join(lines) + "\n"
    if total > MAX_FRONT_MATTER_VALUES:
        with pytest.raises(MalformedTask, match="MAX_FRONT_MATTER_VALUES"):
            load_front_matter(text, "chain.task.md")
    else:
        assert expanded_values(to_builtin(load_front_matter(text, "chain.task.md"))) == total


# -- the other limits -------------------------------------------------------------------------


def test_more_aliases_than_the_limit_are_refused() -> None:
    """MAX_FRONT_MATTER_ALIASES aliases of a scalar load; one more is refused, naming the limit."""
    many = REQUIRED + "v: &v x\n" + f"w: [{', '.join(['*v'] * MAX_FRONT_MATTER_ALIASES)}]\n"
    assert to_builtin(load_front_matter(many, "a.task.md")) == {
        "type": "bug",
        "status": "todo",
        "area": "core",
        "v": "x",
        "w": ["x"] * MAX_FRONT_MATTER_ALIASES,
    }
    with pytest.raises(MalformedTask, match=r"more than 100 aliases.*MAX_FRONT_MATTER_ALIASES"):
        load_front_matter(many.replace("[*v", "[*v, *v"), "a.task.md")


def _nested(lists: int) -> str:
    return REQUIRED + "deep: " + "[" * lists + "x" + "]" * lists + "\n"


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    """The front matter's mapping and 31 lists in it load (32 levels); 32 lists are refused."""
    assert MAX_FRONT_MATTER_DEPTH == 32
    load_front_matter(_nested(MAX_FRONT_MATTER_DEPTH - 1), "d.task.md")
    with pytest.raises(MalformedTask, match=r"deeper than 32 levels.*MAX_FRONT_MATTER_DEPTH"):
        load_front_matter(_nested(MAX_FRONT_MATTER_DEPTH), "d.task.md")


def test_thousands_of_open_brackets_are_refused_cleanly() -> None:
    """60000 '[' (deeper than Python's recursion limit) are a MalformedTask, no RecursionError."""
    with pytest.raises(MalformedTask, match="MAX_FRONT_MATTER_DEPTH"):
        load_front_matter(REQUIRED + "deep: " + "[" * 60_000 + "\n", "d.task.md")


def test_aliases_count_towards_the_nesting_depth() -> None:
    """Aliases count towards the nesting depth as they would expand.

    Each anchor nests the one before: 31 such levels under the mapping load, 32 are refused
    though the text nests only two deep.
    """

    def chain(levels: int) -> str:
        lines = ["n1: &n1 [x]"] + [f"n{i}: &n{i} [*n{i - 1}]" for i in range(2, levels + 1)]
        return REQUIRED + "\n".join(lines) + "\n"

    load_front_matter(chain(MAX_FRONT_MATTER_DEPTH - 1), "d.task.md")
    with pytest.raises(MalformedTask, match="MAX_FRONT_MATTER_DEPTH"):
        load_front_matter(chain(MAX_FRONT_MATTER_DEPTH), "d.task.md")


@pytest.mark.parametrize(
    "recursive",
    ["r: &r [x, *r]", "r: &r {self: *r}", "r: &r [[*r]]"],
)
def test_an_alias_inside_the_value_it_names_is_refused(recursive: str) -> None:
    """A recursive structure is refused (ruamel.yaml would read the inner alias as None)."""
    with pytest.raises(MalformedTask, match=r"alias \*r is inside the value it names"):
        load_front_matter(REQUIRED + recursive + "\n", "r.task.md")


def test_front_matter_over_the_byte_limit_is_refused() -> None:
    """A block of MAX_FRONT_MATTER_BYTES bytes loads; one byte more is refused, naming the limit.

    The size is in bytes of UTF-8: multi-byte characters count as their bytes.
    """
    filler = MAX_FRONT_MATTER_BYTES - len(REQUIRED.encode()) - len("note: ''\n")
    at_limit = REQUIRED + "note: '" + "é" * (filler // 2) + "x" * (filler % 2) + "'\n"
    assert len(at_limit.encode()) == MAX_FRONT_MATTER_BYTES
    assert len(str(load_front_matter(at_limit, "b.task.md")["note"])) == filler // 2 + filler % 2
    with pytest.raises(MalformedTask, match="MAX_FRONT_MATTER_BYTES"):
        load_front_matter(at_limit.replace("'\n", "x'\n"), "b.task.md")


def test_undefined_and_broken_aliases_are_still_reported_by_the_loader() -> None:
    """An alias to no anchor is left to ruamel.yaml, whose message (with its line) is kept."""
    with pytest.raises(MalformedTask, match="not valid YAML at front-matter line 4"):
        load_front_matter(REQUIRED + "x: *nowhere\n", "u.task.md")


# -- legitimate aliases -----------------------------------------------------------------------

ALIASED = """\
# Share reviewers

---
type: feature
status: todo  # agreed
area: api
reviewers: &reviewers
  - alice
  - bob
defaults: &defaults {timeout: 30, retries: 2}
backend: {<<: *defaults, retries: 5}
frontend:
  reviewers: *reviewers
  label: &label ui
  labels: [*label, *label]
---

## Instruction
Reuse the lists.
"""


def test_a_few_legitimate_aliases_load_and_round_trip_unchanged(tmp_path: Path) -> None:
    """A few anchors, aliases and a merge key load expanded and round-trip unchanged.

    The document renders back byte for byte, and a status change touches only the status line.
    """
    document = parse_document(ALIASED)
    assert document.render(original_order=True) == ALIASED
    task = document.to_task(task_id="share-01A", path=tmp_path / "share-01A.task.md")
    assert task.extra["reviewers"] == ["alice", "bob"]
    assert task.extra["backend"] == {"timeout": 30, "retries": 5}
    assert task.extra["frontend"] == {
        "reviewers": ["alice", "bob"],
        "label": "ui",
        "labels": ["ui", "ui"],
    }
    path = tmp_path / "share-01A.task.md"
    path.write_text(ALIASED)
    update_task_file(path, status="done")
    assert path.read_text() == ALIASED.replace("status: todo  # agreed", "status: done  # agreed")
    assert read_document(path).to_task(task_id="share-01A", path=path).extra == task.extra


# -- file size --------------------------------------------------------------------------------


def _body_for(size: int) -> str:
    """A valid task file of exactly ``size`` bytes (padding in its instruction)."""
    head = task_text(REQUIRED, "Big")
    return head + "a" * (size - len(head) - 1) + "\n"


@pytest.mark.timeout(20)
def test_a_huge_task_file_is_refused_without_being_read_whole(tmp_path: Path) -> None:
    """A 50 MB task file is refused naming the limit and its size, without being read whole.

    The file is sparse (a valid head, then zeros); reading it allocates about the limit.
    """
    path = tmp_path / "huge-01A.task.md"
    with path.open("wb") as handle:
        handle.write(task_text(REQUIRED, "Huge").encode())
        handle.truncate(50 * 1024 * 1024)

    def read() -> None:
        with pytest.raises(MalformedTask, match="MAX_TASK_FILE_BYTES") as caught:
            read_document(path)
        assert caught.value.path == path
        assert f"limit of {MAX_TASK_FILE_BYTES} bytes" in caught.value.reason
        assert f"({50 * 1024 * 1024} bytes)" in caught.value.reason

    assert peak_bytes(read) < 3 * MAX_TASK_FILE_BYTES


def test_a_task_file_at_the_size_limit_loads(tmp_path: Path) -> None:
    """A file of exactly MAX_TASK_FILE_BYTES bytes loads; one byte more is refused."""
    path = tmp_path / "big-01A.task.md"
    path.write_text(_body_for(MAX_TASK_FILE_BYTES))
    assert path.stat().st_size == MAX_TASK_FILE_BYTES
    assert read_document(path).title == "Big"
    path.write_text(_body_for(MAX_TASK_FILE_BYTES + 1))
    with pytest.raises(MalformedTask, match="MAX_TASK_FILE_BYTES"):
        read_document(path)


def test_the_store_reports_a_huge_file_and_lists_the_rest(tmp_path: Path) -> None:
    """check_tasks names a too-large task file and list_tasks still returns the good one."""
    current = tmp_path / ".tasks" / "current"
    current.mkdir(parents=True)
    (current / "big-01A.task.md").write_text(_body_for(MAX_TASK_FILE_BYTES + 10))
    (current / "good-01B.task.md").write_text(task_text(REQUIRED, "Good"))
    store = TaskStore(tmp_path / ".tasks")
    assert [task.id for task in store.list_tasks()] == ["good-01B"]
    [problem] = store.check_tasks()
    assert problem.path.name == "big-01A.task.md"
    assert "MAX_TASK_FILE_BYTES" in problem.reason


def test_no_write_makes_a_file_too_large_to_read_back(tmp_path: Path) -> None:
    """No write makes a file over the limit: write_task and update_task_file refuse first.

    write_task writes nothing; a log line that would push a file over the limit leaves the file
    unchanged.
    """
    big = new_task_document("Big", type="bug", area="core", instruction="a" * MAX_TASK_FILE_BYTES)
    target = tmp_path / "big-01A.task.md"
    with pytest.raises(MalformedTask, match="MAX_TASK_FILE_BYTES"):
        write_task(target, big)
    assert not target.exists()
    almost = tmp_path / "almost-01B.task.md"
    almost.write_text(_body_for(MAX_TASK_FILE_BYTES - 10))
    before = almost.read_bytes()
    with pytest.raises(MalformedTask, match="MAX_TASK_FILE_BYTES"):
        update_task_file(almost, log="this line does not fit")
    assert almost.read_bytes() == before
