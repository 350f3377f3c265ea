"""``python -m scopecraft``: the same as the ``scopecraft`` command."""

from __future__ import annotations

from scopecraft.cli import main

if __name__ == "__main__":
    main()
