"""TE-NAS's pruning search as a study (``study=tenas``; Chen, Gong & Wang, ICLR 2021).

No training and no benchmark query during the search: start from the supernet with every op on
every edge (mixed uniformly, as TE-NAS's softmax over zero alphas does; a pruned op gets weight
0), and in each round, for every edge with more than one op left and every op still on it,
measure what removing that op changes:

- the condition number of the NTK (``proxy/ntk_cond``) of the supernet, ``(k0 - k) / k0``: a
  high value (removing the op makes the network more trainable) marks the op for pruning;
- the number of linear regions (``proxy/linear_regions``) of TE-NAS's thin one-cell network,
  ``(r0 - r) / r0``: a low value (removing the op costs no expressivity) marks it.

Each delta is measured on a pair (network with the op, without it) sharing one random
initialisation (kaiming normal, fan-out for the NTK network, fan-in for the thin one; BN
weight 1, bias 0) and one batch, ``repeat`` times, each rounded to ``precision`` decimals, then
averaged. The ops are ranked by each delta (dense ranks: ties share a rank), the two ranks
summed, and on every edge the ``prune_number`` ops with the lowest sum (ties: the lower NTK
rank, then measurement order, as the authors' stable sorts give) are pruned, never the last op
of an edge. Rounds repeat until every edge keeps one op; the derived cell is then looked up in
the benchmark (NB201: 200-epoch test accuracy on its three datasets). Like TE-NAS on NB201 the
``none`` op is removed before the first round (its ``alpha[:, 0] = -INF`` in ``main``).

The settings are the authors' (``prune_launch.py``/``prune_tenas.py`` for NB201): NTK supernet
C=3, N=1, batch 72; thin network C=1 on 1x3x3 patches, 3,000 of them (``Linear_Region_Collector
(input_size=(1000, 1, 3, 3), sample_batch=3)``: random 3x3 crops of one random channel);
repeat 3, precision 3, prune_number 1. Departures: the NTK batches are ``repeat`` fixed batches
of the search dataset (repeat r uses batch r for every candidate) and the region patches one
fixed set, where TE-NAS draws fresh shuffled batches and patches per measurement: fixed inputs
make a run reproducible and compare the candidates on equal inputs. The supernet's cell BNs are
affine-free (nasgen's NB201 search network); TE-NAS's are affine (weight 1, bias 0 at init: the
same function at initialisation). A NaN NTK delta (a singular kernel) ranks last: such an op is
pruned last. ``profile=cpu`` takes an NTK batch of 24, not 72: the per-sample backward passes
cost about B^2 (72: ~15 s per NTK on one CPU thread, over an hour a run; 24: ~5 CPU-minutes).

Pruned ops still run (weight 0), as in TE-NAS's search cell: their ReLUs are part of the thin
network's activation patterns there too, and their weights receive zero gradients, which leave
``J J^T`` unchanged.

A study and not a search loop: a search spends benchmark queries through the oracle, TE-NAS
spends none; it derives one cell, which the study then looks up, as the one-shot study does.
The DARTS space is refused: its cells also choose their topology (TE-NAS prunes DARTS' edges
in a separate group step) and it has no thin network here.

Outputs: ``pruning_log.csv`` (round, cell type, edge, op, both deltas, both ranks, pruned),
``genotype.json``; ``results.json`` gets ``final`` (cell and values), ``rounds`` (seconds and
prunes per round) and ``protocol``. Resuming: ``checkpoints/tenas.json`` holds the ops left and
the log after each finished round (atomic); every round seeds its own random stream from
(seed, round), so a resumed run measures exactly what an uninterrupted one would.
"""
from __future__ import annotations

import csv
import json
import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np
import torch
from torch import nn

from nasgen.benchmarks.base import Benchmark
from nasgen.data.datasets import DATASETS, load_dataset
from nasgen.errors import ConfigError, choose
from nasgen.objective import Objective
from nasgen.oneshot.base import Supernet, SupernetBuilder
from nasgen.oneshot.search import describe, lookup_metrics, same_settings
from nasgen.paths import atomic_write
from nasgen.proxies.base import Proxy, ProxyBatch
from nasgen.proxies.inputs import proxy_batch, random_crops
from nasgen.proxies.measures import LinearRegions, NTKCondition
from nasgen.reporting.console import progress_bar
from nasgen.reporting.results import write_json
from nasgen.spaces.base import SearchSpace
from nasgen.studies.base import StudyContext

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoints/tenas.json"
CHECKPOINT_VERSION = 1
REMOVED_FIRST = "none"  # TE-NAS removes the zero op before the first round
LOG_COLUMNS = ("round", "cell", "edge", "op", "ntk_delta", "regions_delta", "ntk_rank", "regions_rank", "pruned")
NTK, REGIONS = NTKCondition(), LinearRegions()


