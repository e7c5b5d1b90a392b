"""The app database: SQLAlchemy models, the async engine and Alembic migrations."""
