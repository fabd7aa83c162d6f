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
