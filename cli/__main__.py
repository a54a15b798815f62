"""`python -m sharegraph.cli`: the same command as `sharegraph`."""

from sharegraph.cli.main import app

app()
