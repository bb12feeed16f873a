"""TaskBench (Daily Life APIs) evaluation of tool search and planning.

Run it with ``.venv/bin/python benchmarks/taskbench_eval.py``. Data: ``../shared/benchmarks/
taskbench/`` (40 tools, 265 samples; MIT licence, see its README). Metrics are TaskBench's own
(micro-averaged set F1 over samples; recall@k averaged over samples).

Conditions:

1. **search only** — recall@5 of the hybrid tool index (offline MiniLM embeddings + BM25, fused
   by reciprocal rank) for each request.
2. **offline planner cold** — no exemplars, every sample (and the test split, for comparison).
3. **offline planner warm** — exemplar memory (accepted requests with their ground-truth
   blueprints, as a person would have accepted them) filled from a training split; evaluated
   on the disjoint test split (seeded shuffle, split printed); cold and warm are also run on
   four more splits (the next seeds) and averaged, since 133 test requests are few.

Planned graphs are scored with TaskBench's metrics: nodes are step tools, edges are
(dependency's tool, step's tool) pairs, param names ``tool-name`` and values ``tool-name-value``
(literal values only: a template is not a value).

The catalog is indexed exactly like any other: nothing here or in Kaizen special-cases the
benchmark's tool names or sentences.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.tools import SchemaTool, ToolRegistry, ToolSpec
from knowledge.history.views import ExemplarInfo
from knowledge.planner.offline import OfflinePlanner
from knowledge.planner.phrases import ToolPhrases
from knowledge.planner.result import PlanResult, Retrieval
from knowledge.search.catalog import CatalogEntry
from knowledge.search.exemplars import ExemplarIndex
from knowledge.search.index import ToolIndex

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "benchmarks" / "taskbench"
TARGET_RECALL_AT_5 = 0.95
TARGETS = {
    "cold_node_f1": 0.854,
    "cold_edge_f1": 0.607,
    "warm_node_f1": 0.90,
    "warm_edge_f1": 0.70,
}
TARGET_PLAN_MS = 50.0
SEED = 20261123


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


class Counts:
    """Micro-averaged set counts of one metric."""

    def __init__(self) -> None:
        self.tp = self.fp = self.fn = 0

    def add(self, predicted: set[str] | set[tuple[str, str]], truth: set[Any]) -> None:
        self.tp += len(predicted & truth)
        self.fp += len(predicted - truth)
        self.fn += len(truth - predicted)

    @property
    def f1(self) -> float:
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def graph_of(result: PlanResult) -> dict[str, set[Any]]:
    steps = result.blueprint.steps if result.blueprint else []
    tool_of = {step.id: step.tool for step in steps}
    literal = [
        (step.tool, name, value)
        for step in steps
        for name, value in step.params.items()
        if not (isinstance(value, str) and "{{" in value)
    ]
    return {
        "node": {step.tool for step in steps},
        "edge": {(tool_of[d], step.tool) for step in steps for d in step.depends_on},
        "name": {f"{tool}-{name}" for tool, name, _ in literal},
        "value": {f"{tool}-{name}-{value}" for tool, name, value in literal},
    }


def truth_of(sample: dict[str, Any]) -> dict[str, set[Any]]:
    nodes = sample["task_nodes"]
    return {
        "node": {n["task"] for n in nodes},
        "edge": {(link["source"], link["target"]) for link in sample["task_links"]},
        "name": {f"{n['task']}-{a['name']}" for n in nodes for a in n["arguments"]},
        "value": {f"{n['task']}-{a['name']}-{a['value']}" for n in nodes for a in n["arguments"]},
    }


def evaluate(
    planner: OfflinePlanner, samples: list[dict[str, Any]], exemplars: ExemplarIndex | None
) -> tuple[dict[str, float], list[float], dict[str, int]]:
    """F1 per metric, planning times (ms, retrieval included) and how many plans each path
    made."""
    counts = {metric: Counts() for metric in ("node", "edge", "name", "value")}
    times: list[float] = []
    paths: dict[str, int] = {}
    for sample in samples:
        t0 = time.perf_counter()
        retrieval = Retrieval(
            exemplars=exemplars.search(sample["instruction"], 3) if exemplars else []
        )
        result = planner.plan(sample["instruction"], retrieval)
        times.append((time.perf_counter() - t0) * 1000)
        paths[result.path.value] = paths.get(result.path.value, 0) + 1
        predicted, truth = graph_of(result), truth_of(sample)
        for metric, count in counts.items():
            count.add(predicted[metric], truth[metric])
    return {metric: count.f1 for metric, count in counts.items()}, times, paths


def accepted_blueprint(sample: dict[str, Any]) -> dict[str, Any]:
    """The sample's ground truth as the blueprint a person would have accepted."""
    ids = {n["task"]: f"s{i}" for i, n in enumerate(sample["task_nodes"])}
    steps = []
    for i, node in enumerate(sample["task_nodes"]):
        after = [
            ids[link["source"]]
            for link in sample["task_links"]
            if link["target"] == node["task"] and link["source"] in ids
        ]
        steps.append(
            {
                "id": f"s{i}",
                "tool": node["task"],
                "params": {a["name"]: a["value"] for a in node["arguments"]},
                "depends_on": sorted(set(after)),
            }
        )
    return {"name": f"taskbench_{sample['id']}", "steps": steps}


