"""Every experiment composed with every option of every config group, through Hydra's compose
API on the package's configs, built and checked by :func:`nasgen.pipeline.prepare` (no
pretraining, no queries): each combination either builds and passes every pre-search check, or
is refused with one line naming the problem. Also the default experiment, the numeric
settings refused at build time and the budget limit of the space."""
from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Callable

import pytest
from hydra import compose, initialize_config_module
from hydra._internal import config_loader_impl
from hydra._internal.config_repository import CachingConfigRepository, ConfigResult
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

import nasgen.configs
from nasgen.errors import ConfigError, DataError, NasgenError
from nasgen.pipeline import prepare
from nasgen.ranges import Float, Int, check_ranges
from nasgen.search.evolution import RegularizedEvolution
from nasgen.search.local_search import LocalSearch
from nasgen.search.model_based import ModelBasedSearch
from nasgen.search.random_search import RandomSearch

CONFIGS = Path(nasgen.configs.__file__).parent
GROUPS = ("search_space", "benchmark", "objective", "generator", "predictor", "search", "evaluation", "variant",
          "study", "profile", "supernet", "selection", "inverse_task", "das_hparams")
ONE_SHOT_GROUPS = ("supernet", "selection")  # read by study=oneshot only
# read by the 1-D inverse-problem components only: benchmark=inverse1d, objective=inverse1d, study=das_inverse
INVERSE_GROUPS = ("inverse_task", "das_hparams")


def options(group: str) -> list[str]:
    return sorted(path.stem for path in (CONFIGS / group).glob("*.yaml"))


def is_study(experiment: str) -> bool:
    """Whether an experiment runs a study (configs/study/) instead of a search."""
    return option_of(experiment, "study", "", "") is not None  # its own or that of the experiment it extends


def on_partial_table(experiment: str) -> bool:
    """Whether an experiment runs on NASLib's partial NB101 table by itself (the predictor studies)."""
    return OmegaConf.select(OmegaConf.load(CONFIGS / "experiment" / f"{experiment}.yaml"), "benchmark.source") == \
        "naslib_zc"


EXPERIMENTS = options("experiment")
# Searches that need a cost (a second objective, or Joint=1's cost ranking) and those that refuse one.
NEEDS_COST = {"nsga2", "ag_net_hw_joint"}
REFUSES_CONSTRAINT = {"bananas", "bo", "gp_bo", "latent_space", "latent_bo", "latent_bo192", "inn_invert",
                      "inn_invert_smoke"}
CONSTRAINED = {"hw_nb201"}  # experiments whose objective has a cost limit
# Experiments on user-supplied data (the full NB101 table is not here) are composed on the real
# partial table that is: NASLib's labelled NB101 cells, searched on validation accuracy only.
ON_PARTIAL_TABLE = ["benchmark.source=naslib_zc", "benchmark.skip_missing=true", "objective=nb101_valid_only"]
USER_DATA = {"ag_net_nb101": ON_PARTIAL_TABLE, "compare_nb101": ON_PARTIAL_TABLE,
             "svge_extrapolate_nb101": ON_PARTIAL_TABLE, "svge_latent_walk_nb101": ON_PARTIAL_TABLE}
PARTIAL_TABLE_CELLS = 292
SHARED = Path(os.environ.get("NASGEN_SHARED") or Path(__file__).parents[2] / "shared" / "benchmarks")
HAS_SHARED = (SHARED / "nb201").is_dir()


def prepared(cfg: DictConfig):
    """``prepare(cfg)``; without the shared benchmark data beside the repo, a combination that needs
    one of its files skips its test (the README's promise for a clone without ../shared)."""
    try:
        return prepare(cfg)
    except DataError as exc:
        if HAS_SHARED:
            raise
        pytest.skip(f"needs the shared benchmark data: {str(exc).splitlines()[0]}")


# Searches that need a generator with an encoder (generator=svge, inn), and the experiments running one.
NEEDS_ENCODER = {"latent_bo", "latent_bo192"}
ENCODING_GENERATORS = ("svge", "inn")
# Searches that need a performance-conditioned generator (generator=inn).
NEEDS_PERFORMANCE_GENERATOR = {"inn_invert", "inn_invert_smoke"}
PROFILE_READ = "${profile."


