"""`python -m serving.cli`: the `dental` command without the console script."""

from serving.cli.main import app

app()
