"""Fitting tables to the terminal: ids whole, lines within the width, ellipses where cut."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console

from scopecraft.cli._fit import ELLIPSIS, Column, fit_columns, one_line, shorten
from scopecraft.cli._render import fitted_table, print_table

_COLUMN = st.builds(
    Column,
    header=st.text(alphabet="ABCDEFGHIJ ", min_size=1, max_size=10).map(str.strip).filter(bool),
    shrink=st.booleans(),
    floor=st.integers(min_value=1, max_value=30),
    drop=st.one_of(st.none(), st.integers(min_value=0, max_value=20)),
    keep_end=st.booleans(),
)


@given(
    columns=st.lists(st.tuples(_COLUMN, st.integers(min_value=0, max_value=120)), max_size=10),
    width=st.integers(min_value=1, max_value=300),
)
def test_a_layout_fits_whenever_the_columns_that_stay_fit(
    columns: list[tuple[Column, int]], width: int
) -> None:
    """Whatever the columns and the width: columns that are never left out are shown; a
    column that does not shrink is shown at its full width or not at all; a shrunk column
    keeps its heading whole; and the line fits whenever the columns that stay fit."""
    cols = [c for c, _ in columns]
    natural = [max(cell_len(c.header), n) for c, n in columns]
    layout = fit_columns(cols, natural, width)
    shown = dict(zip(layout.shown, layout.widths, strict=True))
    keep = [i for i, c in enumerate(cols) if c.drop is None]
    assert set(keep) <= set(shown)
    for index, size in shown.items():
        column = cols[index]
        assert cell_len(column.header) <= size <= natural[index]
        if not column.shrink:
            assert size == natural[index]
    floors = [
        max(cell_len(c.header), min(n, c.floor)) if c.shrink else n
        for c, n in zip(cols, natural, strict=True)
    ]
    if sum(floors[i] for i in keep) + 2 * max(0, len(keep) - 1) <= width:
        assert layout.total <= width
    assert list(layout.shown) == sorted(layout.shown)


def test_wide_shows_every_column_whole() -> None:
    """Without a width (`--wide`), every column is shown at the width of its widest cell."""
    layout = fit_columns([Column("ID"), Column("TITLE", shrink=True, drop=1)], [16, 90], None)
    assert layout.shown == (0, 1)
    assert layout.widths == (16, 90)


def test_the_least_useful_columns_go_first_and_narrow_ones_come_back() -> None:
    """When the floors do not fit, columns go highest `drop` first; one that fits again
    after a wider one went comes back."""
    columns = [
        Column("ID"),
        Column("NOTE", shrink=True, floor=30, drop=9),
        Column("WIDE", drop=8),
        Column("N", drop=7),
    ]
    layout = fit_columns(columns, [16, 60, 30, 3], 40)
    assert layout.shown == (0, 3)
    assert layout.total == 21
    roomy = fit_columns(columns, [16, 60, 30, 3], 200)
    assert roomy.shown == (0, 1, 2, 3)
    assert roomy.widths == (16, 60, 30, 3)


@given(text=st.text(max_size=80), width=st.integers(min_value=1, max_value=60), end=st.booleans())
def test_shorten_fits_and_says_where_it_cut(text: str, width: int, end: bool) -> None:
    """A shortened text fits the width; a text that was cut shows an ellipsis at the cut,
    the rest being a piece of the original."""
    text = one_line(text)
    short = shorten(text, width, keep_end=end)
    assert cell_len(short) <= width
    if cell_len(text) <= width:
        assert short == text
    elif width > 1:
        assert ELLIPSIS in short
        piece = short.replace(ELLIPSIS, "")
        assert text.endswith(piece) if end else text.startswith(piece.rstrip())


def test_a_printed_table_keeps_ids_whole_and_lines_within_the_width() -> None:
    """A fitted table printed on a narrow console: each row on one line within the width,
    the id whole, the title cut with an ellipsis; a key wider than the console widens it
    instead of being cut."""
    columns = [Column("ID"), Column("TITLE", shrink=True, floor=8, drop=1), Column("X", drop=2)]
    rows = [["ses-aaaaaaaaaaaa", "A title that is much too long\nfor one line", "x"]]
    console = Console(width=40, record=True, color_system=None)
    with console.capture() as captured:
        print_table(console, fitted_table(columns, rows, width=40))
    lines = captured.get().splitlines()
    assert len(lines) == 2
    assert all(cell_len(line) <= 40 for line in lines)
    assert lines[1].startswith("ses-aaaaaaaaaaaa  A title")
    assert "…" in lines[1]
    tiny = Console(width=10, record=True, color_system=None)
    with tiny.capture() as captured:
        print_table(tiny, fitted_table(columns, rows, width=10))
    assert captured.get().splitlines()[1].strip() == "ses-aaaaaaaaaaaa"
