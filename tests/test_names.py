"""Branch names: short names only, no ref namespaces, never more than git itself accepts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scopecraft
from scopecraft import ConfigError
from scopecraft._errors import InvalidName
from scopecraft._names import validate_branch
from scopecraft.worktrees import BranchTemplate

NAMESPACES = ("refs", "heads", "tags", "remotes", "origin")

short_names = st.from_regex(
    r"[a-z][a-z0-9_-]{0,8}(/[a-z0-9][a-z0-9._-]{0,8}[a-z0-9]){0,2}", fullmatch=True
).filter(
    # Valid branch names only: git refuses ".." anywhere and components ending in ".lock".
    lambda name: (
        name.split("/")[0] not in NAMESPACES
        and ".." not in name
        and not any(part.endswith(".lock") for part in name.split("/"))
    )
)


def git_accepts_branch(name: str) -> bool:
    """Whether ``git check-ref-format --branch`` accepts ``name``."""
    done = subprocess.run(
        ["git", "check-ref-format", "--branch", name],
        capture_output=True,
        check=False,
        timeout=10,
    )
    return done.returncode == 0


@pytest.mark.parametrize(
    ("given_name", "hint"),
    [
        ("refs/heads/main", "pass the branch name without refs/heads/: 'main'"),
        ("refs/heads/feature/x", "without refs/heads/: 'feature/x'"),
        ("heads/main", "without heads/: 'main'; git reads heads/<name> as a ref under refs/heads/"),
        ("origin/main", "without origin/: 'main'; it names a remote-tracking branch"),
        ("remotes/origin/main", "without remotes/origin/: 'main'; it names a remote-tracking"),
        ("refs/remotes/origin/main", "without refs/remotes/origin/: 'main'"),
        ("refs/tags/v1", "without refs/tags/: 'v1'"),
        ("tags/v1", "without tags/: 'v1'"),
        ("refs/notes/x", "without refs/: 'notes/x'"),
        ("Refs/Heads/main", "without Refs/Heads/: 'main'"),
        ("ORIGIN/main", "without ORIGIN/: 'main'"),
        ("refs/heads/refs/heads/main", "without refs/heads/refs/heads/: 'main'"),
        ("refs/heads/HEAD", "without refs/heads/"),
    ],
)
def test_full_ref_names_and_namespaces_are_refused_saying_what_to_pass(
    given_name: str, hint: str
) -> None:
    """A branch given with refs/, heads/, tags/, remotes/ or origin/ is refused, saying why.

    The reason names the prefix to drop and the short name to pass, when that one is valid.
    """
    with pytest.raises(InvalidName) as caught:
        validate_branch(given_name)
    assert caught.value.kind == "branch"
    assert hint in caught.value.reason
    if "HEAD" in given_name:
        assert ": 'HEAD'" not in caught.value.reason  # no suggestion that is itself refused


@pytest.mark.parametrize(
    "name",
    [
        "main",
        "feature/x",
        "task/x",
        "feature/payments-07B--01_api-07D",
        "task/auth-05A",
        "origin",
        "refs",
        "heads",
        "originals/x",
        "refs-cleanup/x",
        "feature/origin/x",
        "feature/refs/heads/x",
        "a./b",
    ],
)
def test_names_that_only_look_like_namespaces_stay_valid(name: str) -> None:
    """The project's templates, and names not starting with a ref namespace, stay valid."""
    assert validate_branch(name) == name


@settings(max_examples=200, deadline=None)
@given(
    namespace=st.sampled_from(["refs/heads/", "heads/", "origin/", "remotes/upstream/", "refs/"]),
    name=short_names,
)
def test_the_suggested_name_is_the_short_name_and_is_valid(namespace: str, name: str) -> None:
    """Behind any namespace prefix, the refusal suggests exactly the short name, itself valid."""
    with pytest.raises(InvalidName) as caught:
        validate_branch(namespace + name)
    assert f"without {namespace}: {name!r}" in caught.value.reason
    assert validate_branch(name) == name


@pytest.mark.timeout(60)
@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(alphabet="ab/.-_", min_size=1, max_size=12),
        st.builds(
            "".join,
            st.lists(
                st.sampled_from(["a", "/", ".", "-", "_", "lock", "HEAD", "refs/", "x."]),
                min_size=1,
                max_size=6,
            ),
        ),
    )
)
def test_branches_accepted_are_ones_git_accepts(name: str) -> None:
    """validate_branch never accepts a name that git check-ref-format --branch refuses.

    Over the characters it allows, it refuses only what git refuses, or a namespace prefix.
    """
    ours = True
    try:
        validate_branch(name)
    except InvalidName:
        ours = False
    theirs = git_accepts_branch(name)
    if ours:
        assert theirs
    elif theirs:
        assert "/" in name
        assert name.split("/")[0].lower() in NAMESPACES


def test_a_branch_template_in_a_ref_namespace_is_a_config_error() -> None:
    """A template such as refs/heads/{env_id} or origin/{env_id} is refused when made."""
    for template in ("refs/heads/{env_id}", "origin/{env_id}", "heads/{env_id}"):
        with pytest.raises(ConfigError, match="pass the branch name without"):
            BranchTemplate(template)
    assert BranchTemplate("task/{env_id}").render("auth-05A") == "task/auth-05A"


def _refs_and_worktrees(repo: Path) -> list[str]:
    """The repository's refs and registered worktrees."""
    found = []
    for argv in (["for-each-ref", "--format=%(refname)"], ["worktree", "list", "--porcelain"]):
        done = subprocess.run(
            ["git", *argv], cwd=repo, capture_output=True, text=True, check=True, timeout=30
        )
        found += done.stdout.splitlines()
    return found


@pytest.mark.timeout(30)
def test_create_session_refuses_a_full_ref_name_before_anything_exists(
    repo: Path, home: Path
) -> None:
    """create_session(branch="refs/heads/x") is refused with the short name, before any change.

    No session, no branch (it would have been refs/heads/refs/heads/x) and no worktree are made.
    """
    before = _refs_and_worktrees(repo)
    with scopecraft.connect(repo, home=home) as engine:
        with pytest.raises(InvalidName, match="without refs/heads/: 'spike'"):
            engine.create_session(
                "ok-01A",
                executor="local",
                agent="fake",
                mode="autonomous",
                branch="refs/heads/spike",
            )
        with pytest.raises(InvalidName, match="without origin/: 'spike'"):
            engine.create_session(
                "ok-01A", executor="local", agent="fake", mode="autonomous", branch="origin/spike"
            )
        assert engine.list_sessions(all=True) == []
    assert _refs_and_worktrees(repo) == before
