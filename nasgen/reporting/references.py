"""Published rows that ``nasgen report --reference NAME`` sets beside the runs' own.

Chen (2023, NTU MSc thesis, the INN generator) reports each of its own NAS-Bench-201 rows as
the best validation and, separately, the best test accuracy over all queried architectures
(initial labelled set included): the ``max_over_queried`` protocol, so its rows belong to that
table of the report. Its baseline rows (AG-Net, BANANAS, RS, LS, RE, CR-LSO) state neither source
nor protocol; they are marked as such (for RS the thesis' numbers sit closer to the separate
maxima, for BANANAS and AG-Net closer to the test accuracy of the best-by-validation cell).

Numbers: the implementer's note on the thesis (``shared/notes/chen_inn_generator.md``, section
4, with its typo annotations A13), means over 10 runs, "(std)" written as "± std". A "*" is the
thesis' mark for "the optimum was reached".
"""
from __future__ import annotations

from dataclasses import dataclass

DATASETS = ("cifar10", "cifar100", "ImageNet16-120")  # the thesis' C10 / C100 / IN16 columns


@dataclass(frozen=True)
class ReferenceRow:
    table: str  # e.g. "Chen 2023 Table 2"
    method: str
    dataset: str
    queries: int | None  # None: the benchmark's optimum, the same at every query count
    searched: str  # the cell text of the validation accuracy (the searched metric)
    reported: str  # the cell text of the test accuracy (the reported metric)
    known_protocol: bool  # False: the thesis gives neither source nor protocol of this row

    @property
    def label(self) -> str:
        note = "" if self.known_protocol else " [protocol unknown]"
        return f"{self.table}: {self.method}{note}"


# Per method and query count: (valid, test) cells for cifar10, cifar100, ImageNet16-120.
_TABLE_2 = [  # Table 2 + Table 7 (the same numbers with GPU hours)
    ("Optimal", None, True, [("91.61", "94.37"), ("74.39 [sic: 73.49, the value rows mark *]", "73.51"),
                             ("46.73", "47.31")]),
    ("BANANAS", 192, False, [("91.55 ± 0.15", "94.26 ± 0.22"), ("73.49* ± 0.00", "73.51* ± 0.00"),
                             ("46.68 ± 0.09", "46.49 ± 0.42")]),
    ("RS", 192, False, [("91.27 ± 0.23", "94.02 ± 0.21"), ("72.12 ± 0.90", "72.31 ± 0.92"),
                        ("45.67 ± 0.52", "46.08 ± 0.60")]),
    ("LS", 192, False, [("91.53 ± 0.15", "94.31 ± 0.15"), ("73.28 ± 0.52", "73.25 ± 0.58"),
                        ("46.44 ± 0.18", "46.77 ± 0.25")]),
    ("RE", 192, False, [("91.48 ± 0.13", "94.94 ± 0.21 [sic: above the optimum 94.37; 93.94 or 94.04?]"),
                        ("72.86 ± 0.83", "72.98 ± 0.79"), ("46.04 ± 0.54", "46.43 ± 0.38")]),
    ("AG-Net", 192, False, [("91.60 ± 0.02", "94.37* ± 0.00"), ("73.49* ± 0.00", "73.51* ± 0.00"),
                            ("46.64 ± 0.12", "46.43 ± 0.34")]),
    ("Ours", 190, True, [("91.60 ± 0.02", "94.37 ± 0.01"), ("73.49* ± 0.00", "73.51* ± 0.00"),
                         ("46.61 ± 0.16", "46.98 ± 0.34")]),
    ("CR-LSO", 500, False, [("91.54 ± 0.05", "94.35 ± 0.05"), ("73.44 ± 0.17", "73.47 ± 0.14"),
                            ("46.51 ± 0.05", "46.98 ± 0.35")]),
    ("AG-Net", 400, False, [("91.61* ± 0.00", "94.37* ± 0.00"), ("73.49* ± 0.00", "73.51* ± 0.00"),
                            ("46.73* ± 0.00", "46.42 ± 0.00")]),
    ("Ours", 400, True, [("91.61* ± 0.00", "94.37* ± 0.00"), ("73.49* ± 0.00", "73.51* ± 0.00"),
                         ("46.70 ± 0.06", "47.20 ± 0.20")]),
]
_TABLE_4 = [  # candidate generation ablation: random unseen candidates, the INN kept as predictor (means only)
    ("Ours-Random", 190, True, [("91.36", "94.20"), ("72.73", "72.97"), ("46.34", "46.58")]),
    ("Ours", 190, True, [("91.60", "94.37"), ("73.49*", "73.51*"), ("46.61", "46.98")]),
    ("Ours-Random", 400, True, [("91.52", "94.33"), ("73.09", "73.40"), ("46.55", "47.00")]),
    ("Ours", 400, True, [("91.61*", "94.37*"), ("73.49*", "73.51*"), ("46.70", "47.20")]),
]
_TABLES_5_6 = [  # fine-tuning mode x rank weights (-R), 200 queries (means only; Tables 5 and 6 agree)
    ("Ours-Partial", 200, True, [("91.57", "94.36"), ("73.40", "73.44"), ("46.60", "46.83")]),
    ("Ours-E2E", 200, True, [("91.58", "94.34"), ("73.46", "73.48"), ("46.54", "46.78")]),
    ("Ours-Partial-R", 200, True, [("91.60", "94.37"), ("73.49*", "73.51*"), ("46.64", "46.98")]),
    ("Ours-E2E-R", 200, True, [("91.61*", "94.37*"), ("73.49*", "73.51*"), ("46.62", "47.01")]),
]
_SOURCES = {"chen_t2": ("Chen 2023 Table 2", _TABLE_2), "chen_t4": ("Chen 2023 Table 4", _TABLE_4),
            "chen_t5": ("Chen 2023 Tables 5/6", _TABLES_5_6)}

