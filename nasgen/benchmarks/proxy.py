"""Training-free measures ("zero-cost proxies") of any network the project can build, as a benchmark.

Metrics: the ``base`` benchmark's (NB201's table, NB301's surrogate; delegated), one
``proxy/<name>`` per configured proxy (:data:`nasgen.proxies.measures.PROXIES`, each with its
declared sign) and one ``proxy/joint_rank[<name>]`` per joint rank.

A proxy's value of an architecture: the network of the architecture, built by ``network`` (with
the proxy's ``per_proxy`` overrides: TE-NAS counts linear regions on a one-channel, one-cell
network) and initialised from a seed derived from (``seed``, the architecture's id
(:func:`nasgen.spaces.base.arch_id`), the repeat), scored on one fixed batch
(:func:`nasgen.proxies.inputs.proxy_batch` of the proxy's ``input`` settings and ``seed``);
``repeats`` > 1 averages over repeats. So a value depends neither on the order of queries nor on
which other proxies are scored. Values go through a :class:`~nasgen.proxies.store.ProxyStore`
(``$NASGEN_CACHE/proxies/...``), which runs, resumed runs and ``nasgen data score-proxies`` share.

Joint rank (TE-NAS's and AG-Net's training-free objective): the mean over its proxies of the
architecture's signed quantile: the fraction of a reference sample whose value is no better than
the architecture's by the proxy's declared sign (in [0, 1]; 1: at least as good as every
reference architecture; a NaN value counts as worst, 0). Higher is better. The reference is
``reference_size`` architectures sampled with ``seed`` (scored once, through the same store), or
the whole space once the store holds every architecture of an indexed space. TE-NAS and AG-Net
rank within the current candidate set instead (the pruning step's candidates, the generated
batch); a fixed reference keeps the objective stationary: a value does not change with what else
was queried, so the Oracle's history stays valid, a resumed run pays for nothing twice and
searches compare on one scale.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

from nasgen.benchmarks.base import Benchmark, MetricUnits, unit_from_name
from nasgen.errors import ConfigError, choose
from nasgen.models.base import NetworkBuilder, ResizableNetworks
from nasgen.proxies.base import PREFIX, Proxy, ProxyBatch, score_network
from nasgen.proxies.inputs import SOURCES, proxy_batch
from nasgen.proxies.measures import PROXIES
from nasgen.proxies.store import ProxyStore
from nasgen.reporting.console import progress_bar
from nasgen.spaces.base import Arch, IndexedSpace, SearchSpace, arch_id

INPUT_KEYS = ("source", "dataset", "batch_size", "input_shape", "num_classes", "crop")
PER_PROXY_KEYS = ("network", "input", "repeats")
JOINT_PREFIX = PREFIX + "joint_rank["


def joint_rank_metric(name: str) -> str:
    return f"{JOINT_PREFIX}{name}]"


def plain(value: Any) -> Any:
    """A config node as plain Python containers (settings hashed into the store's name)."""
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def signed_quantiles(reference: np.ndarray, values: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Per value, the fraction of ``reference`` (NaNs dropped) no better than it under the sign;
    0 for a NaN value. Monotone in the value in the better direction; 1 for a value at least as
    good as every reference value."""
    sign = 1.0 if higher_is_better else -1.0
    ranked = np.sort(sign * reference[~np.isnan(reference)])
    if not len(ranked):
        raise ConfigError("the joint rank's reference sample has no defined value; score more architectures")
    signed = np.where(np.isnan(values), -np.inf, sign * values)
    return np.searchsorted(ranked, signed, side="right") / len(ranked)


@dataclass
class _Plan:
    """How one proxy is scored: its network builder, batch settings, repeats and store."""

    proxy: Proxy
    network: NetworkBuilder
    input: dict[str, Any]
    repeats: int
    store: ProxyStore

    @property
    def group(self) -> str:
        """Proxies of one group share their networks and batch (built once per architecture)."""
        return json.dumps([self.network.settings(), self.input, self.repeats], sort_keys=True)


class ProxyBenchmark:
    """Training-free measures of networks at initialisation, plus a base benchmark's metrics
    (see the module docstring)."""

    name = "proxy"

    def __init__(self, base: Benchmark | None, network: NetworkBuilder, proxies: Sequence[str],
                 input: Mapping[str, Any], per_proxy: Mapping[str, Mapping[str, Any]] | None = None,
                 joint_ranks: Mapping[str, Sequence[str]] | None = None, reference_size: int = 1000,
                 seed: int = 0, device: str = "cpu", data_root_dir: "str | None" = None,
                 space: SearchSpace | None = None, store: bool = True, dataset: str | None = None) -> None:
        """``dataset``: the base table's dataset, which the configs interpolate into the base node and the
        objective's report metric (``${benchmark.dataset}``); kept for the run's protocol only."""
        if base is None and space is None:
            raise ConfigError("benchmark=proxy needs benchmark.base (a benchmark of the space) or benchmark.space")
        if base is not None and space is not None and base.space.name != space.name:
            raise ConfigError(f"benchmark.base answers for the {base.space.name} space, benchmark.space is "
                              f"{space.name}; drop one of them")
        self.base = base
        self.space = base.space if base is not None else space  # type: ignore[union-attr]
        if network.space_name != self.space.name:
            raise ConfigError(f"benchmark.network builds {network.space_name} networks, but the benchmark answers "
                              f"for the {self.space.name} space; choose a network of {self.space.name}")
        if not isinstance(reference_size, int) or reference_size < 2:
            raise ConfigError(f"benchmark.reference_size must be an integer >= 2, got {reference_size!r}")
        try:
            self.device = torch.device(device)
        except RuntimeError:
            raise ConfigError(f"unknown device {device!r}; valid choices: cpu, cuda, cuda:N") from None
        self.seed, self.reference_size, self.data_root_dir = int(seed), reference_size, data_root_dir
        self.dataset = dataset
        self.network, self.input = network, self._input(plain(input), "benchmark.input")
        per_proxy, joint_ranks = plain(per_proxy or {}), plain(joint_ranks or {})
        for name in proxies:
            choose("proxy", name, sorted(PROXIES))
        for name in per_proxy:
            choose("benchmark.per_proxy entry (a configured proxy)", name, list(proxies))
        self.plans = {name: self._plan(name, per_proxy.get(name) or {}, store) for name in proxies}
        for name, members in joint_ranks.items():
            if not members:
                raise ConfigError(f"benchmark.joint_ranks.{name} lists no proxy")
            for member in members:
                choose(f"proxy of benchmark.joint_ranks.{name} (a configured proxy)", member, list(proxies))
        self.joint_ranks: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in joint_ranks.items()}
        self._batches: dict[str, ProxyBatch] = {}
        self._references: dict[str, tuple[bool, np.ndarray]] = {}  # proxy -> (complete space, values)

    # -- settings ---------------------------------------------------------------------------
    @staticmethod
    def _input(settings: Mapping[str, Any], where: str) -> dict[str, Any]:
        unknown = sorted(set(settings) - set(INPUT_KEYS))
        if unknown:
            raise ConfigError(f"{where} has no setting {', '.join(unknown)}; valid settings: {', '.join(INPUT_KEYS)}")
        if "source" in settings:
            choose(f"{where}.source", settings["source"], SOURCES)
        # no crop is left out: the settings name the store (a hash), and stores made before crops
        # existed keep their names
        values = {key: value for key, value in settings.items() if not (key == "crop" and value is None)}
        if "input_shape" in values:
            values["input_shape"] = [int(v) for v in values["input_shape"]]
        return values

    def _plan(self, name: str, overrides: Mapping[str, Any], store: bool) -> _Plan:
        where = f"benchmark.per_proxy.{name}"
        unknown = sorted(set(overrides) - set(PER_PROXY_KEYS))
        if unknown:
            raise ConfigError(f"{where} has no setting {', '.join(unknown)}; valid settings: "
                              f"{', '.join(PER_PROXY_KEYS)}")
        network = self.network
        if overrides.get("network"):
            if not isinstance(network, ResizableNetworks):
                raise ConfigError(f"{where}.network: the {type(network).__name__} builder cannot be resized; "
                                  f"drop the override")
            network = network.resized(**overrides["network"])
        batch = {**self.input, **self._input(overrides.get("input") or {}, f"{where}.input")}
        repeats = overrides.get("repeats", 1)
        if not isinstance(repeats, int) or repeats < 1:
            raise ConfigError(f"{where}.repeats must be a positive integer, got {repeats!r}")
        proxy = PROXIES[name]
        if proxy.info.needs == "images" and batch.get("source", "data") != "data":
            raise ConfigError(f"proxy {name} needs real images (input.source=data), got input.source={batch['source']}")
        settings = {"network": network.settings(), "input": batch, "seed": self.seed, "repeats": repeats}
        return _Plan(proxy, network, batch, repeats, ProxyStore(self.space.name, name, settings, persist=store))

    # -- Benchmark protocol -----------------------------------------------------------------
    @property
    def metrics(self) -> tuple[str, ...]:
        base = tuple(self.base.metrics) if self.base is not None else ()
        return (*base, *(PREFIX + name for name in self.plans), *map(joint_rank_metric, self.joint_ranks))

    def query(self, archs: Sequence[Arch], metric: str) -> np.ndarray:
        choose("metric", metric, self.metrics)
        if self.base is not None and metric in self.base.metrics:
            return self.base.query(archs, metric)
        if metric.startswith(JOINT_PREFIX):
            return self.joint_rank(archs, metric[len(JOINT_PREFIX):-1])
        return self.scores(archs, [metric[len(PREFIX):]])[metric[len(PREFIX):]]

    def optimum(self, metric: str, maximize: bool = True) -> float | None:
        """A base metric's optimum; a proxy's (or joint rank's) only once the store holds its value
        for every architecture of an indexed space, else None."""
        if self.base is not None and metric in self.base.metrics:
            return self.base.optimum(metric, maximize)
        choose("metric", metric, self.metrics)
        if metric.startswith(JOINT_PREFIX):
            name = metric[len(JOINT_PREFIX):-1]
            if not all(self.complete(p) for p in self.joint_ranks[name]):
                return None
            column = self.joint_rank(self.space.enumerate(), name)  # type: ignore[attr-defined]
        else:
            name = metric[len(PREFIX):]
            if not self.complete(name):
                return None
            column = np.fromiter(self.plans[name].store.values().values(), dtype=np.float64)
        return float(np.nanmax(column) if maximize else np.nanmin(column))

    # -- beyond the protocol ----------------------------------------------------------------
    def unit(self, metric: str) -> str | None:
        """:class:`~nasgen.benchmarks.base.MetricUnits`: the base's units; ``log10`` for log-scale proxies."""
        if self.base is not None and metric in self.base.metrics:
            return self.base.unit(metric) if isinstance(self.base, MetricUnits) else unit_from_name(metric)
        name = metric[len(PREFIX):]
        if name in self.plans and self.plans[name].proxy.info.log_scale:
            return "log10"
        return unit_from_name(metric) if name in self.plans else None

    def higher_is_better(self, metric: str) -> bool | None:
        """:class:`~nasgen.benchmarks.base.SignedMetrics`: a proxy's declared sign; joint ranks: higher."""
        if metric.startswith(JOINT_PREFIX):
            return True
        name = metric[len(PREFIX):] if metric.startswith(PREFIX) else None
        return self.plans[name].proxy.info.higher_is_better if name in self.plans else None

    @property
    def free_metrics(self) -> tuple[str, ...]:
        """:class:`~nasgen.benchmarks.base.FreeMetrics`: the proxies and joint ranks (seconds per cell at
        most, read from the store once scored), which a search may read without paying; the base's
        metrics are paid queries."""
        return (*(PREFIX + name for name in self.plans), *map(joint_rank_metric, self.joint_ranks))

    def complete(self, proxy: str) -> bool:
        """Whether the store holds ``proxy``'s value of every architecture (indexed spaces only)."""
        return isinstance(self.space, IndexedSpace) and len(self.plans[proxy].store) >= len(self.space)

    def batch(self, settings: Mapping[str, Any]) -> ProxyBatch:
        """The fixed batch of these input settings and the benchmark's seed, on the device."""
        key = json.dumps(settings, sort_keys=True)
        if key not in self._batches:
            batch = proxy_batch(**settings, seed=self.seed, data_root_dir=self.data_root_dir)
            self._batches[key] = ProxyBatch(batch.inputs.to(self.device), batch.targets.to(self.device),
                                            batch.num_classes, batch.source)
        return self._batches[key]

    def scores(self, archs: Sequence[Arch], proxies: Sequence[str]) -> dict[str, np.ndarray]:
        """``{proxy: values of archs}``: stored values, the others scored now and stored."""
        for name in proxies:
            choose("proxy", name, list(self.plans))
        out = {name: np.empty(len(archs)) for name in proxies}
        for i, arch in enumerate(archs):
            for name, value in self.score(arch, proxies).items():
                out[name][i] = value
        return out

    def score(self, arch: Arch, proxies: Sequence[str]) -> dict[str, float]:
        """``{proxy: value}`` of one architecture, scoring (and storing) the missing ones; the proxies
        of one network and batch setting share the built networks. Nothing but the floats is kept."""
        identity = arch_id(self.space, arch)
        values = {}
        missing: dict[str, list[str]] = {}
        for name in proxies:
            stored = self.plans[name].store.get(identity)
            if stored is None:
                missing.setdefault(self.plans[name].group, []).append(name)
            else:
                values[name] = stored
        for names in missing.values():
            values.update(self._score_group(arch, identity, names))
        return values

    def _score_group(self, arch: Arch, identity: int, names: Sequence[str]) -> dict[str, float]:
        plan = self.plans[names[0]]
        batch = self.batch(plan.input)
        totals = {name: [] for name in names}
        seconds = dict.fromkeys(names, 0.0)
        for repeat in range(plan.repeats):
            seed = int(np.random.SeedSequence([self.seed, identity, repeat]).generate_state(1)[0])
            start = time.perf_counter()
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                network = plan.network.build(arch, batch.num_classes, batch.input_shape[0])
            network = network.to(self.device)
            built = time.perf_counter() - start
            for name in names:  # each proxy timed as if scored alone (its share of the build included)
                start = time.perf_counter()
                totals[name].append(score_network(network, [self.plans[name].proxy], batch, seed)[PREFIX + name])
                seconds[name] += built + time.perf_counter() - start
            del network
        text = self.space.to_str(arch)
        values = {name: float(np.mean(totals[name])) for name in names}
        for name in names:
            self.plans[name].store.append(identity, text, values[name], seconds[name])
        return values

    # -- joint ranks ------------------------------------------------------------------------
    def reference(self, proxy: str) -> np.ndarray:
        """The reference values of ``proxy`` for joint ranks: the whole space when the store holds it,
        else ``reference_size`` architectures sampled with ``seed`` (scored now if needed)."""
        complete = self.complete(proxy)
        cached = self._references.get(proxy)
        if cached is None or cached[0] != complete:
            if complete:
                values = np.fromiter(self.plans[proxy].store.values().values(), dtype=np.float64)
            else:
                sample = self.space.sample(self.reference_size, np.random.default_rng(self.seed))
                members = [n for n, ps in self.joint_ranks.items() if proxy in ps]
                together = sorted({p for n in members for p in self.joint_ranks[n]})
                bar = progress_bar(sample, desc=f"proxy reference sample ({', '.join(together)})", unit="arch",
                                   leave=False)
                values = np.array([self.score(arch, together)[proxy] for arch in bar])
            self._references[proxy] = (complete, values)
        return self._references[proxy][1]

    def joint_rank(self, archs: Sequence[Arch], name: str) -> np.ndarray:
        """``proxy/joint_rank[name]`` of ``archs`` (see the module docstring)."""
        choose("joint rank", name, list(self.joint_ranks))
        members = self.joint_ranks[name]
        values = self.scores(archs, members)
        total = np.zeros(len(archs))
        for proxy in members:
            total += signed_quantiles(self.reference(proxy), values[proxy],
                                      self.plans[proxy].proxy.info.higher_is_better)
        return total / len(members)

    def protocol(self, metrics: Sequence[str]) -> dict[str, Any]:
        """:class:`~nasgen.benchmarks.base.ProtocolSettings`: for the proxies among ``metrics`` (and those
        of its joint ranks) their sign, scale, network, input, seed, repeats and store folder, and the
        joint ranks' definition and reference."""
        joints = {m[len(JOINT_PREFIX):-1] for m in metrics if m.startswith(JOINT_PREFIX) and m in self.metrics}
        names = [n for n in self.plans if PREFIX + n in metrics or any(n in self.joint_ranks[j] for j in joints)]
        proxies = {name: {"higher_is_better": self.plans[name].proxy.info.higher_is_better,
                          "log_scale": self.plans[name].proxy.info.log_scale,
                          "network": self.plans[name].network.settings(), "input": self.plans[name].input,
                          "repeats": self.plans[name].repeats, "store": str(self.plans[name].store.folder)}
                   for name in names}
        described: dict[str, Any] = {"proxy_seed": self.seed, "proxies": proxies} if proxies else {}
        if joints:
            described["joint_ranks"] = {j: list(self.joint_ranks[j]) for j in sorted(joints)}
            described["joint_rank_reference"] = (f"{self.reference_size} {self.space.name} architectures sampled "
                                                 f"with seed {self.seed}, or the whole space once stored")
        return described