def option_of(experiment: str, target: str, group: str, option: str) -> str | None:
    """The ``target`` group's option that ``experiment`` composed with ``group=option`` uses
    (through the experiments it extends); None where no experiment names one."""
    if group == target:
        return option
    inherited = None  # an experiment's own override wins over the experiment it extends, wherever listed
    for entry in OmegaConf.load(CONFIGS / "experiment" / f"{experiment}.yaml").get("defaults", []):
        if isinstance(entry, DictConfig) and f"override /{target}" in entry:
            return entry[f"override /{target}"]
        if isinstance(entry, str) and entry != "_self_" and inherited is None:
            inherited = option_of(entry, target, group, option)
    return inherited


def experiment_setting(experiment: str, key: str) -> object:
    """The value of the dotted ``key`` an experiment sets itself or through the experiments it extends."""
    config = OmegaConf.load(CONFIGS / "experiment" / f"{experiment}.yaml")
    value = OmegaConf.to_container(config, resolve=False)
    for part in key.split("."):  # unresolved: the caller resolves ${profile.*} against a profile
        value = value.get(part) if isinstance(value, dict) else None
    if value is not None:
        return value
    parents = [entry for entry in config.get("defaults", []) if isinstance(entry, str) and entry != "_self_"]
    return next((v for v in (experiment_setting(p, key) for p in parents) if v is not None), None)


class ParsedConfigFiles(CachingConfigRepository):
    """Hydra's file cache, which lives for one composition, kept for many: each composition gets
    copies of the parsed files.

    Failed design: handing out the cached objects themselves; Hydra applies a composition's
    overrides to what it loaded, so ``budget=6467`` leaked into the next composition."""

    def load_config(self, config_path: str) -> ConfigResult | None:
        return copy.deepcopy(super().load_config(config_path))


def search_of(experiment: str, group: str, option: str) -> str | None:
    """The search option ``experiment`` composed with ``group=option`` runs (a variant names its own)."""
    if group == "variant":
        for entry in OmegaConf.load(CONFIGS / "variant" / f"{option}.yaml").get("defaults", []):
            if isinstance(entry, DictConfig) and "override /search" in entry:
                return entry["override /search"]
    return option_of(experiment, "search", group, option)


def reads_profile(experiment: str, group: str, option: str) -> bool:
    """Whether the search or study of the combination reads ``${profile.*}``, itself or through
    the generator it interpolates (the config files' text, not the pipeline's walk)."""
    generator = config_text("generator", option_of(experiment, "generator", group, option) or "ag_net")
    study, search = option_of(experiment, "study", group, option), search_of(experiment, group, option)
    text = config_text("study", study) if study else config_text("search", search) if search else ""
    if study:  # an experiment's own study settings stay merged into whichever study is chosen
        text += str(experiment_setting(experiment, "study") or "")
    text += str(experiment_setting(experiment, "benchmark") or "")  # training-free measurement settings
    return PROFILE_READ in text or ("${generator}" in text and PROFILE_READ in generator)


def config_text(group: str, option: str) -> str:
    """The text of a group's option file and of the options it extends (``parent`` or
    ``/group/parent@package``)."""
    path = CONFIGS / group / f"{option}.yaml"
    defaults = OmegaConf.load(path).get("defaults", [])
    # `parent`, `/group/option@package` and `/group@package: option` entries
    extended = [entry.split("@")[0] for entry in defaults if isinstance(entry, str) and entry != "_self_"]
    extended += [f"{key.split('@')[0]}/{value}" for entry in defaults if isinstance(entry, DictConfig)
                 for key, value in entry.items() if key.startswith("/") and value is not None]
    return "".join([path.read_text(), *(config_text(*parent.strip("/").split("/", 1)) if parent.startswith("/")
                                        else config_text(group, parent) for parent in extended)])


