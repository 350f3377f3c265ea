"""Pure helpers of the tmux executor: argument escaping, input cleaning, output cleaning."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scopecraft import InvalidName
from scopecraft._errors import ExecutorError
from scopecraft.executors._tmux_client import escape_arg, format_literal
from scopecraft.executors._tmux_config import (
    clean_input_line,
    split_input,
    validate_label,
    validate_runtime_name,
)
from scopecraft.executors._tmux_hooks import read_hook_signals
from scopecraft.executors._tmux_output import clean_terminal_line, read_pane_output


def test_a_final_semicolon_is_escaped_and_nothing_else() -> None:
    """Only a final ``;`` (tmux's command separator) is escaped, as ``\\;``."""
    assert escape_arg("plain") == "plain"
    assert escape_arg("x;") == "x\\;"
    assert escape_arg(";") == "\\;"
    assert escape_arg("a;b") == "a;b"
    assert escape_arg("a\\;") == "a\\\\;"
    with pytest.raises(ExecutorError):
        escape_arg("nul\x00")


def test_formats_are_kept_literal() -> None:
    """Every ``#`` is doubled where tmux expands formats."""
    assert format_literal("a #{x} #(cmd) ##") == "a ##{x} ##(cmd) ####"


@given(st.text())
def test_cleaned_input_holds_no_control_character(text: str) -> None:
    """Whatever the feedback, the lines typed hold no control character and no line break,
    and no line is blank."""
    for line in split_input(text):
        assert line.strip()
        assert all(ord(ch) >= 32 and not 0x7F <= ord(ch) <= 0x9F for ch in line)
        assert line.splitlines() == [line]


def test_input_lines_keep_their_text() -> None:
    """Escapes lose their ESC, tabs become spaces, line breaks of any kind split lines."""
    assert split_input("a\r\nb\n\n  \nc\u2028d") == ["a", "b", "c", "d"]
    assert clean_input_line("\x1b[31mred\tx\x03") == "[31mred x"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("\x1b[1;31mred\x1b[0m", "red"),
        ("\x1b]0;title\x07text", "text"),
        ("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link"),
        ("spin 1\rspin 2\rdone\r", "done"),
        ("abc\b\bx", "ax"),
        ("\x1b(Bplain\x1b=", "plain"),
        ("\x9b2Kcsi8", "csi8"),
        ("tab\tkept", "tab\tkept"),
        ("\x1bPdcs stuff\x1b\\after", "after"),
    ],
)
def test_terminal_output_is_cleaned(raw: str, clean: str) -> None:
    """Escape sequences, redraws and control characters are removed from output lines."""
    assert clean_terminal_line(raw) == clean


@given(st.text())
def test_cleaned_output_holds_no_control_character(text: str) -> None:
    """Whatever the agent prints, a cleaned line holds no control character but tabs."""
    cleaned = clean_terminal_line(text)
    assert all(ch == "\t" or not (ord(ch) < 32 or 0x7F <= ord(ch) <= 0x9F) for ch in cleaned)


def test_names_and_labels_are_validated() -> None:
    """Runtime names refuse tmux's target syntax; labels refuse odd keys and controls."""
    assert validate_runtime_name("scopecraft-ses-abc-1") == "scopecraft-ses-abc-1"
    for bad in ("a.b", "a:b", "=a", "$1", "%1", "@1", "-a", "", "a b", "x" * 201):
        with pytest.raises(InvalidName):
            validate_runtime_name(bad)
    assert validate_label("scopecraft.session", "ses-1") == ("@scopecraft.session", "ses-1")
    with pytest.raises(InvalidName):
        validate_label("Scopecraft", "x")
    with pytest.raises(InvalidName):
        validate_label("scopecraft.task", "line\nbreak")


def test_output_is_read_by_byte_cursor(tmp_path: Path) -> None:
    """Complete lines only, each once; a partial line waits, or counts when ``final``."""
    log = tmp_path / "pane.log"
    log.write_bytes(b"one\r\ntw")
    lines, cursor = read_pane_output(tmp_path, None, final=False)
    assert lines == [("stdout", "one")]
    with log.open("ab") as fh:
        fh.write(b"o\r\nthree")
    lines, cursor = read_pane_output(tmp_path, cursor, final=False)
    assert lines == [("stdout", "two")]
    lines, cursor = read_pane_output(tmp_path, {**cursor, "attempt": 1}, final=True)
    assert lines == [("stdout", "three")]
    assert cursor["attempt"] == 1, "keys the engine adds are kept"
    assert read_pane_output(tmp_path, cursor, final=True)[0] == []


def test_hook_lines_are_read_whole_and_odd_lines_skipped(tmp_path: Path) -> None:
    """Only complete JSON lines naming a hook event become signals."""
    path = tmp_path / "hooks.jsonl"
    path.write_bytes(
        b'{"hook_event_name":"Stop","session_id":"s1"}\nnot json\n[1]\n{"x":1}\n'
        b'{"hook_event_name":"SessionEnd","reason":"exit"}\n{"hook_event_name":"Sto'
    )
    signals, offset = read_hook_signals(path)
    assert [s.event for s in signals] == ["Stop", "SessionEnd"]
    assert signals[0].agent_session_id == "s1"
    assert signals[0].waiting_for_input
    assert "exit" in signals[1].describe()
    assert read_hook_signals(path, offset) == ([], offset)