def registry_of(catalog: list[CatalogEntry]) -> ToolRegistry:
    """Described-only tools: enough to validate plans (nothing is called)."""
    return ToolRegistry(
        SchemaTool(ToolSpec(name=e.name, description=e.description, params_schema=e.parameters))
        for e in catalog
    )


def split(samples: list[dict[str, Any]], seed: int) -> tuple[list[Any], list[Any]]:
    """A seeded half/half train/test split (each half in the data's order)."""
    order = list(range(len(samples)))
    random.Random(seed).shuffle(order)
    half = len(samples) // 2
    return [samples[i] for i in sorted(order[:half])], [samples[i] for i in sorted(order[half:])]


def exemplars_of(train: list[dict[str, Any]]) -> list[ExemplarInfo]:
    """The training samples as accepted exemplars."""
    return [
        ExemplarInfo(
            id=i,
            request=s["instruction"],
            blueprint=accepted_blueprint(s),
            workflow_id=i,
            version_id=i,
            accepted_how="approved",
            accepted_by="taskbench-train",
            created_at=datetime.now(UTC),
        )
        for i, s in enumerate(train, start=1)
    ]


def memory_of(
    index: ToolIndex, train: list[dict[str, Any]], directory: Path
) -> tuple[ExemplarIndex, ToolPhrases]:
    """Exemplar memory filled from ``train``: the exemplar index (in ``directory``) and the
    phrases learned from it."""
    exemplars = exemplars_of(train)
    exemplar_index = ExemplarIndex(directory, embedding_function=index.embed)
    exemplar_index.sync(exemplars)
    phrases = ToolPhrases(index)
    phrases.learn(exemplars)
    return exemplar_index, phrases