@runtime_checkable
class ThinSupernets(Protocol):
    """A supernet builder that also builds TE-NAS's thin linear-region network of a space."""

    def build_thin(self, op_set: str, num_classes: int, in_channels: int) -> Supernet: ...


@dataclass(frozen=True)
class Candidate:
    """Removing op ``op`` from edge ``edge`` of cell type ``cell``, and what that changes."""

    cell: int
    edge: int
    op: int
    ntk_delta: float      # (k0 - k) / k0: higher -> prune
    regions_delta: float  # (r0 - r) / r0: lower -> prune


def dense_ranks(values: Sequence[float], descending: bool) -> list[int]:
    """Rank 0 for the best value to prune (largest when ``descending``), equal values share a
    rank and the next distinct value gets the next rank (the authors' counting); NaN ranks last."""
    finite = sorted({v for v in values if not math.isnan(v)}, reverse=descending)
    rank = {v: i for i, v in enumerate(finite)}
    return [len(finite) if math.isnan(v) else rank[v] for v in values]


def choose_prunes(candidates: Sequence[Candidate], alive: Sequence[Sequence[Sequence[int]]],
                  prune_number: int = 1) -> tuple[list[int], list[int], set[int]]:
    """The NTK ranks, region ranks and the indices of the candidates to prune: per edge, the
    ``prune_number`` candidates of the lowest rank sum (never every op of an edge, whatever
    ``prune_number``; ``alive[c][e]``: the ops on edge e of cell type c)."""
    ntk = dense_ranks([c.ntk_delta for c in candidates], descending=True)
    regions = dense_ranks([c.regions_delta for c in candidates], descending=False)
    order = sorted(range(len(candidates)), key=lambda i: (ntk[i] + regions[i], ntk[i], i))
    pruned: set[int] = set()
    per_edge: dict[tuple[int, int], int] = {}
    for i in order:
        key = (candidates[i].cell, candidates[i].edge)
        if per_edge.get(key, 0) < min(prune_number, len(alive[key[0]][key[1]]) - 1):
            per_edge[key] = per_edge.get(key, 0) + 1
            pruned.add(i)
    return ntk, regions, pruned


def mixing_weights(alive: Sequence[Sequence[Sequence[int]]], num_ops: Sequence[int]) -> list[torch.Tensor]:
    """Per cell type, ``[edges, ops]`` weights 1/k on the k ops left on an edge, 0 elsewhere."""
    weights = []
    for cell, edges in enumerate(alive):
        w = torch.zeros(len(edges), num_ops[cell])
        for e, ops in enumerate(edges):
            w[e, list(ops)] = 1.0 / len(ops)
        weights.append(w)
    return weights


class _Mixed(nn.Module):
    """A supernet with fixed mixing weights, as the measures take networks: ``forward(images)``."""

    def __init__(self, supernet: Supernet, mixing: Sequence[torch.Tensor]) -> None:
        super().__init__()
        self.supernet, self.mixing = supernet, list(mixing)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.supernet(images, self.mixing)


def kaiming_init(network: nn.Module, mode: str) -> None:
    """TE-NAS's initialisation: kaiming normal (``mode`` fan_in or fan_out, ReLU gain) for convs
    and linear layers with zero biases, weight 1 and bias 0 for affine batch norms."""
    for m in network.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode=mode, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d) and m.affine:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def paired_delta(measure: Proxy, batch: ProxyBatch, network: Supernet, before: Sequence[torch.Tensor],
                 after: Sequence[torch.Tensor]) -> float:
    """``(m0 - m) / m0`` of a measure on one network (one initialisation) mixed with ``before``
    and with ``after``, on one batch; NaN where either value is undefined."""
    m0, m = measure.score(_Mixed(network, before), batch), measure.score(_Mixed(network, after), batch)
    return (m0 - m) / m0 if math.isfinite(m0) and math.isfinite(m) and m0 != 0 else math.nan


