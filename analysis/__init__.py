"""Rollwise analysis engine: honest pilot-versus-control comparisons of site x day data.

Pure statistics (pandas, numpy, scipy, statsmodels): tidy DataFrames in, frozen dataclasses
with ``to_dict()`` and ``summary()`` out. The main entry point is :func:`compare`; the CLI is
``python -m analysis compare OBS.csv SITES.csv --start YYYY-MM-DD``.
"""

from __future__ import annotations

__version__ = "0.1.0"

from analysis.ancova import AncovaResult, ancova
from analysis.compare import ComparisonReport, MetricResult, compare
from analysis.data import site_period_means, validate
from analysis.did import DidResult, TwfeFit, did, fit_twfe
from analysis.permutation import PermutationResult, permutation_test
from analysis.relative import RelativeEffect, relative_effect
from analysis.results import ResultMixin, to_jsonable
from analysis.simulate import SimulatedPilot, simulate_panel
from analysis.site_tests import RankResult, WelchResult, rank_test, welch

__all__ = [
    "AncovaResult",
    "ComparisonReport",
    "DidResult",
    "MetricResult",
    "PermutationResult",
    "RankResult",
    "RelativeEffect",
    "ResultMixin",
    "SimulatedPilot",
    "TwfeFit",
    "WelchResult",
    "__version__",
    "ancova",
    "compare",
    "did",
    "fit_twfe",
    "permutation_test",
    "rank_test",
    "relative_effect",
    "simulate_panel",
    "site_period_means",
    "to_jsonable",
    "validate",
    "welch",
]


_OPTIONAL = {
    "monitor": "analysis.sequential",
    "SequentialResult": "analysis.sequential",
    "minimum_detectable_effect": "analysis.power",
    "PowerResult": "analysis.power",
    "segment_effects": "analysis.segments",
    "SegmentEffects": "analysis.segments",
}


def __getattr__(name: str):
    """Expose the optional helper modules (sequential monitoring, power, segments) lazily.

    They are imported on first use, so ``import analysis`` never fails or slows down because
    of them.
    """
    if name in _OPTIONAL:
        import importlib

        try:
            module = importlib.import_module(_OPTIONAL[name])
        except ImportError as exc:
            raise AttributeError(f"analysis.{name} is not available: {exc}") from exc
        return getattr(module, name)
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")
