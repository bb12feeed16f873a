"""TaskBench (Daily Life APIs) evaluation of tool search and planning.

Run it with ``.venv/bin/python benchmarks/taskbench_eval.py``. Data: ``../shared/benchmarks/
taskbench/`` (40 tools, 265 samples; MIT licence, see its README). Metrics are TaskBench's own
(micro-averaged set F1 over samples; recall@k averaged over samples).

Conditions:

1. **search only** — recall@5 of the hybrid tool index (offline MiniLM embeddings + BM25, fused
   by reciprocal rank) for each request.
2. **offline planner cold / warm** — not built yet (issue 4 is in progress): reported as null.

The catalog is indexed exactly like any other: nothing here or in Kaizen special-cases the
benchmark's tool names or sentences.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from knowledge.search.catalog import CatalogEntry
from knowledge.search.index import ToolIndex

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "benchmarks" / "taskbench"
TARGET_RECALL_AT_5 = 0.95


def load_catalog(data: Path) -> list[CatalogEntry]:
    nodes = json.loads((data / "tool_desc.json").read_text())["nodes"]
    return [
        CatalogEntry(
            name=node["id"],
            description=node["desc"],
            parameters={
                "type": "object",
                "properties": {p["name"]: _param_schema(p) for p in node["parameters"]},
                "required": [p["name"] for p in node["parameters"]],
            },
            source="taskbench",
        )
        for node in nodes
    ]


def _param_schema(param: dict[str, Any]) -> dict[str, Any]:
    """TaskBench's parameter as JSON Schema (its "date" type is a string in ISO format)."""
    if param["type"] == "date":
        return {"type": "string", "format": "date", "description": param["desc"]}
    return {"type": param["type"], "description": param["desc"]}


def load_samples(data: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (data / "samples.jsonl").read_text().splitlines() if line]


def recall_at(index: ToolIndex, samples: list[dict[str, Any]], k: int) -> tuple[float, float]:
    """Mean recall@k over samples, and the median search time in ms."""
    recalls: list[float] = []
    times: list[float] = []
    for sample in samples:
        truth = {node["task"] for node in sample["task_nodes"]}
        t0 = time.perf_counter()
        found = {hit.name for hit in index.search(sample["instruction"], k)}
        times.append((time.perf_counter() - t0) * 1000)
        recalls.append(len(truth & found) / len(truth) if truth else 1.0)
    return sum(recalls) / len(recalls), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    catalog = load_catalog(args.data)
    samples = load_samples(args.data)
    names = {entry.name for entry in catalog}
    reachable = [
        len({n["task"] for n in s["task_nodes"]} & names)
        / len({n["task"] for n in s["task_nodes"]})
        for s in samples
    ]
    ceiling = sum(reachable) / len(reachable)
    print(f"TaskBench Daily Life APIs: {len(catalog)} tools, {len(samples)} samples")
    print(f"  (recall ceiling {ceiling:.4f}: some samples use tools not in the catalog)")
    with tempfile.TemporaryDirectory(prefix="kaizen-taskbench-") as tmp:
        index = ToolIndex(Path(tmp))
        t0 = time.perf_counter()
        index.sync(catalog)
        index_s = time.perf_counter() - t0
        recall5, search_ms = recall_at(index, samples, 5)
    verdict = "PASS" if recall5 >= TARGET_RECALL_AT_5 else "FAIL"
    print(f"search only: recall@5 {recall5:.4f} (target ≥ {TARGET_RECALL_AT_5}) {verdict}")
    print(f"  indexing {index_s:.2f} s, median search {search_ms:.1f} ms")
    print("offline planner cold/warm: not built yet (reported as null)")
    print(
        json.dumps(
            {
                "recall_at_5": round(recall5, 4),
                "cold_node_f1": None,
                "cold_edge_f1": None,
                "cold_value_f1": None,
                "warm_node_f1": None,
                "warm_edge_f1": None,
                "warm_value_f1": None,
                "median_plan_ms": None,
                "median_search_ms": round(search_ms, 2),
                "recall_ceiling": round(ceiling, 4),
                "samples": len(samples),
            }
        )
    )


if __name__ == "__main__":
    main()