@pytest.fixture(scope="module")
def hydra_configs(tmp_path_factory: pytest.TempPathFactory):
    """Compose function on the package's configs; the run directory is a temporary folder.

    Hydra reads and parses every config file again for each composition; here
    :class:`ParsedConfigFiles` serves the module's ~2,000 compositions (checked to compose what
    Hydra composes: :func:`test_the_shared_file_cache_composes_what_hydra_composes`)."""
    run_dir = tmp_path_factory.mktemp("run")
    data = [f"data_root={SHARED}"] if HAS_SHARED else []

    def composed(*overrides: str) -> DictConfig:
        cfg = compose("config", [*data, *overrides], return_hydra_config=True)
        with open_dict(cfg):
            cfg.hydra.runtime.output_dir = str(run_dir)
        HydraConfig.instance().set_config(cfg)  # resolves ${hydra:runtime.output_dir}
        return cfg

    with initialize_config_module(version_base="1.3", config_module="nasgen.configs"), \
            pytest.MonkeyPatch.context() as patch:
        files = ParsedConfigFiles(GlobalHydra.instance().config_loader().repository)
        patch.setattr(config_loader_impl, "CachingConfigRepository", lambda repository: files)
        yield composed


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def isolated_cache(module_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """One import cache for the module: the combinations read the same benchmark tables."""
    monkeypatch.setenv("NASGEN_CACHE", str(module_cache))
    return module_cache


@pytest.fixture(scope="module")
def outcome(hydra_configs) -> Callable[..., str | None]:
    """``outcome(experiment[, group, option])``: None when the composition builds and passes every
    pre-search check, else the NasgenError's message (any other exception fails the test, with
    its traceback). Remembered, since a Hydra composition costs about 0.2 s of CPU."""

    def checked(cfg: DictConfig) -> str | None:
        try:
            prepared(cfg)
        except NasgenError as exc:
            return str(exc)
        return None

    @functools.cache
    def as_it_is(experiment: str) -> tuple[DictConfig, str | None]:
        cfg = hydra_configs(f"experiment={experiment}", *USER_DATA.get(experiment, []))
        return cfg.hydra.runtime.choices, checked(cfg)

    @functools.cache
    def of(experiment: str, group: str | None = None, option: str | None = None) -> str | None:
        choices, unchanged = as_it_is(experiment)
        if group is None or choices.get(group) == option:
            return unchanged
        kept = [o for o in USER_DATA.get(experiment, []) if not o.startswith((f"{group}.", f"{group}="))]
        return checked(hydra_configs(f"experiment={experiment}", *kept, f"{group}={option}"))

    return of


def assert_one_line(message: str | None, combination: tuple[str, ...]) -> None:
    """None, or a message on one line; data errors add their "how to get it" hint as a second."""
    if message is not None:
        first, *rest = message.split("\n")
        assert first.strip() and all(line.startswith("  how to get it:") for line in rest), (combination, message)


def by_experiment(experiment: str, *values: str, marks: tuple = ()) -> object:
    """A parameter set of ``experiment``'s group of tests: under pytest-xdist they run on one worker,
    which composes the experiment as it is once for all of them; the experiments spread over the
    workers."""
    return pytest.param(experiment, *values, marks=[pytest.mark.xdist_group(f"configs-{experiment}"), *marks])


@pytest.mark.slow
@pytest.mark.parametrize("experiment", [by_experiment(experiment) for experiment in EXPERIMENTS])
def test_every_option_of_every_group_builds_or_is_refused_in_one_line(outcome, experiment: str):
    for group in GROUPS:
        for option in options(group):
            assert_one_line(outcome(experiment, group, option), (experiment, group, option))


@pytest.mark.parametrize("experiment", [by_experiment(experiment) for experiment in EXPERIMENTS])
def test_every_experiment_builds_as_it_is(outcome, experiment: str):
    assert outcome(experiment) is None


def expected_refusal(experiment: str, group: str, option: str) -> str | None:
    """The part of the message that must refuse this combination, None if it must build."""
    constrained = experiment in CONSTRAINED
    # a profile nothing reads is refused first (profile=cpu is the INN experiments' default)
    if (option_of(experiment, "profile", group, option) or "paper") != "paper" and \
            not reads_profile(experiment, group, option):
        return "changes only settings that read it"
    # the budget is checked first, also for a study
    if (experiment in USER_DATA or on_partial_table(experiment)) and group == "variant" and \
            OmegaConf.load(CONFIGS / "variant" / f"{option}.yaml").get("budget", 0) > PARTIAL_TABLE_CELLS:
        return "architectures the nb101 table holds"
    # supernet= and selection= are read by study=oneshot only (checked before the space is built)
    one_shot = option_of(experiment, "study", group, option) == "oneshot"
    if not one_shot and any(option_of(experiment, g, group, option) for g in ONE_SHOT_GROUPS):
        return "no component of this run reads it"
    # inverse_task= and das_hparams= are read by the inverse-problem benchmark (and objective, study) only
    if option_of(experiment, "benchmark", group, option) != "inverse1d" and \
            any(option_of(experiment, g, group, option) for g in INVERSE_GROUPS):
        return "no component of this run reads it"
    if is_study(experiment) and group in ("search", "variant", "evaluation"):
        return "does not search"
    if group == "study" and not is_study(experiment):
        return "does not search"
    if one_shot and option_of(experiment, "selection", group, option) == "magnitude" and \
            experiment_setting(experiment, "selection"):
        return "selection=magnitude takes no settings"
    if one_shot and not option_of(experiment, "supernet", group, option):
        return "study=oneshot trains a supernet"
    if one_shot:
        profile_option = option_of(experiment, "profile", group, option) or "paper"
        profile = OmegaConf.load(CONFIGS / "profile" / f"{profile_option}.yaml")
        settings = OmegaConf.create({  # the experiment's values, resolved against the chosen profile
            "profile": profile,
            "selection": experiment_setting(experiment, "study.selection_epochs") or
            OmegaConf.load(CONFIGS / "study" / "oneshot.yaml").selection_epochs,
            "epochs": experiment_setting(experiment, "supernet.schedule.epochs") or "${profile.supernet_epochs}"})
        if max(int(e) for e in settings.selection) > int(settings.epochs):  # darts_pt_nb201's 100 with smoke's 3
            return "study.selection_epochs"
    if group == "search" and option == "given":  # it queries the architectures it is given: none here
        return "search=given needs"
    if group == "search" and option in NEEDS_COST and not constrained:
        return "cost_metric"
    if group == "evaluation" and option == "hardware" and not constrained:
        return "needs objective.cost_metric"
    if constrained and ((group == "search" and option in REFUSES_CONSTRAINT)
                        or (group == "variant" and option.startswith("latent"))):
        return "cost constraints"
    if constrained and group == "variant" and option in ("ag_net_oracle", "ag_net_xgb", "ag_net_xgb_ranking"):
        return "differentiable predictors"
    generator = option_of(experiment, "generator", group, option) or "ag_net"
    if option_of(experiment, "search", group, option) in NEEDS_ENCODER and not is_study(experiment) and \
            not generator.startswith(ENCODING_GENERATORS):
        return "use generator=svge"
    if search_of(experiment, group, option) in NEEDS_PERFORMANCE_GENERATOR and not is_study(experiment) and \
            not generator.startswith("inn"):
        # an experiment's own generator settings (inn_smoke's tiny pretraining) fit only its generator
        sets_generator = "generator" in OmegaConf.load(CONFIGS / "experiment" / f"{experiment}.yaml")
        return "does not take the settings" if sets_generator and group == "generator" else "use generator=inn"
    return None


# Every experiment x every search is what the issue asked for and runs by default; evaluations
# and variants double the time (a Hydra composition costs ~0.2 s of CPU), so they are slow.
@pytest.mark.parametrize("experiment, group", [
    *[by_experiment(experiment, "search") for experiment in EXPERIMENTS],
    *[by_experiment(experiment, group, marks=(pytest.mark.slow,))
      for group in ("evaluation", "variant", "profile", *ONE_SHOT_GROUPS, *INVERSE_GROUPS)
      for experiment in EXPERIMENTS]])
def test_every_experiment_composes_with_every_option(outcome, experiment: str, group: str):
    for option in options(group):
        message, refusal = outcome(experiment, group, option), expected_refusal(experiment, group, option)
        assert message is None if refusal is None else refusal in message, (option, message)


ONE_SHOT_EXPERIMENTS = [e for e in EXPERIMENTS if option_of(e, "study", "", "") == "oneshot"]


@pytest.mark.parametrize("experiment", [by_experiment(experiment) for experiment in ONE_SHOT_EXPERIMENTS])
def test_one_shot_experiments_compose_with_every_supernet_selection_profile_and_study(outcome, experiment: str):
    for group in (*ONE_SHOT_GROUPS, "profile", "study"):
        for option in options(group):
            message, refusal = outcome(experiment, group, option), expected_refusal(experiment, group, option)
            assert message is None if refusal is None else refusal in message, (group, option, message)
            assert_one_line(message, (experiment, group, option))


def test_one_shot_groups_are_refused_where_nothing_reads_them(outcome):
    assert "supernet= is set, and no component of this run reads it" in outcome("smoke", "supernet", "darts")
    assert "use it with study=oneshot" in outcome("quickstart", "selection", "pt")
    assert "study=oneshot trains a supernet: choose supernet=" in outcome("inn_regression_nb201", "study", "oneshot")
    assert "study.selection_epochs=[20, 40, 60, 80, 100] must be increasing search epochs in 1..3" in \
        outcome("darts_pt_nb201", "profile", "smoke")


# The one option of each group that the 1-D inverse-problem study runs with (its space: either layout).
INVERSE_OPTIONS = {"search_space": ("inverse1d_sequential", "inverse1d_nonsequential"), "benchmark": ("inverse1d",),
                   "objective": ("inverse1d",), "study": ("das_inverse",)}


def test_the_inverse_experiment_composes_with_every_task_and_hyperparameter_set(outcome):
    """The base experiment, which every other inverse experiment extends (all of them: the slow grid)."""
    for group in INVERSE_GROUPS:
        for option in options(group):
            assert outcome("das_inverse", group, option) is None, (group, option)


@pytest.mark.parametrize("group", [pytest.param(group, marks=[pytest.mark.slow] if group in ("benchmark", "objective")
                                                else []) for group in INVERSE_OPTIONS])
def test_the_inverse_study_builds_only_on_its_space_benchmark_objective_and_study(outcome, group: str):
    """The base experiment with every option of the groups it fixes: its own build, any other is
    refused in one line before anything trains."""
    for option in options(group):
        message = outcome("das_inverse", group, option)
        assert (message is None) == (option in INVERSE_OPTIONS[group]), (group, option, message)
        assert_one_line(message, ("das_inverse", group, option))


def test_the_inverse_groups_are_refused_where_nothing_reads_them_and_required_where_read(outcome, hydra_configs):
    assert "inverse_task= is set, and no component of this run reads it" in outcome("smoke", "inverse_task", "blur")
    assert "use it with benchmark=inverse1d, study=das_inverse" in outcome("quickstart", "das_hparams", "h2")
    with pytest.raises(ConfigError, match=r"the run's benchmark, objective read\(s\) inverse_task, and none is "
                                          r"chosen; choose inverse_task=blur\|downsample"):
        prepare(hydra_configs("experiment=none", "search=random", "search_space=inverse1d_sequential",
                              "benchmark=inverse1d", "objective=inverse1d", "das_hparams=h1"))
    with pytest.raises(ConfigError, match=r"the run's benchmark read\(s\) das_hparams, and none is chosen; choose "
                                          r"das_hparams=bohb_blur\|"):
        prepare(hydra_configs("experiment=none", "search=random", "search_space=inverse1d_sequential",
                              "benchmark=inverse1d", "objective=inverse1d", "inverse_task=blur"))


@pytest.mark.parametrize("layout", ["inverse1d_sequential", "inverse1d_nonsequential"])
def test_search_loops_on_the_inverse_spaces_build_or_are_refused_in_one_line(hydra_configs, layout: str):
    """benchmark=inverse1d answers any search that needs no path encoding, cost or generator of another
    kind; generators of one cell graph run on the sequential space only (the non-sequential one has two
    cells and no cell views)."""
    inverse = ["experiment=none", f"search_space={layout}", "benchmark=inverse1d", "objective=inverse1d",
               "inverse_task=blur", "das_hparams=h1", "budget=5"]
    for search in ("random", "local", "evolution", "bo", "gp_bo"):
        prepared(hydra_configs(*inverse, f"search={search}"))
    with pytest.raises(ConfigError, match="search.encoding=path needs a space with a path encoding"):
        prepared(hydra_configs(*inverse, "search=bananas"))
    prepared(hydra_configs(*inverse, "search=bananas", "search.encoding=adjacency"))
    if layout == "inverse1d_sequential":
        prepared(hydra_configs(*inverse, "search=ag_net"))
    else:
        with pytest.raises(ConfigError, match=r"AG-Net generates one cell at a time .* 2 cells, which the space "
                                              r"cannot search one by one \(it has no cell views\)"):
            prepared(hydra_configs(*inverse, "search=ag_net"))


def test_the_shared_file_cache_composes_what_hydra_composes(hydra_configs):
    overrides = [["experiment=smoke", "search=random", "budget=6467", "search.top_k=3"],
                 ["experiment=hw_nb201", "variant=ag_net_xgb"],
                 ["experiment=ag_net_nb101", *ON_PARTIAL_TABLE, "predictor=mlp"], ["experiment=smoke", "search=random"]]
    cached = [OmegaConf.to_yaml(hydra_configs(*o)) for o in overrides]
    with pytest.MonkeyPatch.context() as patch:  # Hydra's own cache, one per composition
        patch.setattr(config_loader_impl, "CachingConfigRepository", CachingConfigRepository)
        assert cached == [OmegaConf.to_yaml(hydra_configs(*o)) for o in overrides]


def test_an_experiment_on_user_data_names_the_missing_file(hydra_configs, tmp_path):
    with pytest.raises(DataError) as error:
        prepare(hydra_configs("experiment=ag_net_nb101", f"data_root={tmp_path}"))
    assert f"{tmp_path}/nb101/nasbench_only108.tfrecord" in str(error.value)


def test_a_benchmark_of_another_space_is_refused(outcome):
    assert "answers for the nb201 space, not for search_space=nb101" in outcome("smoke", "search_space", "nb101")
    assert "answers for the nb101 space, not for search_space=nb201" in \
        outcome("ag_net_nb101", "search_space", "nb201")


def test_the_budget_is_limited_by_a_partial_table_that_skips(hydra_configs):
    with pytest.raises(ConfigError, match=f"more than the {PARTIAL_TABLE_CELLS} architectures the nb101 table"):
        prepared(hydra_configs("experiment=ag_net_nb101", *ON_PARTIAL_TABLE, f"budget={PARTIAL_TABLE_CELLS + 1}"))


def test_quickstart_with_the_default_evaluation_builds(outcome):
    # The robustness caps of the quickstart used to survive evaluation=default as a suite without
    # _target_, which failed only after the whole search ('DictConfig' object is not callable).
    assert outcome("quickstart", "evaluation", "default") is None


def test_settings_left_for_a_missing_suite_are_refused_before_the_search(hydra_configs):
    cfg = hydra_configs("experiment=quickstart", "evaluation=default", "+evaluation.robustness.max_samples=300")
    with pytest.raises(ConfigError, match=r"evaluation.robustness \(max_samples\) has no _target_"):
        prepare(cfg)


def test_predictor_features_are_refused_where_they_cannot_be_read(hydra_configs):
    cfg = hydra_configs("experiment=ag_net_training_free_nb201", "predictor_features=[proxy/ntk_cond]")
    with pytest.raises(ConfigError, match="its differentiable predictor scores the generator's graph output"):
        prepared(cfg)
    with pytest.raises(ConfigError, match="benchmark nb201 has none"):
        prepared(hydra_configs("experiment=ag_net_nb201", "search=bananas", "predictor_features=[proxy/ntk_cond]"))
    cfg = hydra_configs("experiment=ag_net_training_free_nb201", "search=gp_bo",
                        "predictor_features=[proxy/ntk_cond,proxy/linear_regions]")
    assert prepared(cfg).search.features == ["proxy/ntk_cond", "proxy/linear_regions"]


def test_an_objective_the_benchmark_lacks_is_refused(outcome):
    assert "not provided by benchmark" in outcome("smoke", "objective", "robust_fgsm")
    assert "not provided by benchmark" in outcome("quickstart", "objective", "nb201")
    assert "cannot resolve objective: Interpolation key 'benchmark.epochs' not found" in \
        outcome("smoke", "objective", "train")


@pytest.mark.parametrize("overrides", [["seed=3"], ["budget=8"], ["search=random"]])
def test_overrides_keep_the_default_experiment(hydra_configs, overrides: list[str]):
    cfg = hydra_configs(*overrides)
    assert cfg.hydra.runtime.choices.experiment == "quickstart" and cfg.name == "quickstart"
    assert cfg.benchmark._target_ == "nasgen.benchmarks.training.TrainingBenchmark"


def test_experiment_none_is_the_bare_defaults(hydra_configs):
    cfg = hydra_configs("experiment=none")
    assert cfg.name == "default" and cfg.budget == 192
    choices = cfg.hydra.runtime.choices
    assert (choices.benchmark, choices.search, choices.objective) == ("nb201", "ag_net", "nb201")


# -- numeric settings ---------------------------------------------------------------------------
@pytest.mark.parametrize("overrides, message", [
    (["search=random", "search.top_k=0"], "search.top_k must be a positive integer, got 0"),
    (["search=evolution", "search.top_k=-1"], "search.top_k must be a positive integer, got -1"),
    (["search=bananas", "search.initial_samples=0"], "search.initial_samples must be a positive integer"),
    (["search=local", "search.initial_samples=0"], "search.initial_samples must be a positive integer"),
    (["search=ag_net", "search.lr=0"], "search.lr must be > 0.0, got 0"),
    (["search=latent_space", "search.radius=-1"], "search.radius must be > 0.0"),
    (["search=nsga2", "search.crossover_prob=1.5"], "search.crossover_prob must be in [0.0, 1.0]"),
    (["budget=true"], "budget must be a positive integer, got True"),
    (["seed=1.5"], "seed must be a non-negative integer, got 1.5"),
    (["budget=6467"], "more than the 6466 distinct (non-isomorphic) architectures of the nb201 space"),
    (["evaluation=robust_design", "evaluation.design.top_k=0"], "evaluation.design.top_k must be a positive"),
])
def test_out_of_range_settings_are_refused_before_the_search(hydra_configs, overrides, message):
    with pytest.raises(ConfigError) as error:
        prepare(hydra_configs("experiment=none", *overrides))
    assert message in str(error.value)


@pytest.mark.parametrize("override, message", [
    ("cell_search.first_share=0", "cell_search.first_share must be in (0.0, 1.0], got 0"),
    ("cell_search.first_cell=both", "unknown cell_search.first_cell 'both'; valid choices: normal, reduce"),
    ("cell_search.first_others=0", "cell_search.first_others must be a positive integer, got 0"),
])
def test_cell_search_settings_are_refused_before_the_search(hydra_configs, override, message):
    with pytest.raises(ConfigError) as error:
        prepared(hydra_configs("experiment=ag_net_nb301", override))
    assert message in str(error.value)


def test_the_whole_space_is_a_valid_budget(hydra_configs):
    assert prepare(hydra_configs("experiment=none", "search=random", "budget=6466")).space.distinct_architectures \
        == 6466


@pytest.mark.parametrize("build", [
    lambda: RandomSearch(top_k=0),
    lambda: RegularizedEvolution(top_k=0),
    lambda: RegularizedEvolution(initial_samples=0),
    lambda: LocalSearch(initial_samples=True),
    lambda: ModelBasedSearch(surrogate=None, initial_samples=0),
])
def test_search_loops_check_their_ranges_when_built_from_python(build):
    with pytest.raises(ConfigError, match="must be a positive integer"):
        build()


def test_range_messages():
    declared = {"n": Int(2), "p": Float(0.0, 1.0), "lr": Float(0.0, above=True), "k": Int(1, optional=True)}
    check_ranges("x", declared, {"n": 2, "p": 1, "lr": 1e-3, "k": None})
    for values, message in [({"n": 1}, "x.n must be an integer >= 2, got 1"),
                            ({"p": float("nan")}, "x.p must be in [0.0, 1.0], got nan"),
                            ({"p": "0.5"}, "x.p must be in [0.0, 1.0], got '0.5'"),
                            ({"lr": 0.0}, "x.lr must be > 0.0, got 0.0"),
                            ({"k": 0}, "x.k must be a positive integer or null, got 0")]:
        with pytest.raises(ConfigError) as error:
            check_ranges("x", declared, {"n": 2, "p": 0.5, "lr": 1.0, "k": 1, **values})
        assert str(error.value) == message


def test_proxy_benchmarks_compose_with_the_proxy_objectives(hydra_configs, outcome):
    """benchmark=proxy / proxy_darts with objective=proxy / proxy_joint_rank (building scores nothing)."""
    from nasgen.proxies.measures import PROXIES

    assert set(OmegaConf.load(CONFIGS / "benchmark" / "proxy.yaml").proxies) <= set(PROXIES)
    assert outcome("none", "benchmark", "proxy") is None
    registered = f"benchmark.proxies=[{','.join(PROXIES)}]"
    for objective in ("proxy_joint_rank", "proxy"):
        prepared(hydra_configs("experiment=none", "search=random", "benchmark=proxy", f"objective={objective}",
                               registered, "objective.search_metric=proxy/params_M"
                               if objective == "proxy" else "objective.record=[]"))
    prepared(hydra_configs("experiment=none", "search=random", "search_space=darts", "benchmark=proxy_darts",
                           "objective=proxy_joint_rank", registered,
                           "objective.report_metric=nb301_yahpo/cifar10/valid_acc@98"))
    with pytest.raises(ConfigError, match=r"contradicts proxy/ntk_cond, of which lower is better"):
        prepared(hydra_configs("experiment=none", "search=random", "benchmark=proxy", "objective=proxy", registered,
                               "objective.search_metric=proxy/ntk_cond"))
