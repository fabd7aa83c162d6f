"""Run outputs: results.json, plots, multirun aggregation."""
