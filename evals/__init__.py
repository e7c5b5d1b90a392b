"""Evaluation datasets, metrics and report rendering shared by the flows and the tests."""
