"""``python -m scopecraft.mcp [--repo PATH] [--home PATH]``: the MCP server on stdio."""

from __future__ import annotations

import argparse
import logging
import sys

from . import run_stdio


def main(argv: list[str] | None = None) -> None:
    """Parse the options and serve until the client disconnects."""
    parser = argparse.ArgumentParser(
        prog="python -m scopecraft.mcp", description="scopecraft's MCP server on stdio."
    )
    parser.add_argument("--repo", default=".", help="Any folder of the git repository.")
    parser.add_argument("--home", default=None, help="State folder (default ~/.scopecraft).")
    parser.add_argument("--debug", action="store_true", help="Debug logs on standard error.")
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    run_stdio(args.repo, home=args.home)


if __name__ == "__main__":
    main()
