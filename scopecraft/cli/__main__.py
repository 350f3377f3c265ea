"""``python -m scopecraft.cli``: the same as the ``scopecraft`` console script."""

from __future__ import annotations

from . import main

main()
