"""`dental`, every operator command: `main` holds the app and the core commands, the other
modules one command group each. Evaluations and flows are imported inside the commands that
run them, so `dental --help` and the server never import `evals` or `flows`."""

from serving.cli.main import app

__all__ = ["app"]
