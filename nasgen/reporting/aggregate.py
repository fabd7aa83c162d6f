"""Collect ``results.json`` files of many runs (e.g. a multirun sweep) into a table."""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np


def load_results(paths: Iterable["str | Path"]) -> list[dict]:
    """Every ``results.json`` found (recursively) under ``paths``."""
    found = []
    for path in map(Path, paths):
        files = [path] if path.is_file() else sorted(path.rglob("results.json"))
        found += [json.loads(f.read_text()) | {"run_dir": str(f.parent)} for f in files]
    return found


def summarize(results: Sequence[dict], checkpoints: Sequence[int]) -> list[dict]:
    """Mean and std over seeds of the incumbent's searched and reported metric at each
    checkpoint, one row per (experiment, method, dataset)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in results:
        groups[(r["name"], r["method"], r["protocol"].get("dataset", ""))].append(r)
    rows = []
    for (name, method, dataset), runs in sorted(groups.items()):
        protocol = runs[0]["protocol"]
        row = {"experiment": name, "method": method, "dataset": dataset, "seeds": len(runs),
               "search_metric": protocol["search_metric"], "report_metric": protocol["report_metric"]}
        for n in checkpoints:
            at = [r["best_at"][str(n)] for r in runs if str(n) in r["best_at"]]
            for kind in ("search", "report"):
                values = np.array([a[protocol[f"{kind}_metric"]] for a in at])
                row[f"{kind}@{n}"] = (float(values.mean()), float(values.std()), len(values)) if len(values) else None
        rows.append(row)
    return rows


def markdown_table(rows: Sequence[dict], checkpoints: Sequence[int]) -> str:
    header = ["experiment", "method", "dataset", "seeds"] + [f"{k} @{n}" for n in checkpoints
                                                             for k in ("searched", "reported")]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row["experiment"], row["method"], row["dataset"], str(row["seeds"])]
        for n in checkpoints:
            for kind in ("search", "report"):
                value = row[f"{kind}@{n}"]
                cells.append("-" if value is None else f"{value[0]:.2f} ± {value[1]:.2f}" +
                             ("" if value[2] == row["seeds"] else f" (n={value[2]})"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