REFERENCES: dict[str, list[ReferenceRow]] = {
    name: [ReferenceRow(table, method, dataset, queries, searched, reported, known)
           for method, queries, known, cells in rows for dataset, (searched, reported) in zip(DATASETS, cells)]
    for name, (table, rows) in _SOURCES.items()}

FOOTNOTE = ("Reference rows (`--reference`): the thesis' own rows are separate maxima of validation and test "
            "accuracy over all queried architectures, its initial 100 labelled ones included; rows marked "
            "[protocol unknown] state neither source nor protocol (they may be the test accuracy of the "
            "best-by-validation architecture). `*`: the thesis marks the optimum as reached. The thesis' "
            "ImageNet16-120 validation optimum is 46.73 (the NATS-Bench table nasgen uses; AG-Net's older "
            "file: 46.77). Means over 10 runs.")


# -- one-shot NAS (issue 20): the DARTS-PT paper, R. Wang's thesis and DrNAS -------------------------
# Numbers: the implementer's note (``shared/notes/wang_darts_pt.md`` section 4). Only the DARTS-space
# tables are in the thesis; the NB201 rows come from the DARTS-PT paper (Table 4) and the DrNAS README.


@dataclass(frozen=True)
class NB201OneShotReference:
    """A published NB201 row of a one-shot method: test accuracy (%) of the derived cell after
    NB201's 200-epoch training, per dataset (``None``: not published). The papers searched on each
    dataset itself; nasgen's runs search on a proxy dataset and look the cell up (a transfer)."""

    source: str
    method: str
    accuracies: tuple[str | None, str | None, str | None]  # cifar10, cifar100, ImageNet16-120
    note: str = ""

    @property
    def label(self) -> str:
        return f"{self.source}: {self.method}" + (f" [{self.note}]" if self.note else "")


