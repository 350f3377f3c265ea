"""Tables that fit the terminal: which columns to show, how wide, and cells cut to size.

A table is described by `Column` values. An id column is never cut: it is shown
whole or, when it is not the table's key, left out. A long column (a title, a branch, an
error, a path) is shortened to fit, with an ellipsis, down to a floor that keeps it useful;
when even the floors do not fit, the least important columns are left out first. Every cell
is kept to one line. ``width=None`` (``--wide``) shows every column and every cell whole.

Only `rich.cells` is imported (for the width of wide characters); the renderers build
the rich table from the `Layout`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size

__all__ = ["ELLIPSIS", "GAP", "Column", "Layout", "fit_columns", "one_line", "shorten"]

ELLIPSIS = "…"
GAP = 2
"""Spaces between two columns (rich's padding of one on each side, none at the edges)."""


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a table that fits the terminal.

    Attributes:
        header: Its heading, never cut.
        shrink: It may be shortened with an ellipsis (a title, a branch, a path); otherwise
            it is shown whole or not at all (ids, statuses, numbers).
        floor: For a column that shrinks, the narrowest it is cut to (the heading's width
            at least).
        drop: When columns must go, those with the highest ``drop`` go first; ``None``:
            never left out (the table's key, its status).
        keep_end: Shorten from the start (``…/worktrees/auth-05A``), where the end of a
            value tells it apart (paths, branches).
        justify: ``left`` or ``right``.
        style: The column's rich style.
    """

    header: str
    shrink: bool = False
    floor: int = 12
    drop: int | None = None
    keep_end: bool = False
    justify: str = "left"
    style: str = ""


@dataclass(frozen=True, slots=True)
class Layout:
    """What `fit_columns()` decided: the indexes of the columns shown and their widths."""

    shown: tuple[int, ...]
    widths: tuple[int, ...]

    @property
    def total(self) -> int:
        """The width of a line of the table."""
        return sum(self.widths) + GAP * max(0, len(self.widths) - 1)


def one_line(text: str) -> str:
    """``text`` on one line: every run of whitespace (newlines included) becomes a space."""
    return " ".join(text.split())


def shorten(text: str, width: int, *, keep_end: bool = False) -> str:
    """``text`` in at most ``width`` cells, with an ellipsis where it was cut.

    Args:
        text: One line of text.
        width: The cells it may take (at least 1).
        keep_end: Cut the start instead of the end.
    """
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    if not keep_end:
        return set_cell_size(text, width - 1).rstrip() + ELLIPSIS
    tail = text
    while cell_len(tail) > width - 1:
        tail = tail[1:]
    return ELLIPSIS + tail


def fit_columns(columns: Sequence[Column], natural: Sequence[int], width: int | None) -> Layout:
    """Choose the columns to show and their widths so that a line takes at most ``width``.

    Args:
        columns: The table's columns.
        natural: The width each column needs to show every cell whole (its heading's at
            least).
        width: The terminal's width; ``None`` shows every column whole.

    Returns:
        The layout. Only when the columns that are never left out are wider than ``width``
        by themselves is a line longer than ``width``.
    """
    count = len(columns)
    if width is None:
        return Layout(tuple(range(count)), tuple(natural))
    floors = [
        max(cell_len(c.header), min(n, c.floor)) if c.shrink else n
        for c, n in zip(columns, natural, strict=True)
    ]

    def needed(indexes: Sequence[int]) -> int:
        return sum(floors[i] for i in indexes) + GAP * max(0, len(indexes) - 1)

    shown = list(range(count))
    dropped: list[int] = []
    by_drop = sorted(
        (i for i in range(count) if columns[i].drop is not None),
        key=lambda i: -(columns[i].drop or 0),
    )
    for index in by_drop:
        if needed(shown) <= width:
            break
        shown.remove(index)
        dropped.append(index)
    # Bring back the most important columns that fit after all (a narrow one dropped
    # after a wide one).
    for index in reversed(dropped):
        trial = sorted([*shown, index])
        if needed(trial) <= width:
            shown = trial
    widths = {i: floors[i] for i in shown}
    spare = width - needed(shown)
    growing = [i for i in shown if columns[i].shrink and natural[i] > widths[i]]
    while spare > 0 and growing:
        share = max(1, spare // len(growing))
        for i in list(growing):
            extra = min(share, natural[i] - widths[i], spare)
            widths[i] += extra
            spare -= extra
            if widths[i] >= natural[i]:
                growing.remove(i)
            if spare <= 0:
                break
    return Layout(tuple(shown), tuple(widths[i] for i in shown))
