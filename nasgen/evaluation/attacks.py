"""Adversarial evaluation with the attacks of the NB201 robustness dataset (Lukasik thesis 2023,
Section 7.3.2 and Table C.1; Jung, Lukasik, Keuper, ICLR 2023).

All attacks are untargeted and L-inf bounded, on images in [0, 1]; epsilons are given in
pixel levels (units of 1/255), as in the thesis. Attack names are the dataset's keys:

- ``fgsm``: foolbox ``FGSM`` (one signed-gradient step of size eps on the cross-entropy),
  eps in {0.1, 0.5, 1, 2, ..., 8, 255}.
- ``pgd``: foolbox ``LinfPGD`` with foolbox's defaults as in the dataset: 40 steps of
  ``eps * 0.01 / 0.3`` from a random start, cross-entropy, eps in {0.1, 0.5, 1, 2, 3, 4, 8}.
  (The thesis' Eq. 7.3 describes the least-likely-class variant, but the dataset was made
  with foolbox's untargeted default, which is what runs here.)
- ``aa_apgd-ce``: AutoAttack's APGD on the cross-entropy (``pyautoattack.autopgd_base.APGDAttack``),
  100 iterations and 1 restart (AutoAttack's and the dataset's setting), same eps as PGD.
- ``aa_square``: AutoAttack's Square attack (``pyautoattack.square.SquareAttack``, margin loss,
  ``p_init`` 0.8, query schedule rescaled to the budget), same eps as PGD. The dataset used
  AutoAttack's 5,000 queries; the default here is 1,000 so that a CPU evaluation finishes in
  minutes: Square stops querying an image once it is misclassified, and the rescaled schedule
  shrinks the squares over the smaller budget, but the accuracy it reports is an upper bound
  that 5,000 queries can lower further. Set ``n_queries: 5000`` to match the dataset.

Table C.1 of the thesis also lists eps = 255 for PGD, APGD and Square; Section 7.3.2 and
Fig. 7.2 do not, and neither do the defaults here (add it to ``epsilons`` if wanted).

Images whose softmax saturates in float32 have a zero cross-entropy gradient, which FGSM, PGD
and APGD-CE cannot follow (as in the dataset); Square needs no gradient.
APGD and Square attack only the correctly classified images (the others count as errors as
they are); FGSM and PGD perturb every image. Per attack and eps the result holds the
accuracy, the mean confidence (softmax probability of the predicted class on the adversarial
images) and the confusion matrix (rows: true class, columns: prediction); per attack also the
clean accuracy on the same images (attacks can be capped to the first ``max_samples``).
Every batch draws from its own seed derived from ``seed``, the attack, eps and the batch, so
results are deterministic given ``seed`` and ``batch_size``; torch's global RNG is left as found.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator, Mapping

import foolbox as fb
import numpy as np
import torch
import torch.nn.functional as F
from pyautoattack.autopgd_base import APGDAttack
from pyautoattack.square import SquareAttack
from torch import nn

from nasgen.errors import ConfigError, choose
from nasgen.reporting.console import progress_bar

FGSM_EPSILONS: tuple[float, ...] = (0.1, 0.5, 1, 2, 3, 4, 5, 6, 7, 8, 255)
PGD_EPSILONS: tuple[float, ...] = (0.1, 0.5, 1, 2, 3, 4, 8)
ATTACKS: tuple[str, ...] = ("fgsm", "pgd", "aa_apgd-ce", "aa_square")
# The options each attack takes, with their defaults (see the module docstring).
ATTACK_OPTIONS: dict[str, dict] = {
    "fgsm": {"epsilons": FGSM_EPSILONS},
    "pgd": {"epsilons": PGD_EPSILONS, "steps": 40, "rel_stepsize": 0.01 / 0.3, "random_start": True},
    "aa_apgd-ce": {"epsilons": PGD_EPSILONS, "n_iter": 100, "n_restarts": 1, "rho": 0.75},
    "aa_square": {"epsilons": PGD_EPSILONS, "n_queries": 1000, "n_restarts": 1, "p_init": 0.8},
}
# Every attack also takes ``max_samples``: attack only the first images (bounds the cost).
_COMMON_OPTIONS = {"max_samples": None}


class Tally:
    """Accumulates accuracy, mean confidence and the confusion matrix over batches of logits."""

    def __init__(self, num_classes: int | None = None) -> None:
        self.num_classes = num_classes
        self.total, self.correct, self.confidence = 0, 0, 0.0
        self.confusion: np.ndarray | None = None

    def update(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        logits, labels = logits.detach().float().cpu(), labels.detach().long().cpu()
        if self.confusion is None:
            self.num_classes = self.num_classes or logits.shape[1]
            self.confusion = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)
        confidence, prediction = F.softmax(logits, dim=1).max(dim=1)
        self.total += len(labels)
        self.correct += int((prediction == labels).sum())
        self.confidence += float(confidence.sum())
        np.add.at(self.confusion, (labels.numpy(), prediction.numpy()), 1)

    def result(self) -> dict:
        """``accuracy`` and ``confidence`` (fractions) and ``confusion`` (list of rows)."""
        if not self.total:
            return {"accuracy": None, "confidence": None, "confusion": None}
        return {"accuracy": self.correct / self.total, "confidence": self.confidence / self.total,
                "confusion": self.confusion.tolist()}


def model_device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


@contextmanager
def inference_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and frozen weights for the duration (input gradients only), restored after."""
    was_training = model.training
    flags = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    for parameter, _ in flags:
        parameter.requires_grad_(False)
    try:
        yield model
    finally:
        for parameter, flag in flags:
            parameter.requires_grad_(flag)
        model.train(was_training)


