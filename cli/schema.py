"""`sharegraph schema`: print the schema's SDL, or regenerate the committed `schema.graphql`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def schema_command(
    write: Annotated[
        bool,
        typer.Option(
            "--write",
            help="Write the SDL to --output instead of printing it; refused while it breaks "
            "the file's clients in ways not listed in schema-breaking-changes.txt beside it.",
        ),
    ] = False,
    check: Annotated[
        bool,
        typer.Option("--check", help="Exit 1 when --output differs from the running schema."),
    ] = False,
    output: Annotated[
        Path, typer.Option(help="The committed SDL file (for --write and --check).")
    ] = Path("schema.graphql"),
) -> None:
    """The GraphQL schema as SDL (types, fields and arguments sorted by name)."""
    from sharegraph.graph.sdl import INTENTIONAL_FILE, printed_sdl, unintended_breaking_changes

    sdl = printed_sdl()
    if not write and not check:
        typer.echo(sdl, nl=False)
        return
    try:
        committed = output.read_text(encoding="utf-8") if output.exists() else None
        listed = output.parent / INTENTIONAL_FILE
        allowed = listed.read_text(encoding="utf-8") if listed.exists() else ""
    except OSError as error:
        typer.echo(f"error: cannot read {error.filename}: {error.strerror}", err=True)
        raise typer.Exit(1) from None
    if check:
        if committed != sdl:
            typer.echo(
                f"{output} differs from the running schema: run `sharegraph schema "
                f"--write --output {output}`",
                err=True,
            )
            raise typer.Exit(1)
        typer.echo(f"{output} is current")
        return
    if committed is not None:
        breaking = unintended_breaking_changes(committed, allowed)
        if breaking:
            typer.echo(
                f"the schema breaks clients of {output}; list each change that is intended "
                f"in {listed}, one line each:\n  " + "\n  ".join(breaking),
                err=True,
            )
            raise typer.Exit(1)
    try:
        output.write_text(sdl, encoding="utf-8")
    except OSError as error:
        typer.echo(f"error: cannot write {output}: {error.strerror}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"wrote {output} ({sdl.count(chr(10))} lines)")
