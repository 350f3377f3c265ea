"""The task store over copies of the sample layouts: identity, lookups, problems, writes."""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scopecraft import InvalidName, MalformedTask, TaskNotFound
from scopecraft._models import Priority
from scopecraft.tasks import (
    TaskProblem,
    TaskStore,
    new_task_document,
    parse_document,
    update_task_file,
    write_task,
)

ALICE_REPO = Path("/home/alice/code/myapp")
"""The repository the central-layout sample belongs to."""
NOW = datetime(2025, 7, 1, 12, 30, tzinfo=UTC)

REPO_IDS = [
    "01_research-oauth-05B",
    "02_impl-api-05C",
    "02_impl-ui-05D",
    "add-rate-limiter-11A",
    "auth-05A",
    "export-user-data-11B",
    "old-cleanup-06A",
]


# -- file-system access recorder (audit hooks cannot be removed, so one gated hook) -----------

_recording: list[list[tuple[str, str]]] = []
_WATCHED = {"open", "os.scandir", "os.listdir", "os.mkdir", "os.remove", "os.rename", "os.link"}


def _audit(event: str, args: tuple[object, ...]) -> None:
    if _recording and event in _WATCHED and args and isinstance(args[0], str | bytes | Path):
        _recording[-1].append((event, os.fsdecode(args[0])))


sys.addaudithook(_audit)

# ruamel.yaml imports some of its modules on first use; do that now, so that the recorder only
# sees what the store itself opens.
_warm = parse_document("# T\n\n---\ntype: a\nstatus: b\narea: c\n---\n")
_warm.set_status("done")
_warm.render()


@contextmanager
def recorded_file_access() -> Iterator[list[tuple[str, str]]]:
    """Record the paths opened, listed or changed in this block (audit events)."""
    seen: list[tuple[str, str]] = []
    _recording.append(seen)
    try:
        yield seen
    finally:
        _recording.pop()


# -- layouts ------------------------------------------------------------------------------


def test_repo_layout_lists_every_task_with_its_identity(repo_tasks: Path) -> None:
    """All tasks of the repo layout load, sorted by id, with location, parent and sequence."""
    store = TaskStore(repo_tasks)
    tasks = {task.id: task for task in store.list_tasks()}
    assert sorted(tasks) == REPO_IDS
    assert [t.id for t in store.list_tasks()] == REPO_IDS
    assert tasks["export-user-data-11B"].location == "backlog"
    assert tasks["old-cleanup-06A"].location == "archive/2025-06"
    assert tasks["auth-05A"].is_parent
    assert tasks["auth-05A"].path == repo_tasks / "current" / "auth-05A" / "_overview.md"
    assert tasks["02_impl-api-05C"].parent_id == "auth-05A"
    assert tasks["02_impl-api-05C"].sequence == 2
    assert tasks["02_impl-api-05C"].env_id == "auth-05A"
    assert tasks["02_impl-api-05C"].tags == ("execution:autonomous",)
    assert tasks["add-rate-limiter-11A"].sequence is None
    assert store.check_tasks() == []


def test_supporting_documents_are_not_tasks(repo_tasks: Path) -> None:
    """design-notes.md in a parent folder is neither listed nor reported as a problem."""
    store = TaskStore(repo_tasks)
    assert all(task.path.name != "design-notes.md" for task in store.list_tasks())
    assert all(problem.path.name != "design-notes.md" for problem in store.check_tasks())
    with pytest.raises(TaskNotFound):
        store.get_task("design-notes")


def test_front_matter_first_task_keeps_its_custom_key(repo_tasks: Path) -> None:
    """The front-matter-first sample loads, with estimate in extra and its values normalised."""
    task = TaskStore(repo_tasks).get_task("add-rate-limiter-11A")
    assert task.title == "Add a rate limiter to the public API"
    assert task.extra == {"phase": "active", "estimate": "3h"}
    assert task.priority is Priority.HIGHEST
    assert task.tasks_section == "- [ ] Middleware\n- [ ] Config"


def test_parents_subtasks_and_parallel_groups(repo_tasks: Path) -> None:
    """A parent's subtasks come by sequence; subtasks sharing NN form a parallel group."""
    store = TaskStore(repo_tasks)
    overview = store.overview("auth-05A")
    assert overview is not None
    assert overview.title == "Add OAuth login"
    assert [t.id for t in store.subtasks("auth-05A")] == [
        "01_research-oauth-05B",
        "02_impl-api-05C",
        "02_impl-ui-05D",
    ]
    assert [t.id for t in store.parallel_group("auth-05A", 2)] == [
        "02_impl-api-05C",
        "02_impl-ui-05D",
    ]
    assert store.parallel_group("auth-05A", 3) == []
    assert store.overview("export-user-data-11B") is None
    assert store.subtasks("export-user-data-11B") == []
    with pytest.raises(TaskNotFound):
        store.subtasks("nope-01A")