def attack_options(name: str, options: Mapping | None = None) -> dict:
    """The full, validated options of attack ``name``: defaults updated by ``options``."""
    choose("attack", name, ATTACKS)
    merged = {**ATTACK_OPTIONS[name], **_COMMON_OPTIONS}
    unknown = set(options or {}) - set(merged)
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(sorted(unknown))} for attack {name}; "
                          f"valid: {', '.join(merged)}")
    merged.update(options or {})
    merged["epsilons"] = [float(e) for e in merged["epsilons"]]
    if not merged["epsilons"] or min(merged["epsilons"]) <= 0:
        raise ConfigError(f"attack {name} needs positive epsilons (in 1/255), got {merged['epsilons']}")
    counts = [k for k in ("steps", "n_iter", "n_queries", "n_restarts") if k in merged]
    if any(not isinstance(merged[k], int) or merged[k] < 1 for k in counts):
        raise ConfigError(f"attack {name}: {', '.join(counts)} must be positive integers")
    if merged["max_samples"] is not None and (not isinstance(merged["max_samples"], int)
                                              or merged["max_samples"] < 1):
        raise ConfigError(f"attack {name}: max_samples must be a positive integer or null")
    return merged


def _batch_seed(seed: int, *keys: int) -> int:
    return int(np.random.SeedSequence([seed, *keys]).generate_state(1)[0])


def output_depends_on_input(model: nn.Module, x: torch.Tensor) -> bool:
    """Whether ``model``'s output is a function of its input (under :func:`inference_mode`).

    An NB201 cell whose every path from input to output runs through ``none`` gives logits that
    do not depend on the image; its output then has no gradient, and the gradient attacks
    (foolbox, APGD) stopped the whole evaluation with a traceback."""
    with torch.enable_grad():
        return model(x[:1].detach().clone().requires_grad_()).requires_grad