def cold_and_warm(
    index: ToolIndex,
    registry: ToolRegistry,
    train: list[dict[str, Any]],
    test: list[dict[str, Any]],
    directory: Path,
) -> tuple[dict[str, float], dict[str, float]]:
    """F1 per metric on ``test``: cold, and warm with exemplar memory filled from ``train``."""
    cold, _, _ = evaluate(OfflinePlanner(index, registry), test, None)
    exemplar_index, phrases = memory_of(index, train, directory)
    warm, _, _ = evaluate(OfflinePlanner(index, registry, phrases=phrases), test, exemplar_index)
    return cold, warm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--more-splits",
        type=int,
        default=4,
        help="also run cold and warm on this many other splits (seeds after --seed), to show "
        "how much of the warm figure is the split",
    )
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
    train, test = split(samples, args.seed)
    print(f"TaskBench Daily Life APIs: {len(catalog)} tools, {len(samples)} samples")
    print(f"  (recall ceiling {ceiling:.4f}: some samples use tools not in the catalog)")
    print(f"  split (seed {args.seed}): {len(train)} train / {len(test)} test")
    print(f"  train ids: {' '.join(s['id'] for s in train)}")
    print(f"  test ids:  {' '.join(s['id'] for s in test)}")
    registry = registry_of(catalog)
    with tempfile.TemporaryDirectory(prefix="kaizen-taskbench-") as tmp:
        index = ToolIndex(Path(tmp) / "tools")
        t0 = time.perf_counter()
        index.sync(catalog)
        index_s = time.perf_counter() - t0
        recall5, search_ms = recall_at(index, samples, 5)
        cold = OfflinePlanner(index, registry)
        cold_all, cold_times, cold_paths = evaluate(cold, samples, None)
        cold_test, _, _ = evaluate(cold, test, None)
        exemplar_index, phrases = memory_of(index, train, Path(tmp) / "exemplars")
        warm = OfflinePlanner(index, registry, phrases=phrases)
        warm_test, warm_times, warm_paths = evaluate(warm, test, exemplar_index)
        warm_recall5 = warm_recall_at(index, phrases, test, 5)
        other_seeds = [args.seed + n for n in range(1, args.more_splits + 1)]
        others = [
            cold_and_warm(index, registry, *split(samples, seed), Path(tmp) / f"split-{seed}")
            for seed in other_seeds
        ]

    def verdict(value: float, target: float) -> str:
        return "PASS" if value >= target else "FAIL"

    print(
        f"search only: recall@5 {recall5:.4f} (target ≥ {TARGET_RECALL_AT_5}) "
        f"{verdict(recall5, TARGET_RECALL_AT_5)}; indexing {index_s:.2f} s, "
        f"median search {search_ms:.1f} ms"
    )
    print(f"search with learned phrases (test split): recall@5 {warm_recall5:.4f}")
    print(
        f"offline cold, all samples: node {cold_all['node']:.4f} "
        f"(target ≥ {TARGETS['cold_node_f1']}) "
        f"{verdict(cold_all['node'], TARGETS['cold_node_f1'])}, "
        f"edge {cold_all['edge']:.4f} (target ≥ {TARGETS['cold_edge_f1']}) "
        f"{verdict(cold_all['edge'], TARGETS['cold_edge_f1'])}, param name {cold_all['name']:.4f}, "
        f"value {cold_all['value']:.4f}; paths {cold_paths}"
    )
    print(
        f"offline cold, test split: node {cold_test['node']:.4f}, edge {cold_test['edge']:.4f}, "
        f"value {cold_test['value']:.4f}"
    )
    print(
        f"offline warm, test split ({len(train)} exemplars, {len(phrases.tools)} learned phrases): "
        f"node {warm_test['node']:.4f} (target ≥ {TARGETS['warm_node_f1']}) "
        f"{verdict(warm_test['node'], TARGETS['warm_node_f1'])}, edge {warm_test['edge']:.4f} "
        f"(target ≥ {TARGETS['warm_edge_f1']}) "
        f"{verdict(warm_test['edge'], TARGETS['warm_edge_f1'])}, "
        f"param name {warm_test['name']:.4f}, value {warm_test['value']:.4f}; paths {warm_paths}"
    )
    if others:
        for seed, (cold_other, warm_other) in zip(other_seeds, others, strict=True):
            print(
                f"  split seed {seed}: cold node {cold_other['node']:.4f} edge "
                f"{cold_other['edge']:.4f} → warm node {warm_other['node']:.4f} edge "
                f"{warm_other['edge']:.4f}"
            )
    every = [(cold_test, warm_test), *others]
    mean = {
        f"{condition}_{metric}": statistics.fmean(pair[i][metric] for pair in every)
        for i, condition in enumerate(("cold", "warm"))
        for metric in ("node", "edge")
    }
    print(
        f"mean over {len(every)} splits (seeds {args.seed}…{args.seed + args.more_splits}): "
        f"cold test node {mean['cold_node']:.4f} edge {mean['cold_edge']:.4f} → warm node "
        f"{mean['warm_node']:.4f} edge {mean['warm_edge']:.4f}"
    )
    plan_ms = statistics.median(cold_times)
    print(
        f"median planning latency: cold {plan_ms:.1f} ms (target ≤ {TARGET_PLAN_MS}) "
        f"{'PASS' if plan_ms <= TARGET_PLAN_MS else 'FAIL'}, warm "
        f"{statistics.median(warm_times):.1f} ms (exemplar search included)"
    )
    print(
        json.dumps(
            {
                "recall_at_5": round(recall5, 4),
                "cold_node_f1": round(cold_all["node"], 4),
                "cold_edge_f1": round(cold_all["edge"], 4),
                "cold_value_f1": round(cold_all["value"], 4),
                "warm_node_f1": round(warm_test["node"], 4),
                "warm_edge_f1": round(warm_test["edge"], 4),
                "warm_value_f1": round(warm_test["value"], 4),
                "median_plan_ms": round(plan_ms, 2),
                "cold_test_node_f1": round(cold_test["node"], 4),
                "cold_test_edge_f1": round(cold_test["edge"], 4),
                "warm_recall_at_5": round(warm_recall5, 4),
                "splits": len(every),
                "mean_split_cold_node_f1": round(mean["cold_node"], 4),
                "mean_split_cold_edge_f1": round(mean["cold_edge"], 4),
                "mean_split_warm_node_f1": round(mean["warm_node"], 4),
                "mean_split_warm_edge_f1": round(mean["warm_edge"], 4),
                "median_warm_plan_ms": round(statistics.median(warm_times), 2),
                "median_search_ms": round(search_ms, 2),
                "recall_ceiling": round(ceiling, 4),
                "samples": len(samples),
                "seed": args.seed,
            }
        )
    )


def warm_recall_at(
    index: ToolIndex, phrases: ToolPhrases, samples: list[dict[str, Any]], k: int
) -> float:
    """recall@k when each tool's best clause score also counts the votes of remembered
    clauses."""
    from knowledge.search.clauses import read_clauses
    from knowledge.search.index import CLAUSE_BEST_FLOOR

    recalls: list[float] = []
    names = index.names
    for sample in samples:
        truth = {node["task"] for node in sample["task_nodes"]}
        clauses = read_clauses(sample["instruction"])
        texts = [c.meaning for c in clauses] or [sample["instruction"]]
        vectors = index.embed_texts([c.asked for c in clauses] or texts)
        scores = phrases.apply(
            index.clause_scores(texts, vectors), vectors, names, convincing=CLAUSE_BEST_FLOOR
        )
        best = scores.max(axis=0)
        found = {names[i] for i in best.argsort()[::-1][:k]}
        recalls.append(len(truth & found) / len(truth) if truth else 1.0)
    return sum(recalls) / len(recalls)


if __name__ == "__main__":
    main()