def test_central_layout_is_found_from_the_repository_path(central_home: Path) -> None:
    """for_repo picks the central layout when the repository has no .tasks folder."""
    store = TaskStore.for_repo(ALICE_REPO, home=central_home)
    assert store.layout == "central"
    assert store.root == central_home / "projects" / "home-alice-code-myapp" / "tasks"
    tasks = {task.id: task for task in store.list_tasks()}
    assert sorted(tasks) == [
        "01_meter-calls-09D",
        "billing-09C",
        "fix-login-redirect-10A",
        "tidy-readme-10B",
    ]
    assert tasks["tidy-readme-10B"].location == "archive/2025-10"
    assert tasks["fix-login-redirect-10A"].status == "blocked"
    assert tasks["billing-09C"].extra == {"phase": "active"}
    assert [t.id for t in store.subtasks("billing-09C")] == ["01_meter-calls-09D"]


def test_for_repo_prefers_the_repository_layout(repo_tasks: Path, tmp_path: Path) -> None:
    """auto picks <repo>/.tasks when it exists; a forced layout is honoured."""
    repo = repo_tasks.parent
    assert TaskStore.for_repo(repo, home=tmp_path / "home") == TaskStore(repo_tasks, layout="repo")
    central = TaskStore.for_repo(repo, home=tmp_path / "home", layout="central")
    assert central.layout == "central"
    assert central.list_tasks() == []
    with pytest.raises(ValueError, match="layout"):
        TaskStore.for_repo(repo, layout="other")  # type: ignore[arg-type]


