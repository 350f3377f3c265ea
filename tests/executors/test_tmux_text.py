"""The tmux executor's text helpers: argument escaping, input cleaning, output cleaning (also on
a real pane's bytes)."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tmux_support import launch_spec, posix_shell, private_server

from scopecraft import InvalidName
from scopecraft._errors import ExecutorError
from scopecraft._terminal_hooks import read_hook_signals
from scopecraft.executors._protocol import RuntimeStatus
from scopecraft.executors._tmux import TmuxExecutor
from scopecraft.executors._tmux_client import escape_arg, format_literal
from scopecraft.executors._tmux_config import (
    clean_input_line,
    split_input,
    validate_label,
    validate_runtime_name,
)
from scopecraft.executors._tmux_output import (
    _MAX_COLUMN,
    PANE_LOG,
    clean_terminal_line,
    read_pane_output,
)

FIXTURES = Path(__file__).parent / "fixtures"
WELCOME = FIXTURES / "claude-2.1.332-welcome.ansi"
TRUST = FIXTURES / "claude-2.1.332-trust-folder.ansi"


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


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Welcome\x1b[1Cto\x1b[1CClaude\x1b[1CCode", "Welcome to Claude Code"),
        ("a\x1b[3Cb", "a   b"),
        ("a\x1b[Cb", "a b"),
        ("a\x1b[0Cb", "a b"),
        ("Welcome\x1b[9Gto\x1b[12GClaude", "Welcome to Claude"),
        ("\x1b[6G*", "     *"),
        ("\x1b[Gx", "x"),
        ("a\x1b[3ab", "a   b"),  # HPR, CUF's twin
        ("a\x1b[4`b", "a  b"),  # HPA, CHA's twin
        ("\x9b2Cx", "  x"),  # the one-character CSI
        ("a\x1b[38;5;174m\x1b[3Gb\x1b[39m", "a b"),
        ("x\x1b[5C", "x"),
        ("x\x1b[5C\x1b[0m\r\r", "x"),
        ("old\r\x1b[3Cnew", "   new"),
        ("ab\x1b[3C\bx", "ab  x"),
        ("ab\x1b[2C\b\b\b\bx", "x"),
        ("hello\b\b\b\x1b[5Gx", "he  x"),
        ("a\tb\x1b[17Gc", "a\tb" + " " * 7 + "c"),
        ("\u65e5\u672c\x1b[6Gx", "\u65e5\u672c x"),
        ("e\u0301\x1b[3Gx", "e\u0301 x"),
    ],
)
def test_cursor_moves_to_the_right_become_spaces(raw: str, clean: str) -> None:
    """``ESC[<n>C`` and a move to a further column (``ESC[<n>G``) become the spaces they
    skip, counted in terminal columns (a tab to the next multiple of 8, a wide character two, a
    combining mark none); a move after the last character adds nothing."""
    assert clean_terminal_line(raw) == clean


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("abc\x1b[2Gd", "abcd"),  # a move left: the text is kept, never drawn over
        ("ab\x1b[1Gc", "abc"),
        ("a\x1b[3Xb", "ab"),  # ECH leaves the cursor where it is
        ("a\x1b[3X\x1b[3Cb", "a   b"),
        ("abc\x1b[K\x1b[5Gd", "abc d"),
        ("a\x1b[2;5Cb", "ab"),  # not one count: not a move this module knows
        ("a\x1b[?5Cb", "ab"),
        ("a\x1b[5 Cb", "ab"),
        ("a\x1b[5Db", "ab"),
        ("a\x1b[2Bb", "ab"),
        ("a\x1b[3;7Hb", "ab"),
    ],
)
def test_other_cursor_sequences_add_no_space(raw: str, clean: str) -> None:
    """Moves left or to other rows, erasures and sequences with other parameters are removed
    and add no space."""
    assert clean_terminal_line(raw) == clean


def test_a_move_never_goes_past_the_column_limit() -> None:
    """However large its count, a move reaches column 10000 at most, and repeating it adds no
    more; a count too long for ``int`` is as far as a move goes."""
    assert _MAX_COLUMN == 10_000
    assert clean_terminal_line("a\x1b[999999Cb") == "a" + " " * (_MAX_COLUMN - 2) + "b"
    assert clean_terminal_line("\x1b[999999Gb") == " " * (_MAX_COLUMN - 1) + "b"
    digits = "9" * 5000  # more digits than int() converts
    assert clean_terminal_line(f"\x1b[{digits}Cb") == " " * (_MAX_COLUMN - 1) + "b"
    assert clean_terminal_line(f"\x1b[{digits}Gb") == " " * (_MAX_COLUMN - 1) + "b"
    repeated = clean_terminal_line("\x1b[999999Cx" * 1000)
    assert repeated == " " * (_MAX_COLUMN - 1) + "x" * 1000
    long_text = "x" * (_MAX_COLUMN + 5)
    assert clean_terminal_line(long_text + "\x1b[5Cy\x1b[99999Gz") == long_text + "yz"


def test_hostile_lines_stay_bounded() -> None:
    """Lines made of huge moves, carriage returns and backspaces clean to at most their own
    text plus one line of spaces."""
    assert clean_terminal_line("\r\x1b[9999Cx" * 20_000) == " " * 9999 + "x"
    assert clean_terminal_line("\x1b[99999C" * 50_000) == ""
    bounced = clean_terminal_line("\x1b[99999Cx\b\b" * 20_000)
    assert len(bounced) <= _MAX_COLUMN
    assert bounced.strip() == ""
    assert clean_terminal_line("\t\b" * 50_000 + "\x1b[9Gx") == " " * 8 + "x"
    assert clean_terminal_line("a" * 50_000 + "\b" * 50_000 + "\x1b[3Gb") == "  b"


_moves = st.builds(
    lambda count, final: f"\x1b[{count}{final}",
    st.integers(min_value=0, max_value=10**7),
    st.sampled_from("CGa`X"),
)
_hostile = st.lists(
    st.one_of(st.text(max_size=4), _moves, st.sampled_from(["\r", "\b", "\t", "\x1b[0m"])),
    max_size=40,
).map("".join)


@given(_hostile)
def test_moves_add_at_most_one_line_of_spaces(raw: str) -> None:
    """Whatever moves a line holds, its cleaned text is at most its own length plus the column
    limit, and it holds no control character but tabs."""
    cleaned = clean_terminal_line(raw)
    assert len(cleaned) <= len(raw) + _MAX_COLUMN
    assert all(ch == "\t" or not (ord(ch) < 32 or 0x7F <= ord(ch) <= 0x9F) for ch in cleaned)


_words = st.lists(
    st.tuples(st.text(alphabet="abcXYZ019.,:()", min_size=1, max_size=12), st.integers(1, 30)),
    min_size=1,
    max_size=12,
)


@given(_words)
def test_words_drawn_with_moves_read_as_words_with_spaces(words: list[tuple[str, int]]) -> None:
    """Words drawn with cursor moves between them, relative (``ESC[<n>C``) or absolute
    (``ESC[<n>G``) and in colour, read as the same words with those gaps as spaces."""
    expected = "".join(" " * gap + word for word, gap in words)
    relative = "".join(f"\x1b[{gap}C\x1b[38;5;174m{word}\x1b[39m" for word, gap in words)
    absolute: list[str] = []
    column = 1
    for word, gap in words:
        column += gap
        absolute.append(f"\x1b[{column}G\x1b[1m{word}\x1b[22m")
        column += len(word)
    assert clean_terminal_line(relative) == expected
    assert clean_terminal_line("".join(absolute)) == expected


def test_raw_pane_bytes_keep_their_spacing(tmp_path: Path) -> None:
    """Bytes read from ``pane.log`` keep the spaces their moves draw, line by line, whatever
    else they hold (bytes that are not UTF-8, the two-byte C1 CSI, a huge count)."""
    (tmp_path / PANE_LOG).write_bytes(
        b"Welcome\x1b[1Cto\x1b[12GClaude\r\r\n"
        b"\xff\x1b[3Cbad byte\r\n"
        b"\xc2\x9b2Cc1\r\n"
        b"\x1b[99999999999999999999Cfar\r\n"
        b"\x1b[4G"
    )
    lines, _ = read_pane_output(tmp_path, None, final=True)
    assert lines == [
        ("stdout", "Welcome to Claude"),
        ("stdout", "\ufffd   bad byte"),
        ("stdout", "  c1"),
        ("stdout", " " * (_MAX_COLUMN - 1) + "far"),
        ("stdout", ""),
    ]


def test_rows_drawn_without_newlines_are_lines(tmp_path: Path) -> None:
    """A full-screen UI draws row after row with a carriage return and a cursor move down
    (``ESC[1B``, ``ESC[E``, ``ESC D``), never a newline: each row is a line, rows left blank
    by the moves are none, and a row whose break is not yet complete waits for it."""
    (tmp_path / PANE_LOG).write_bytes(
        b"\x1b[2K first row\r\x1b[1B\r\x1b[1B\x1b[2Ksecond\x1b[9Grow\r\x1b[E"
        b"third\x1bDfourth\n\nfifth\x1b[1"
    )
    lines, cursor = read_pane_output(tmp_path, None, final=False)
    assert lines == [
        ("stdout", " first row"),
        ("stdout", "second  row"),
        ("stdout", "third"),
        ("stdout", "fourth"),
        ("stdout", ""),
    ]
    with (tmp_path / PANE_LOG).open("ab") as fh:
        fh.write(b"Bsixth\n")
    more, _ = read_pane_output(tmp_path, cursor, final=False)
    assert more == [("stdout", "fifth"), ("stdout", "sixth")]


def test_runs_drawn_at_cursor_positions_are_lines(tmp_path: Path) -> None:
    """A UI that draws each changed run of cells after a cursor position (``ESC[<r>;<c>H``,
    ``ESC[<r>H``, ``ESC[<r>d``; Codex's TUI) gives one line per run, not one screen-long
    line that only ends when the read limit cuts it."""
    (tmp_path / PANE_LOG).write_bytes(
        b"\x1b[2;3HMeet the model\x1b[4;1H\x1b[1m1. Try it\x1b[0m\x1b[5H2. Keep\x1b[7dend\n"
    )
    lines, _ = read_pane_output(tmp_path, None, final=False)
    assert lines == [
        ("stdout", "Meet the model"),
        ("stdout", "1. Try it"),
        ("stdout", "2. Keep"),
        ("stdout", "end"),
    ]


def test_the_real_claude_code_screens_read_with_their_spaces(tmp_path: Path) -> None:
    """Raw pane output of the real interactive Claude Code, which draws the gaps between words
    with ``ESC[<n>G``, reads with its spaces once cleaned."""
    (tmp_path / PANE_LOG).write_bytes(WELCOME.read_bytes())
    lines, _ = read_pane_output(tmp_path, None, final=True)
    texts = [text for _, text in lines]
    assert texts[0] == "Welcome to Claude Code v2.1.332"
    assert " Unable to connect to Anthropic services" in texts
    assert " Failed to connect to api.anthropic.com: EAI_AGAIN" in texts
    assert "     *                                       \u2588\u2588\u2588\u2588\u2588" in texts[3]
    (tmp_path / PANE_LOG).write_bytes(TRUST.read_bytes())
    lines, _ = read_pane_output(tmp_path, None, final=True)
    texts = [text for _, text in lines]
    assert " Claude Code'll be able to read, edit, and execute files here." in texts
    assert "   Yes, I trust this folder" in texts
    assert " Enter to confirm \u00b7 Esc to cancel" in texts
    assert " Security guide" in texts


@pytest.fixture
def executor() -> Iterator[TmuxExecutor]:
    """A tmux executor on a private tmux server of its own; closed at teardown."""
    with private_server() as socket:
        executor = TmuxExecutor(socket_name=socket, snapshot_ttl=0.0, settle=0.02)
        yield executor
        anyio.run(executor.aclose)


@pytest.mark.tmux
@pytest.mark.anyio
async def test_a_real_pane_log_keeps_the_spaces_drawn_with_cursor_moves(
    executor: TmuxExecutor, tmp_path: Path
) -> None:
    """In a real tmux pane, text drawn with cursor moves is stored with its spaces, and each
    line of the real Claude Code's output reads as the row tmux drew on the screen."""
    script = (
        "printf 'Welcome\\033[1Cto\\033[1CClaude\\033[1CCode\\n'; "
        "printf 'col\\033[9Gnine\\033[3Cdone\\n'; "
        "printf '\\033[38;5;174m\\033[4Gindented\\033[39m\\n'; "
        "printf 'erase\\033[3X\\033[2Cgap\\n'; "
        "printf 'huge\\033[999999Cend\\n'; "
        f"cat {shlex.quote(str(WELCOME))} {shlex.quote(str(TRUST))}"
    )
    handle = await executor.start(launch_spec(tmp_path, (posix_shell(), "-c", script)))
    with anyio.fail_after(15):
        while (await executor.state(handle)).status is RuntimeStatus.RUNNING:
            await anyio.sleep(0.02)
    chunk = await executor.read_output(handle, None, final=True)
    texts = [text for stream, text in chunk.lines if stream == "stdout"]
    assert texts[:5] == [
        "Welcome to Claude Code",
        "col     nine   done",
        "   indented",
        "erase  gap",
        "huge" + " " * (_MAX_COLUMN - 5) + "end",
    ]
    assert "Welcome to Claude Code v2.1.332" in texts
    question = " Quick safety check: Is this a project you created or one you trust?"
    assert f"{question} (Like your own code, a" in texts
    screen = {row.rstrip() for row in (await executor.capture(handle, history=True)).split("\n")}
    drawn = [text for text in texts[5:] if text.strip()]
    assert len(drawn) > 30
    assert [text for text in drawn if text.rstrip() not in screen] == []
    await executor.remove(handle)


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
