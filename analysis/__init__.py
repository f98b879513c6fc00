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
from analysis.design_power import DesignPower, design_power
from analysis.did import DidResult, TwfeFit, did, fit_twfe
from analysis.permutation import PermutationResult, permutation_test
from analysis.pilot_design import DesignResult, design, design_balance
from analysis.power import PowerResult, minimum_detectable_effect
from analysis.relative import RelativeEffect, relative_effect
from analysis.results import ResultMixin, to_jsonable
from analysis.segments import SegmentEffects, segment_effects
from analysis.sequential import SequentialResult, monitor
from analysis.simulate import SimulatedPilot, simulate_panel, simulate_registry
from analysis.site_tests import RankResult, WelchResult, rank_test, welch

__all__ = [
    "AncovaResult",
    "ComparisonReport",
    "DesignPower",
    "DesignResult",
    "DidResult",
    "MetricResult",
    "PermutationResult",
    "PowerResult",
    "RankResult",
    "RelativeEffect",
    "ResultMixin",
    "SegmentEffects",
    "SequentialResult",
    "SimulatedPilot",
    "TwfeFit",
    "WelchResult",
    "__version__",
    "ancova",
    "compare",
    "design",
    "design_balance",
    "design_power",
    "did",
    "fit_twfe",
    "minimum_detectable_effect",
    "monitor",
    "permutation_test",
    "rank_test",
    "segment_effects",
    "relative_effect",
    "simulate_panel",
    "simulate_registry",
    "site_period_means",
    "to_jsonable",
    "validate",
    "welch",
]