@dataclass(frozen=True)
class DartsSpaceReference:
    """A published DARTS-space row (CIFAR/SVHN search and 600-epoch retraining): a different
    protocol from anything nasgen measures on a CPU, shown as a reference only."""

    source: str
    space: str  # "DARTS" or a RobustDARTS space "S1".."S4"
    dataset: str
    method: str
    test_error: str  # % (ImageNet rows: top-1)
    note: str = ""


_NOT_STATED = "seeds and averaging not stated"
_NB201_ONESHOT = [
    NB201OneShotReference("DARTS-PT paper Table 4", "DARTS (magnitude)", ("54.30", None, None),
                          f"{_NOT_STATED}; = the all-skip cell, NB201 index 1835"),
    NB201OneShotReference("DARTS-PT paper Table 4", "DARTS+PT", ("88.11", None, None), _NOT_STATED),
    NB201OneShotReference("DARTS-PT paper Table 4", "DARTS+PT (fix alpha)", ("93.80", None, None), _NOT_STATED),
    NB201OneShotReference("DrNAS README", "DARTS", ("54.30 ± 0.00", "38.97 ± 0.00", "18.41 ± 0.00"),
                          "searched per dataset"),
    NB201OneShotReference("DrNAS README", "DrNAS", ("94.36 ± 0.00", "73.51 ± 0.00", "46.34 ± 0.00"),
                          "= NB201 index 9930"),
    NB201OneShotReference("DrNAS README", "optimal", ("94.37", "73.51", "47.31")),
]
_S1_S4 = {  # DARTS-PT paper Table 3: test error (%) DARTS / DARTS+PT / DARTS+PT (fix alpha)
    "CIFAR-10": ("3.84 / 3.50 / 2.86", "4.85 / 2.79 / 2.59", "3.34 / 2.49 / 2.52", "7.20 / 2.64 / 2.58"),
    "CIFAR-100": ("29.46 / 24.48 / 24.40", "26.05 / 23.16 / 23.30", "28.90 / 22.03 / 21.94",
                  "22.85 / 20.80 / 20.66"),
    "SVHN": ("4.58 / 2.62 / 2.39", "3.53 / 2.53 / 2.32", "3.41 / 2.42 / 2.32", "3.05 / 2.42 / 2.39"),
}
_TABLE_3_1 = [  # thesis Table 3.1, the DARTS-based rows (CIFAR-10); *: mean over 4 seeds of search + retrain
    ("DARTS", "3.00 ± 0.14"), ("SDARTS-RS", "2.67 ± 0.03"), ("SGAS (Cri 1. avg)", "2.66 ± 0.24"),
    ("DARTS+PT (avg)*", "2.61 ± 0.08"), ("DARTS+PT (best)", "2.48"), ("SDARTS-RS+PT (avg)*", "2.54 ± 0.10"),
    ("SDARTS-RS+PT (best)", "2.44"), ("SGAS+PT (Crit.1 avg)*", "2.56 ± 0.10"), ("SGAS+PT (Crit.1 best)", "2.46"),
]
_TABLE_3_2 = [  # thesis Table 3.2, the DARTS / DrNAS rows (CIFAR-10)
    ("DARTS (1st)", "3.00 ± 0.14"), ("DARTS (2nd)", "2.76 ± 0.09"), ("DrNAS", "2.54 ± 0.03"),
    ("DrNAS + progressive learning", "2.46 ± 0.03"),
]
_DARTS_SPACE = [
    *(DartsSpaceReference("DARTS-PT paper Table 3", space, dataset, method, error)
      for dataset, cells in _S1_S4.items() for space, cell in zip(("S1", "S2", "S3", "S4"), cells)
      for method, error in zip(("DARTS", "DARTS+PT", "DARTS+PT (fix alpha)"), cell.split(" / "))),
    *(DartsSpaceReference("Wang 2021 Table 3.1", "DARTS", "CIFAR-10", method, error) for method, error in _TABLE_3_1),
    DartsSpaceReference("DARTS-PT paper Sec. 7", "DARTS", "CIFAR-10", "DARTS+PT (fix alpha)", "2.87"),
    DartsSpaceReference("DARTS-PT paper Sec. 6.2", "DARTS", "CIFAR-10", "DARTS+PT-Mag", "2.85"),
    *(DartsSpaceReference("Wang 2021 Table 3.2", "DARTS", "CIFAR-10", method, error) for method, error in _TABLE_3_2),
]

