"""Evaluation suites: read a finished search (history, models) and write reports."""