def attack_batch(model: nn.Module, x: torch.Tensor, y: torch.Tensor, name: str, eps: float,
                 options: Mapping, seed: int) -> torch.Tensor:
    """Adversarial versions of ``x`` under attack ``name`` at ``eps`` (in [0, 1] units, not
    1/255); ``options`` as returned by :func:`attack_options`. Call under :func:`inference_mode`.
    A model whose output does not depend on its input cannot be attacked: ``x`` is returned."""
    if name != "aa_square" and not output_depends_on_input(model, x):
        return x.detach()
    # the attacks reseed torch's global RNGs (AutoAttack's own seeding included): fork them
    with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
        torch.manual_seed(seed)
        if name in ("fgsm", "pgd"):
            attack = (fb.attacks.FGSM() if name == "fgsm" else
                      fb.attacks.LinfPGD(steps=options["steps"], rel_stepsize=options["rel_stepsize"],
                                         random_start=options["random_start"]))
            # an explicit device: foolbox would otherwise move the model to any available GPU
            _, adversarial, _ = attack(fb.PyTorchModel(model, bounds=(0, 1), device=x.device), x, y, epsilons=eps)
            return adversarial.detach()
        if name == "aa_apgd-ce":
            attack = APGDAttack(model, n_iter=options["n_iter"], norm="Linf", n_restarts=options["n_restarts"],
                                eps=eps, seed=seed, loss="ce", rho=options["rho"], device=x.device)
            return attack.perturb(x, y).detach()
        attack = SquareAttack(model, norm="Linf", n_queries=options["n_queries"], eps=eps,
                              p_init=options["p_init"], n_restarts=options["n_restarts"], seed=seed,
                              loss="margin", resc_schedule=True, device=x.device)
        with torch.no_grad():  # a black-box attack: forward passes only
            return attack.perturb(x, y).detach()


def evaluate_attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, name: str,
                    options: Mapping | None = None, *, num_classes: int | None = None, batch_size: int = 256,
                    seed: int = 0, progress: bool = True) -> dict:
    """Accuracy, mean confidence and confusion matrix of ``model`` under attack ``name`` at each
    of its epsilons; see the module docstring."""
    options = attack_options(name, options)
    x, y = x[: options["max_samples"]], y[: options["max_samples"]]
    device = model_device(model)
    starts = range(0, len(x), batch_size)
    result: dict = {"epsilons": options["epsilons"], "accuracy": [], "confidence": [], "confusion": []}
    clean = Tally(num_classes)
    started = time.perf_counter()
    with inference_mode(model), \
            progress_bar(total=len(options["epsilons"]) * len(starts), desc=name, enabled=progress, leave=False) as bar:
        with torch.no_grad():
            for start in starts:
                clean.update(model(x[start:start + batch_size].to(device)), y[start:start + batch_size])
        for e, eps in enumerate(options["epsilons"]):
            tally = Tally(num_classes)
            for b, start in enumerate(starts):
                images, labels = x[start:start + batch_size].to(device), y[start:start + batch_size].to(device)
                adversarial = attack_batch(model, images, labels, name, eps / 255, options,
                                           _batch_seed(seed, ATTACKS.index(name), e, b))
                with torch.no_grad():
                    tally.update(model(adversarial), labels)
                bar.update()
            for key, value in tally.result().items():
                result[key].append(value)
    result.update(num_samples=len(x), clean_accuracy=clean.result()["accuracy"],
                  options={k: v for k, v in options.items() if k != "epsilons"},
                  seconds=round(time.perf_counter() - started, 2))
    return result


def evaluate_attacks(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                     attacks: Mapping[str, Mapping | None] = ATTACK_OPTIONS, *, num_classes: int | None = None,
                     batch_size: int = 256, seed: int = 0, progress: bool = True) -> dict[str, dict]:
    """:func:`evaluate_attack` for each attack in ``attacks`` (name -> options overriding the
    defaults; ``None`` skips the attack). By default all four attacks with their defaults."""
    chosen = {name: options for name, options in attacks.items() if options is not None}
    for name, options in chosen.items():
        attack_options(name, options)  # fail before any attack runs
    return {name: evaluate_attack(model, x, y, name, options, num_classes=num_classes, batch_size=batch_size,
                                  seed=seed, progress=progress)
            for name, options in chosen.items()}