class TenasPruning:
    """TE-NAS's pruning search (module docstring). ``network`` builds the space's supernet (the
    NTK network) and, through :class:`ThinSupernets`, its thin linear-region network."""

    def __init__(self, network: SupernetBuilder, dataset: str = "digits",
                 input_shape: Sequence[int] = (3, 32, 32), batch_size: int = 72, repeat: int = 3,
                 region_samples: int = 3000, region_size: int = 3, precision: int = 3, prune_number: int = 1,
                 data_root_dir: str | None = None) -> None:
        choose("study.dataset", dataset, DATASETS)
        if not isinstance(network, ThinSupernets):
            raise ConfigError(f"study=tenas needs a thin linear-region network of the space; "
                              f"{type(network).__name__} has none (TE-NAS runs on search_space=nb201)")
        for key, value, least in (("batch_size", batch_size, 2), ("repeat", repeat, 1),
                                  ("region_samples", region_samples, 2), ("region_size", region_size, 1),
                                  ("precision", precision, 0), ("prune_number", prune_number, 1)):
            if not isinstance(value, int) or value < least:
                raise ConfigError(f"study.{key} must be an integer >= {least}, got {value!r}")
        self.network, self.dataset, self.data_root_dir = network, dataset, data_root_dir
        self.input_shape = tuple(int(v) for v in input_shape)
        self.batch_size, self.repeat, self.precision, self.prune_number = batch_size, repeat, precision, prune_number
        self.region_samples, self.region_size = region_samples, region_size

    def check(self, space: SearchSpace, benchmark: Benchmark, objective: Objective) -> None:
        if self.network.space_name != space.name:
            raise ConfigError(f"study.network builds {self.network.space_name} supernets, not supernets of the "
                              f"{space.name} space; choose search_space={self.network.space_name}")
        choices = self.network.build(self.network.op_set, 10, self.input_shape).choices
        if any(c.chooses_topology for c in choices):
            raise ConfigError("study=tenas prunes ops only; this space's cells also choose their topology")
        if not lookup_metrics(benchmark):
            raise ConfigError(f"benchmark {benchmark.name} has no <dataset>/<split>_acc@<epochs> metric to score the "
                              "derived cell with")

    def settings(self) -> dict:
        """Everything that changes the measurements (a checkpoint of other settings is refused)."""
        return {"network": self.network.settings(), "dataset": self.dataset, "input_shape": list(self.input_shape),
                "batch_size": self.batch_size, "repeat": self.repeat, "region_samples": self.region_samples,
                "region_size": self.region_size, "precision": self.precision, "prune_number": self.prune_number}

    # -- the run ---------------------------------------------------------------------------
    def __call__(self, context: StudyContext) -> dict:
        op_set = self.network.op_set
        train = load_dataset(self.dataset, self.data_root_dir).train
        needed = self.batch_size * self.repeat
        if needed > len(train):
            raise ConfigError(f"study.batch_size x study.repeat = {needed} exceeds the {len(train)} training images "
                              f"of {self.dataset}")
        images = proxy_batch("data", self.dataset, needed, self.input_shape, seed=context.seed,
                             data_root_dir=self.data_root_dir)
        device = torch.device(context.device)
        ntk_batches = [ProxyBatch(x.to(device), y.to(device), images.num_classes, images.source) for x, y in
                       zip(images.inputs.split(self.batch_size), images.targets.split(self.batch_size))]
        pool = proxy_batch("data", self.dataset, min(self.region_samples, len(train)), self.input_shape,
                           seed=context.seed, data_root_dir=self.data_root_dir)
        crops = random_crops(pool, self.region_samples, self.region_size, context.seed)
        regions = ProxyBatch(crops.inputs.to(device), crops.targets.to(device), crops.num_classes, crops.source)
        supernet = self.network.build(op_set, images.num_classes, self.input_shape).to(device)
        thin = self.network.build_thin(op_set, images.num_classes, 1).to(device)
        num_ops = [c.num_ops for c in supernet.choices]

        path = context.run_dir / CHECKPOINT
        state = self._load(path)
        if state is None:
            alive = [[[k for k, name in enumerate(ops) if name != REMOVED_FIRST] for ops in c.edge_ops]
                     for c in supernet.choices]
            state = {"version": CHECKPOINT_VERSION, "settings": self.settings(), "alive": alive, "log": [],
                     "rounds": []}
        else:
            log.info("resuming TE-NAS after round %d", len(state["rounds"]))
        while any(len(ops) > 1 for edges in state["alive"] for ops in edges):
            number = len(state["rounds"]) + 1
            start = time.perf_counter()
            rows = self._round(number, supernet, thin, state["alive"], num_ops, ntk_batches, regions, context.seed)
            seconds = round(time.perf_counter() - start, 2)
            pruned = [r for r in rows if r["pruned"]]
            for r in pruned:
                state["alive"][r["cell_type"]][r["edge"]].remove(r["op_index"])
            state["log"] += [{k: v for k, v in r.items() if k not in ("cell_type", "op_index")} for r in rows]
            state["rounds"].append({"round": number, "seconds": seconds, "measured": len(rows),
                                    "pruned": [f"{r['cell']}/{r['edge']}/{r['op']}" for r in pruned]})
            write_json(path, state)
            self._write_log(context, state["log"])
            log.info("TE-NAS round %d (%.0f s): pruned %s", number, seconds, ", ".join(state["rounds"][-1]["pruned"]))
        self._write_log(context, state["log"])

        ops = [[edge[0] for edge in edges] for edges in state["alive"]]
        arch = supernet.genotype(ops)
        metrics = lookup_metrics(context.benchmark)
        cell = describe(context.space, context.benchmark, metrics, arch)
        final = {"arch": cell["arch"], "index": cell["index"], "metrics": {m: cell[m] for m in metrics},
                 "ops": {c.name: [c.edge_ops[e][k] for e, k in enumerate(o)] for c, o in zip(supernet.choices, ops)}}
        write_json(context.run_dir / "genotype.json", final)
        return {"final": final, "rounds": state["rounds"], "protocol": self._protocol(context, metrics, images),
                "search": {"rounds": len(state["rounds"]),
                           "seconds": round(sum(r["seconds"] for r in state["rounds"]), 2)},
                "outputs": ["pruning_log.csv", "genotype.json"]}

    def _round(self, number: int, supernet: Supernet, thin: Supernet, alive: list, num_ops: list[int],
               ntk_batches: list[ProxyBatch], regions: ProxyBatch, seed: int) -> list[dict]:
        """Measure every removable op, rank, and mark the prunes (the round's own random stream)."""
        device = next(supernet.parameters()).device
        before = [w.to(device) for w in mixing_weights(alive, num_ops)]
        removable = [(c, e, k) for c, edges in enumerate(alive) for e, ops in enumerate(edges) if len(ops) > 1
                     for k in ops]
        candidates = []
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(np.random.SeedSequence([seed, number]).generate_state(1)[0]))
            for c, e, k in progress_bar(removable, desc=f"TE-NAS round {number}", leave=False):
                after_alive = [[list(ops) for ops in edges] for edges in alive]
                after_alive[c][e].remove(k)
                after = [w.to(device) for w in mixing_weights(after_alive, num_ops)]
                ntk, lr = [], []
                for r in range(self.repeat):
                    kaiming_init(supernet, "fan_out")
                    ntk.append(round(paired_delta(NTK, ntk_batches[r], supernet, before, after), self.precision))
                    kaiming_init(thin, "fan_in")
                    lr.append(round(paired_delta(REGIONS, regions, thin, before, after), self.precision))
                candidates.append(Candidate(c, e, k, float(np.mean(ntk)), float(np.mean(lr))))
        ntk_ranks, region_ranks, pruned = choose_prunes(candidates, alive, self.prune_number)
        choices = supernet.choices
        return [{"round": number, "cell": choices[x.cell].name, "edge": x.edge,
                 "op": choices[x.cell].edge_ops[x.edge][x.op],
                 "ntk_delta": x.ntk_delta, "regions_delta": x.regions_delta, "ntk_rank": ntk_ranks[i],
                 "regions_rank": region_ranks[i], "pruned": i in pruned, "cell_type": x.cell, "op_index": x.op}
                for i, x in enumerate(candidates)]

    def _protocol(self, context: StudyContext, metrics: list[str], images: ProxyBatch) -> dict:
        return {"method": "TE-NAS pruning (Chen, Gong & Wang, ICLR 2021)", "benchmark": context.benchmark.name,
                "search_dataset": self.dataset, "inputs": images.source, **self.settings(),
                "thin_network": "one mixed cell, C=1, no stem, 1-channel patches", "removed_first": REMOVED_FIRST,
                "reported": metrics, "device": context.device,
                "evaluation": f"training-free pruning; reported: {context.benchmark.name} 200-epoch test"
                if any(m.endswith("@200") for m in metrics) else "training-free pruning"}

    def _write_log(self, context: StudyContext, rows: list[dict]) -> None:
        with atomic_write(context.run_dir / "pruning_log.csv", "w") as f:
            writer = csv.DictWriter(f, fieldnames=LOG_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)

    def _load(self, path) -> dict[str, Any] | None:
        """The checkpoint of this study's settings; None where there is none (or an unreadable one)."""
        if not path.is_file():
            return None
        try:
            state = json.loads(path.read_text())
        except ValueError as exc:
            log.warning("ignoring the unreadable checkpoint %s (%s)", path, exc)
            return None
        return same_settings(path, state, self.settings())
