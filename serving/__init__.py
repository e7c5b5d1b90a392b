"""The dental-clinic-ai runtime: FastAPI app, practice backends, scheduling and the database."""

__version__ = "0.1.0"
