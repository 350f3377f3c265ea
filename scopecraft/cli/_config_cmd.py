"""``scopecraft config show``: the engine configuration in effect, and where it came from."""

from __future__ import annotations

import json

import typer

from ._common import console, emit_json, new_typer, state_of

__all__ = ["config_app", "show"]

config_app = new_typer("Show the configuration the engine runs with.")


@config_app.command("show")
def show(ctx: typer.Context) -> None:
    """Print the merged configuration (the files `<home>/config.toml`,
    `<repo>/.scopecraft/config.toml` and `$SCOPECRAFT_CONFIG`, in that order, over the
    defaults), each top-level key with the file that set it, or `default`."""
    from ..engine import Engine

    state = state_of(ctx)
    engine = Engine(state.repo, home=state.home)  # never opened: no store is touched
    values = engine.config.model_dump(mode="json")
    sources = {
        key: str(engine.config_files.sources[key])
        if key in engine.config_files.sources
        else "default"
        for key in values
    }
    if state.json:
        emit_json(
            {
                "config": values,
                "sources": sources,
                "files": [str(p) for p in engine.config_files.files],
            }
        )
        return
    out = console()
    files = engine.config_files.files
    out.print(
        "files: " + (", ".join(str(p) for p in files) if files else "none (the defaults)"),
        markup=False,
    )
    for key, value in values.items():
        shown = json.dumps(value, ensure_ascii=False)
        out.print(f"{key} = {shown}  # {sources[key]}", markup=False, soft_wrap=True)