ONESHOT_REFERENCES: dict[str, tuple[list[NB201OneShotReference], list[DartsSpaceReference]]] = {
    "darts_pt": (_NB201_ONESHOT, _DARTS_SPACE)}

ONESHOT_FOOTNOTE = ("Reference rows (`--reference darts_pt`): the papers searched on CIFAR-10/100 (ImageNet16-120) "
                    "itself and report the NB201 200-epoch test accuracy of the derived cell; nasgen's one-shot "
                    "runs search on their own dataset (digits by default) and look the derived cell up in the same "
                    "table, a transfer measurement. The DARTS-space rows (test error after the DARTS retraining "
                    "protocol, 600 epochs) are of a different protocol and space: reference only.")


# -- the 1-D inverse-problem study (issue 22): thesis chapter 6, Tables 6.1-6.4 --------------------------
# Numbers: the thesis (``shared/papers/lukasik_thesis_2023.txt``, Tables 6.1-6.4) as the implementer's note
# (``shared/notes/lukasik_ch6_das.md`` section 5) copies them. PSNR in dB of the derived or sampled
# architecture after training from scratch, on validation samples ("architecture validation PSNR"),
# max / mean / median over the trials; the thesis trained on GPUs (Table 6.1's time column).


@dataclass(frozen=True)
class InverseReference:
    """One published cell: max / mean / median architecture validation PSNR over ``trials`` trials, as
    the thesis prints them (texts: "11.8" stays "11.8")."""

    tables: str                   # "Table 6.1/6.2": Table 6.2's H1 rows repeat Table 6.1's DAS rows
    trials: str                   # "75"; "100 (6.3) / 75 (6.4)" where two tables print the same numbers
    psnr: tuple[str, str, str]    # max, mean, median
    time: str = ""                # Table 6.1's wall-clock per trial on its GPU (m:ss), "" elsewhere