def test_default_home_honours_scopecraft_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without home=, the central layout lives under SCOPECRAFT_HOME."""
    monkeypatch.setenv("SCOPECRAFT_HOME", str(tmp_path / "sc"))
    store = TaskStore.for_repo(tmp_path / "repo", layout="central")
    assert store.root.is_relative_to(tmp_path / "sc" / "projects")


def test_missing_tasks_folder_gives_no_tasks_and_a_clear_error(tmp_path: Path) -> None:
    """A store whose folder does not exist lists nothing and says so when asked for a task."""
    store = TaskStore(tmp_path / "absent")
    assert store.list_tasks() == []
    assert store.check_tasks() == []
    with pytest.raises(TaskNotFound, match="no tasks folder"):
        store.get_task("auth-05A")


# -- lookups ------------------------------------------------------------------------------


def test_get_task_suggests_close_ids(repo_tasks: Path) -> None:
    """An unknown id that is close to a real one gets a suggestion."""
    with pytest.raises(TaskNotFound, match="did you mean auth-05A"):
        TaskStore(repo_tasks).get_task("auth-05B")


def test_duplicate_ids_resolve_current_then_backlog_then_archive(repo_tasks: Path) -> None:
    """When a task file exists in several locations, current wins, then backlog, then archive."""
    store = TaskStore(repo_tasks)
    source = repo_tasks / "backlog" / "export-user-data-11B.task.md"
    for month in ("2025-01", "2025-09"):
        (repo_tasks / "archive" / month).mkdir(parents=True, exist_ok=True)
        shutil.copy(source, repo_tasks / "archive" / month / source.name)
    assert store.get_task("export-user-data-11B").location == "backlog"
    source.unlink()
    assert store.get_task("export-user-data-11B").location == "archive/2025-09"
    shutil.copy(repo_tasks / "archive" / "2025-01" / source.name, repo_tasks / "current")
    assert store.path_of("export-user-data-11B") == repo_tasks / "current" / source.name
    locations = [t.location for t in store.list_tasks() if t.id == "export-user-data-11B"]
    assert locations == ["current", "archive/2025-09", "archive/2025-01"]


def test_relative_path_finds_the_same_task_in_another_worktree(
    repo_tasks: Path, tmp_path: Path
) -> None:
    """relative_path maps a task to the same file in another copy of the tasks folder."""
    store = TaskStore(repo_tasks)
    task = store.get_task("02_impl-api-05C")
    rel = store.relative_path(task)
    assert rel == Path("current/auth-05A/02_impl-api-05C.task.md")
    worktree_tasks = tmp_path / "worktree" / ".tasks"
    shutil.copytree(repo_tasks, worktree_tasks)
    other = TaskStore(worktree_tasks).load(rel)
    assert other.id == task.id
    assert other.parent_id == "auth-05A"
    assert other.path == worktree_tasks / rel
    with pytest.raises(InvalidName):
        TaskStore(tmp_path / "elsewhere").relative_path(task)
    with pytest.raises(InvalidName):
        store.load("../outside.task.md")
    with pytest.raises(TaskNotFound):
        store.load("current/none-01A.task.md")


# -- malformed files ----------------------------------------------------------------------

BROKEN_FILES = {
    "current/missing-area-01A.task.md": (
        "# No area\n\n---\ntype: bug\nstatus: todo\n---\n",
        "lacks area",
    ),
    "current/broken-yaml-01B.task.md": (
        "# Broken\n\n---\ntype: [bug\nstatus: todo\narea: x\n---\n",
        "not valid YAML",
    ),
    "current/no-title-01C.task.md": ("---\ntype: bug\nstatus: todo\narea: x\n---\n", "Title"),
    "backlog/no-front-matter-01D.task.md": ("# Title only\n\nSome text.\n", "front matter"),
    "backlog/latin1-01E.task.md": (b"# Caf\xe9\n".decode("latin-1"), "UTF-8"),
    "backlog/bad name 01F.task.md": (
        "# Bad name\n\n---\ntype: bug\nstatus: todo\narea: x\n---\n",
        "not make a valid task id",
    ),
    "current/auth-05A/03_broken-sub-05E.task.md": ("# Sub\n\n---\n: :\n", "closing"),
}


def _write_broken(root: Path) -> None:
    for relative, (text, _) in BROKEN_FILES.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        data = text.encode("latin-1") if "latin1" in relative else text.encode()
        path.write_bytes(data)


def test_malformed_files_are_reported_and_the_others_load(
    repo_tasks: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """check_tasks names each broken file and why; list_tasks skips them with a warning."""
    _write_broken(repo_tasks)
    store = TaskStore(repo_tasks)
    problems = {str(p.path.relative_to(repo_tasks)): p.reason for p in store.check_tasks()}
    assert sorted(problems) == sorted(BROKEN_FILES)
    for relative, (_, reason) in BROKEN_FILES.items():
        assert reason in problems[relative], relative
    with caplog.at_level(logging.WARNING, logger="scopecraft.tasks"):
        assert [t.id for t in store.list_tasks()] == REPO_IDS
    assert len([r for r in caplog.records if r.name == "scopecraft.tasks"]) == len(BROKEN_FILES)
    assert [t.id for t in store.subtasks("auth-05A")][-1] == "02_impl-ui-05D"
    with pytest.raises(MalformedTask, match="lacks area"):
        store.get_task("missing-area-01A")


def test_task_problem_prints_file_and_reason() -> None:
    """A TaskProblem reads as 'path: reason'."""
    assert str(TaskProblem(Path("a.task.md"), "broken")) == "a.task.md: broken"


def test_symlink_pointing_outside_the_root_is_refused(repo_tasks: Path, tmp_path: Path) -> None:
    """A task file that is a link to a file outside the tasks folder is not read."""
    outside = tmp_path / "secret.task.md"
    outside.write_text("# Secret\n\n---\ntype: bug\nstatus: todo\narea: x\n---\n")
    (repo_tasks / "current" / "linked-01A.task.md").symlink_to(outside)
    store = TaskStore(repo_tasks)
    assert "linked-01A" not in {t.id for t in store.list_tasks()}
    assert any("outside" in p.reason for p in store.check_tasks())
    with pytest.raises(MalformedTask, match="outside"):
        store.get_task("linked-01A")


def test_grouping_folder_without_overview_holds_plain_tasks(repo_tasks: Path) -> None:
    """A backlog theme folder (no _overview.md) is not a parent; its task files load as tasks."""
    theme = repo_tasks / "backlog" / "payments"
    theme.mkdir()
    shutil.copy(
        repo_tasks / "backlog" / "export-user-data-11B.task.md", theme / "refunds-07A.task.md"
    )
    task = TaskStore(repo_tasks).get_task("refunds-07A")
    assert task.location == "backlog"
    assert task.parent_id is None


# -- ids are validated before the file system is touched ----------------------------------

BAD_IDS = ["../x", "$(touch x)", "a;b", "a\nb", "a/b", "..", "x y", "`id`", "a|b", "~root", ""]


@pytest.mark.parametrize("task_id", BAD_IDS)
def test_bad_ids_raise_invalid_name_without_file_access(
    task_id: str, repo_tasks: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """get_task, overview, subtasks and path_of refuse bad ids before touching any file."""
    monkeypatch.chdir(tmp_path)
    store = TaskStore(repo_tasks)
    for call in (store.get_task, store.overview, store.subtasks, store.path_of):
        with recorded_file_access() as seen, pytest.raises(InvalidName):
            call(task_id)
        assert seen == []
    assert not (tmp_path / "x").exists()


def test_file_access_recorder_sees_lookups(repo_tasks: Path) -> None:
    """The recorder used above does see a valid lookup listing and reading inside the root."""
    with recorded_file_access() as seen:
        TaskStore(repo_tasks).get_task("auth-05A")
    events = {event for event, _ in seen}
    assert {"os.scandir", "open"} <= events
    assert [path for _, path in seen if not Path(path).is_relative_to(repo_tasks)] == []


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    task_id=st.one_of(
        st.text(max_size=30),
        st.builds(
            lambda a, bad, b: a + bad + b,
            st.from_regex(r"[a-z0-9-]{0,8}", fullmatch=True),
            st.sampled_from(["/", "..", "\n", ";", "$(", "`", "|", "&", " ", "\\", "\x00", "é"]),
            st.from_regex(r"[a-z0-9-]{0,8}", fullmatch=True),
        ),
    )
)
def test_property_get_task_never_reads_outside_the_root(task_id: str, repo_tasks: Path) -> None:
    """For any string, get_task either refuses it untouched or reads only inside the root."""
    store = TaskStore(repo_tasks)
    root = str(repo_tasks)
    with recorded_file_access() as seen:
        try:
            store.get_task(task_id)
        except InvalidName:
            assert seen == []
        except TaskNotFound:
            pass
    assert all(path == root or path.startswith(root + os.sep) for _, path in seen), seen


# -- writing --------------------------------------------------------------------------------


def test_update_task_file_changes_only_status_and_log(repo_tasks: Path) -> None:
    """The status line and one appended log line are the whole difference."""
    path = repo_tasks / "current" / "auth-05A" / "02_impl-api-05C.task.md"
    before = path.read_text()
    update_task_file(path, status="In Progress", log="Session ses-1 started", now=NOW)
    expected = before.replace("status: todo\n", "status: in_progress\n") + (
        "- 2025-07-01 12:30: Session ses-1 started\n"
    )
    assert path.read_text() == expected
    assert TaskStore(repo_tasks).get_task("02_impl-api-05C").status == "in_progress"


def test_update_task_file_keeps_an_equivalent_status_spelling(repo_tasks: Path) -> None:
    """A status already meaning the same thing (To Do vs todo) is not rewritten."""
    path = repo_tasks / "current" / "auth-05A" / "02_impl-api-05C.task.md"
    text = path.read_text().replace("status: todo", "status: 🟡 To Do")
    path.write_text(text)
    update_task_file(path, status="todo")
    assert path.read_text() == text
    update_task_file(path)
    assert path.read_text() == text


def test_update_task_file_rewrites_front_matter_first_title_first(repo_tasks: Path) -> None:
    """A front-matter-first file is written title-first once modified; its content is kept."""
    path = repo_tasks / "current" / "add-rate-limiter-11A.task.md"
    before = parse_document(path.read_text())
    update_task_file(path, log="picked up", now=NOW)
    text = path.read_text()
    assert text.startswith("# Add a rate limiter to the public API\n\n---\ntype: feature\n")
    after = parse_document(text)
    assert after.front_matter == before.front_matter
    assert after.section_text("Notes") == before.section_text("Notes")
    assert after.section_text("Log") == "- 2025-07-01 12:30: picked up"


def test_update_task_file_is_atomic_and_keeps_permissions(repo_tasks: Path) -> None:
    """The file is replaced whole (new inode), keeps its mode, and leaves no temporary file."""
    path = repo_tasks / "backlog" / "export-user-data-11B.task.md"
    path.chmod(0o640)
    inode = path.stat().st_ino
    update_task_file(path, status="done", now=NOW)
    assert path.stat().st_ino != inode
    assert path.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_update_task_file_refuses_a_malformed_file(tmp_path: Path) -> None:
    """A file that is not a valid task is left alone and the error says why."""
    path = tmp_path / "x-01A.task.md"
    path.write_text("# X\n\nno front matter\n")
    with pytest.raises(MalformedTask):
        update_task_file(path, status="done")
    assert path.read_text() == "# X\n\nno front matter\n"


def test_write_task_creates_exclusively(tmp_path: Path) -> None:
    """write_task creates folders, refuses to overwrite unless asked, and checks the name."""
    doc = new_task_document("New", type="chore", area="ops")
    path = tmp_path / "current" / "new-07A.task.md"
    write_task(path, doc)
    assert parse_document(path.read_text()) == doc
    with pytest.raises(FileExistsError):
        write_task(path, doc)
    doc.set_status("done")
    write_task(path, doc, overwrite=True)
    assert parse_document(path.read_text()).status == "done"
    with pytest.raises(InvalidName):
        write_task(tmp_path / "current" / "bad name.task.md", doc)
    with pytest.raises(InvalidName):
        write_task(tmp_path / "current" / "notes.md", doc)
    del doc.front_matter["area"]
    with pytest.raises(MalformedTask, match="area"):
        write_task(tmp_path / "current" / "no-area-07A.task.md", doc)
    assert not (tmp_path / "current" / "no-area-07A.task.md").exists()


def test_create_task_allocates_ids_and_writes_subtasks(repo_tasks: Path) -> None:
    """New ids take the month and the first free letter; subtasks get the next sequence."""
    store = TaskStore(repo_tasks)
    doc = new_task_document("Refresh tokens", type="feature", area="auth")
    first = store.create_task(doc, name="refresh-tokens", now=NOW)
    second = store.create_task(doc, name="refresh-tokens", location="current", now=NOW)
    assert (first.id, first.location) == ("refresh-tokens-07A", "backlog")
    assert (second.id, second.location) == ("refresh-tokens-07B", "current")
    sub = store.create_task(doc, name="rotate-keys", parent_id="auth-05A", now=NOW)
    assert (sub.id, sub.sequence, sub.parent_id) == ("03_rotate-keys-07A", 3, "auth-05A")
    parallel = store.create_task(doc, name="audit-log", parent_id="auth-05A", sequence=3, now=NOW)
    assert [t.id for t in store.parallel_group("auth-05A", 3)] == [
        "03_audit-log-07A",
        "03_rotate-keys-07A",
    ]
    assert parallel.path.parent == repo_tasks / "current" / "auth-05A"
    parent = store.create_task(doc, name="sso", location="current", as_parent=True, now=NOW)
    assert parent.is_parent
    assert parent.path == repo_tasks / "current" / "sso-07A" / "_overview.md"
    assert store.check_tasks() == []


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"name": "Bad Name"}, InvalidName),
        ({"name": "ok", "location": "elsewhere"}, InvalidName),
        ({"name": "ok", "parent_id": "export-user-data-11B"}, TaskNotFound),
        ({"name": "ok", "sequence": 2}, ValueError),
        ({"name": "ok", "parent_id": "auth-05A", "sequence": 100}, ValueError),
        ({"name": "ok", "parent_id": "auth-05A", "as_parent": True}, ValueError),
    ],
)
def test_create_task_refuses_bad_requests(
    repo_tasks: Path, kwargs: dict[str, object], error: type[Exception]
) -> None:
    """Bad names, locations, parents and sequences are refused before anything is written."""
    store = TaskStore(repo_tasks)
    before = sorted(p for p in repo_tasks.rglob("*"))
    with pytest.raises(error):
        store.create_task(new_task_document("T", type="bug", area="x"), **kwargs)  # type: ignore[arg-type]
    assert sorted(p for p in repo_tasks.rglob("*")) == before


def test_central_layout_has_no_backlog_for_new_tasks(central_home: Path) -> None:
    """New central tasks go to current by default; backlog is refused there."""
    store = TaskStore.for_repo(ALICE_REPO, home=central_home)
    doc = new_task_document("T", type="bug", area="x")
    assert store.create_task(doc, name="thing", now=NOW).location == "current"
    with pytest.raises(InvalidName, match="current"):
        store.create_task(doc, name="thing", location="backlog", now=NOW)


def test_store_is_safe_to_use_from_several_threads(repo_tasks: Path) -> None:
    """Lists made at once from worker threads (as the engine does) all agree."""
    store = TaskStore(repo_tasks)
    expected = store.list_tasks()
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: store.list_tasks(), range(16)))
    assert all(result == expected for result in results)


def test_store_refuses_an_unknown_layout(tmp_path: Path) -> None:
    """Only the repository and central layouts exist."""
    with pytest.raises(ValueError, match="layout"):
        TaskStore(tmp_path, layout="flat")  # type: ignore[arg-type]
