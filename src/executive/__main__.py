"""`python -m executive` is the `executive` command."""

from executive.cli.main import app

app(prog_name="executive")
