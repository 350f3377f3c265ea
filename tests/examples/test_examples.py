"""The examples run: the async script, the notebook (headless, with nbclient), and the executor
plugin package (installed into a private folder, then used for a session end to end)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import make_repo

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
PLUGIN = EXAMPLES / "echo-executor"


def _tree(folder: Path) -> set[str]:
    return {
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if "__pycache__" not in p.parts and not p.name.endswith(".pyc")
    }


def test_run_session_script_runs_a_fake_session(tmp_path: Path) -> None:
    """`python examples/run_session.py` creates a throwaway repository, runs the fake agent,
    follows its logs and prints its events; it exits 0 because the session completed."""
    env = dict(os.environ, TMPDIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "run_session.py")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "completed: cost $0.0100, exit code 0" in result.stdout
    assert "Wrote hello.txt." in result.stdout
    assert "[stdout]" in result.stdout


def test_notebook_runs_headless(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`examples/notebook.ipynb` runs top to bottom on the `python3` kernel (its cells assert
    the session completed and a second attempt ran), and shows the agent's work."""
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    notebook = nbformat.read(EXAMPLES / "notebook.ipynb", as_version=4)  # type: ignore[no-untyped-call]
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), (
        "the notebook is stored without outputs"
    )
    resources = {"metadata": {"path": str(tmp_path)}}
    NotebookClient(notebook, kernel_name="python3", timeout=120, resources=resources).execute()
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            assert output.get("output_type") != "error", output
            texts.append(output.get("text") or output.get("data", {}).get("text/plain", ""))
    shown = "\n".join(texts)
    assert "hello from scopecraft" in shown
    assert "thanks for the review" in shown


def test_echo_executor_plugin_runs_a_session(tmp_path: Path, home: Path) -> None:
    """The example plugin package installs (into a private folder, nothing global) and
    registers `echo` under `scopecraft.executors`; scopecraft discovers it with its
    distribution, and a session runs through it end to end, its banner line in the log."""
    before = _tree(PLUGIN)
    site = tmp_path / "site"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "--no-index",
            "--target",
            str(site),
            str(PLUGIN),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    assert _tree(PLUGIN) == before, "installing leaves no build files in the example"
    env = dict(os.environ, PYTHONPATH=str(site), SCOPECRAFT_HOME=str(home))
    info = subprocess.run(
        [
            sys.executable,
            "-c",
            "from scopecraft._plugins import PluginRegistry; "
            "print(PluginRegistry().info('executors', 'echo').distribution)",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    assert info.stdout.strip() == "scopecraft-echo-executor"
    repo = make_repo(tmp_path / "src", {"ok-01A": "fake: say hello through echo\nfake: cost 0.5"})
    argv = [sys.executable, "-m", "scopecraft.cli", "--repo", str(repo), "--home", str(home)]
    run = subprocess.run(
        [
            *argv,
            "--json",
            "session",
            "start",
            "ok-01A",
            "--executor",
            "echo",
            "--agent",
            "fake",
            "--follow",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    session = lines[-1]
    assert session["executor"] == "echo"
    assert session["status"] == "completed"
    assert session["cost_usd"] == pytest.approx(0.5)
    logs = lines[:-1]
    banner = next(entry for entry in logs if entry["stream"] == "stderr")
    assert banner["text"].startswith("echo-executor: running ")
    assert any("hello through echo" in entry["text"] for entry in logs)
