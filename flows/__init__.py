"""Prefect flows: evaluation, agent comparison, load tests, promotion, backup and DR drills."""