_TABLE_6_1 = {  # (ops, method): (blur max/mean/median, downsample max/mean/median, time)
    ("good", "gradient_only"): (("17.45", "16.36", "16.49"), ("14.35", "13.24", "13.55"), "0:57"),
    ("good", "nets_only"): (("21.63", "19.45", "20.71"), ("16.92", "13.13", "14.05"), "0:57"),
    ("good", "das"): (("23.46", "21.56", "21.60"), ("18.03", "16.36", "16.66"), "2:39"),
    ("good", "random_sampling"): (("24.04", "22.00", "22.16"), ("18.10", "16.74", "16.78"), "0:57"),
    ("good", "random_search"): (("24.04", "22.85", "22.75"), ("18.10", "17.62", "17.56"), "2:55"),
    ("all", "das"): (("22.86", "15.64", "18.57"), ("18.01", "15.39", "16.12"), "2:53"),
    ("all", "random_sampling"): (("20.86", "9.45", "8.10"), ("13.78", "5.08", "4.31"), "0:57"),
    ("all", "random_search"): (("20.86", "12.39", "12.34"), ("13.78", "9.61", "9.77"), "2:55"),
}
_TABLE_6_2 = {  # (task, hparams): (good ops max/mean/median, all ops max/mean/median); H1 = Table 6.1's DAS
    ("blur", "h2"): (("23.46", "21.43", "21.63"), ("23.10", "16.77", "19.88")),
    ("blur", "bohb_oneshot_blur"): (("22.83", "20.86", "20.75"), ("22.47", "15.57", "18.04")),
    ("blur", "bohb_oneshot_ds"): (("22.33", "20.65", "20.96"), ("22.41", "14.43", "14.41")),
    ("blur", "bohb_blur"): (("23.57", "22.05", "22.38"), ("22.94", "12.76", "8.21")),
    ("downsample", "h2"): (("18.20", "16.57", "16.78"), ("17.82", "15.93", "16.21")),
    ("downsample", "bohb_oneshot_blur"): (("18.42", "16.83", "16.95"), ("17.73", "14.36", "14.57")),
    ("downsample", "bohb_oneshot_ds"): (("17.51", "15.33", "15.84"), ("18.12", "12.36", "13.65")),
    ("downsample", "bohb_blur"): (("18.26", "14.63", "15.93"), ("17.91", "15.04", "15.44")),
}
_TABLE_6_3 = {  # (ops, method): (blur, downsample) max/mean/median, 100 trials
    ("good", "gradient_only"): (("13.19", "12.41", "12.38"), ("11.30", "8.89", "9.59")),
    ("good", "nets_only"): (("16.35", "14.83", "15.82"), ("13.63", "13.07", "13.06")),
    ("good", "das"): (("15.34", "13.08", "12.51"), ("13.22", "10.22", "10.43")),
    ("good", "random_sampling"): (("16.20", "11.29", "11.88"), ("13.15", "6.26", "5.72")),
    ("all", "das"): (("16.15", "13.56", "13.73"), ("13.31", "9.47", "8.61")),
    ("all", "random_sampling"): (("16.05", "9.56", "8.17"), ("13.39", "4.37", "3.21")),
}
_TABLE_6_4 = {  # hparams: (good ops, all ops) max/mean/median, blur, 75 trials; H1 = Table 6.3's DAS (100 trials)
    "h2": (("15.38", "13.17", "12.52"), ("16.28", "14.11", "15.58")),
    "bohb_oneshot_blur": (("16.38", "13.25", "12.76"), ("16.71", "11.73", "11.8")),
    "bohb_oneshot_ds": (("14.93", "12.73", "12.44"), ("15.86", "12.37", "11.72")),
    "bohb_blur": (("16.50", "13.83", "13.06"), ("16.82", "14.07", "14.44")),
    "bohb_nonseq_oneshot_blur": (("16.50", "8.84", "8.09"), ("16.82", "13.96", "15.5")),
    "bohb_nonseq_blur": (("16.74", "9.73", "8.11"), ("17.03", "13.45", "15.42")),
}
_TASKS = ("blur", "downsample")

# (layout, task, ops, method, hparams) -> the published cell
DAS_INVERSE_REFERENCES: dict[tuple[str, str, str, str, str], InverseReference] = {
    **{("sequential", task, ops, method, "h1"): InverseReference(
        "Table 6.1/6.2" if method == "das" else "Table 6.1", "75", cells[i], time)
       for (ops, method), (*cells, time) in _TABLE_6_1.items() for i, task in enumerate(_TASKS)},
    **{("sequential", task, ops, "das", hparams): InverseReference("Table 6.2", "75", cells[i])
       for (task, hparams), cells in _TABLE_6_2.items() for i, ops in enumerate(("good", "all"))},
    **{("nonsequential", task, ops, method, "h1"): InverseReference(
        "Table 6.3/6.4" if method == "das" and task == "blur" else "Table 6.3",
        "100 (6.3) / 75 (6.4)" if method == "das" and task == "blur" else "100", cells[i])
       for (ops, method), cells in _TABLE_6_3.items() for i, task in enumerate(_TASKS)},
    **{("nonsequential", "blur", ops, "das", hparams): InverseReference("Table 6.4", "75", cells[i])
       for hparams, cells in _TABLE_6_4.items() for i, ops in enumerate(("good", "all"))},
}

# (layout, task, ops, hparams) -> (random samples needed on average over 10 random-search runs to beat
# DAS's median architecture PSNR, that median): Sec. 6.4.2, blur with all operations.
DAS_INVERSE_SAMPLES_TO_BEAT = {("sequential", "blur", "all", "h1"): ("49", "18.57")}
