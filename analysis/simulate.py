"""Seeded site x day panels and site registries for tests, benchmarks, studies and demos.

:func:`simulate_panel` simulates a pilot already assigned; :func:`simulate_registry` simulates
a registry of sites with attributes and a pre-pilot history, for designing a pilot (see
:func:`analysis.pilot_design.design`); :func:`simulate_designed_pilot` designs a pilot on a
simulated registry and runs its chains on past the start (the paired error-rate study).

The model for site ``i`` on day ``t`` and metric ``m``::

    value = base + site_effect_i + weekday_t + shift * pilot_i + effect * pilot_i * post_t + u_it
    u_it  = rho * u_i,t-1 + e_it,  e_it ~ N(0, noise_sd^2 (1 - rho^2))   (stationary AR(1))

``site_effect_i ~ N(0, site_sd^2)``, ``weekday_t`` is a fixed weekly pattern of size
``weekday_amplitude`` shared by all sites (a day effect), and the pilot sites are the first
``n_pilot`` of a set of exchangeable sites, i.e. a random assignment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.pilot_design import DesignResult, design
from analysis.results import ResultMixin

__all__ = [
    "PROBLEM_METRIC",
    "DesignedPilot",
    "SimulatedPilot",
    "observation_rows",
    "simulate_designed_pilot",
    "simulate_panel",
    "simulate_registry",
]

_WEEKLY = np.array([0.0, 0.2, 0.3, 0.4, 0.6, 1.0, -0.6])  # Monday..Sunday


@dataclass(frozen=True, slots=True)
class SimulatedPilot(ResultMixin):
    """A simulated pilot in the analysis-contract format."""

    observations: pd.DataFrame
    """``site_id, date, metric, value`` rows."""
    sites: pd.DataFrame
    """``site_id, arm, region, size`` rows (``size`` is correlated with the site effect)."""
    start: pd.Timestamp
    """First post-period day."""
    end: pd.Timestamp
    """Last post-period day."""
    effects: dict[str, float]
    """True effect per metric (pilot minus control, metric units)."""

    def summary(self) -> str:
        """Sizes of the simulated design."""
        arms = self.sites["arm"].value_counts()
        return (
            f"{arms.get('pilot', 0)} pilot vs {arms.get('control', 0)} control sites, "
            f"{self.observations['date'].nunique()} days, metrics {list(self.effects)}"
        )


def _check_design(
    n_pilot: int, n_control: int, pre_days: int, post_days: int, rho: float, missing_share: float
) -> None:
    if n_pilot < 0 or n_control < 0 or n_pilot + n_control == 0:
        raise ValueError("need a positive number of sites")
    if pre_days < 0 or post_days < 0 or pre_days + post_days == 0:
        raise ValueError("need a positive number of days")
    if not -1 < rho < 1:
        raise ValueError(f"rho must lie in (-1, 1), got {rho}")
    if not 0 <= missing_share < 1:
        raise ValueError(f"missing_share must lie in [0, 1), got {missing_share}")


def _ar1_noise(
    rng: np.random.Generator, n_sites: int, n_days: int, noise_sd: float, rho: float
) -> np.ndarray:
    """Sites x days AR(1) noise with stationary SD ``noise_sd`` and autocorrelation ``rho``."""
    noise = np.empty((n_sites, n_days))
    innov = rng.standard_normal((n_sites, n_days)) * noise_sd * np.sqrt(1 - rho**2)
    noise[:, 0] = rng.standard_normal(n_sites) * noise_sd
    for t in range(1, n_days):
        noise[:, t] = rho * noise[:, t - 1] + innov[:, t]
    return noise


def observation_rows(
    site_ids: np.ndarray, dates: pd.DatetimeIndex, metric: str, values: np.ndarray
) -> pd.DataFrame:
    """A sites x days array of one metric as observation rows ``site_id, date, metric, value``.

    Row ``i`` of ``values`` belongs to ``site_ids[i]`` and column ``j`` to ``dates[j]``; the
    rows come site by site, each site's days in order.
    """
    n_sites, n_days = values.shape
    return pd.DataFrame(
        {
            "site_id": np.repeat(site_ids, n_days),
            "date": np.tile(dates.to_numpy(), n_sites),
            "metric": metric,
            "value": values.ravel(),
        }
    )


def simulate_panel(
    n_pilot: int = 10,
    n_control: int = 30,
    pre_days: int = 28,
    post_days: int = 28,
    effect: float | Mapping[str, float] = 0.0,
    *,
    metrics: Sequence[str] = ("sales",),
    base: float = 100.0,
    site_sd: float = 10.0,
    noise_sd: float = 5.0,
    rho: float = 0.5,
    weekday_amplitude: float = 5.0,
    shift: float = 0.0,
    missing_share: float = 0.0,
    start: str | pd.Timestamp = "2024-03-04",
    seed: int | np.random.Generator | None = 0,
) -> SimulatedPilot:
    """Simulate a pilot: ``n_pilot`` pilot and ``n_control`` control sites over days.

    ``effect`` is the true post-period effect (one number for every metric or a mapping
    metric -> effect); ``shift`` adds a pre-existing pilot-minus-control difference;
    ``missing_share`` deletes that share of site-days at random (unbalanced panel).
    """
    _check_design(n_pilot, n_control, pre_days, post_days, rho, missing_share)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    effects = (
        {m: float(effect.get(m, 0.0)) for m in metrics}
        if isinstance(effect, Mapping)
        else {m: float(effect) for m in metrics}
    )
    start_ts = pd.Timestamp(start).normalize()
    n_sites, n_days = n_pilot + n_control, pre_days + post_days
    dates = pd.date_range(start_ts - pd.Timedelta(days=pre_days), periods=n_days, freq="D")
    weekday = weekday_amplitude * _WEEKLY[dates.day_of_week.to_numpy()]
    post = np.asarray(dates >= start_ts)
    pilot = np.arange(n_sites) < n_pilot
    site_ids = np.array([f"S{i + 1:03d}" for i in range(n_sites)])

    latent = rng.standard_normal(n_sites)
    frames = []
    for metric in metrics:
        site_effect = site_sd * (0.8 * latent + 0.6 * rng.standard_normal(n_sites))
        noise = _ar1_noise(rng, n_sites, n_days, noise_sd, rho)
        values = (
            base
            + site_effect[:, None]
            + weekday[None, :]
            + shift * pilot[:, None]
            + effects[metric] * (pilot[:, None] & post[None, :])
            + noise
        )
        frame = observation_rows(site_ids, dates, metric, values)
        if missing_share > 0:
            frame = frame[rng.random(len(frame)) >= missing_share]
        frames.append(frame)

    sites = pd.DataFrame(
        {
            "site_id": site_ids,
            "arm": np.where(pilot, "pilot", "control"),
            "region": np.array(["north", "south", "east", "west"])[np.arange(n_sites) % 4],
            "size": np.round(50 + 10 * latent + 5 * rng.standard_normal(n_sites), 1),
        }
    )
    return SimulatedPilot(
        observations=pd.concat(frames, ignore_index=True),
        sites=sites,
        start=start_ts,
        end=dates[-1],
        effects=effects,
    )


# --------------------------------------------------------------------------------------------
# Registries

PROBLEM_METRIC = "wait_minutes"
"""The problem metric of :func:`simulate_registry` (long waits are the problem)."""
_TIERS = np.array(["small", "medium", "large"])


def _region_sizes(n_sites: int, n_regions: int, region_skew: float) -> np.ndarray:
    """Sites per region: shares proportional to ``exp(-region_skew * k)``, at least one each."""
    weights = np.exp(-region_skew * np.arange(n_regions))
    quota = weights / weights.sum() * (n_sites - n_regions)
    sizes = np.floor(quota).astype(int)
    order = np.argsort(-(quota - sizes), kind="stable")
    sizes[order[: n_sites - n_regions - int(sizes.sum())]] += 1
    return sizes + 1


def _standard_skewed(rng: np.random.Generator, n: int, skew: float) -> np.ndarray:
    """Mean-0, SD-1 draws: normal for ``skew = 0``, else a standardized lognormal(0, skew)."""
    u = rng.standard_normal(n)
    if skew <= 0:
        return u
    mean = np.exp(skew**2 / 2)
    sd = np.sqrt((np.exp(skew**2) - 1) * np.exp(skew**2))
    return (np.exp(skew * u) - mean) / sd


def _registry_sites(
    rng: np.random.Generator, n_sites: int, n_regions: int, region_skew: float
) -> pd.DataFrame:
    """Site attributes: region, size tier, staff, readiness and management scores, volume."""
    names = [f"region_{chr(ord('a') + k)}" for k in range(n_regions)]
    region = rng.permutation(np.repeat(names, _region_sizes(n_sites, n_regions, region_skew)))
    size = rng.standard_normal(n_sites)
    tier = _TIERS[np.digitize(size, [-0.5, 0.6])]
    volume = np.round(np.exp(5.0 + 0.45 * size + 0.1 * rng.standard_normal(n_sites)), 0)
    staff = np.maximum(3, np.round(volume / 18 + 2 * rng.standard_normal(n_sites))).astype(int)
    return pd.DataFrame(
        {
            "site_id": [f"S{i + 1:03d}" for i in range(n_sites)],
            "region": region,
            "size_tier": tier,
            "staff_count": staff,
            "digital_readiness": np.clip(np.round(rng.normal(3.0, 0.8, n_sites), 1), 1, 5),
            "management_score": np.clip(np.round(rng.normal(3.2, 0.7, n_sites), 1), 1, 5),
            "senior_share": np.round(rng.beta(2.0, 5.0, n_sites), 3),
            "volume": volume,
        }
    )


def simulate_registry(
    n_sites: int = 120,
    *,
    n_regions: int = 4,
    region_skew: float = 0.5,
    problem_skew: float = 0.5,
    days: int = 56,
    seed: int | np.random.Generator | None = 0,
    start: str | pd.Timestamp = "2024-01-01",
    trend_sd: float = 0.03,
    noise_sd: float = 1.5,
    rho: float = 0.5,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded registry of sites and its daily history, for designing pilots.

    Returns ``(sites, history)``:

    * ``sites``: ``site_id, region, size_tier, staff_count, digital_readiness,
      management_score, senior_share, volume`` (daily orders). Region sizes are proportional to
      ``exp(-region_skew * k)`` for region ``k`` (0: equal regions; 1: each region about 37 %
      of the one before), at least one site each.
    * ``history``: long ``site_id, date, metric, value`` over ``days`` days from ``start`` for
      two metrics. ``wait_minutes`` (:data:`PROBLEM_METRIC`, the problem: high is bad) is
      ``level_i + trend_i * (day - 27.5) + weekday + AR(1) noise`` (``level_i`` is the mean
      over the first 8 weeks); the site level depends on
      the region, digital readiness, staff per order and a site term whose skewness grows with
      ``problem_skew`` (0: normal; 1: a long right tail of problem sites); the trend per day
      has SD ``trend_sd`` and is steeper at badly managed sites. ``order_errors`` is a Poisson
      count per day whose rate rises with the wait level.

    Up to 365 days, a longer simulation with the same seed extends the same chains (the first
    ``days`` days are identical), which gives a pre-period plus a pilot period.
    """
    if n_sites < 2 or n_regions < 1 or n_regions > min(n_sites, 26):
        raise ValueError("need at least 2 sites and 1 to min(sites, 26) regions")
    if days < 2:
        raise ValueError(f"days must be at least 2, got {days}")
    if region_skew < 0 or problem_skew < 0:
        raise ValueError("region_skew and problem_skew must be >= 0")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    sites = _registry_sites(rng, n_sites, n_regions, region_skew)
    region_code = pd.factorize(sites["region"], sort=True)[0]
    region_effect = rng.normal(0.0, 1.0, n_regions)[region_code]
    load = np.log(sites["volume"] / sites["staff_count"]).to_numpy()
    level = (
        12.0
        + region_effect
        - 1.2 * (sites["digital_readiness"].to_numpy() - 3.0)
        + 1.5 * (load - load.mean()) / load.std()
        + 2.5 * _standard_skewed(rng, n_sites, problem_skew)
    )
    management = sites["management_score"].to_numpy()
    trend = trend_sd * (rng.standard_normal(n_sites) - 0.6 * (management - management.mean()))
    # Long horizons are drawn first and cut, so that more days extend the same chains.
    horizon = max(days, 365)
    dates = pd.date_range(pd.Timestamp(start).normalize(), periods=horizon, freq="D")
    weekday = 0.8 * _WEEKLY[dates.day_of_week.to_numpy()]
    t = np.arange(horizon) - 27.5  # levels are means over the first 8 weeks
    noise = _ar1_noise(rng, n_sites, horizon, noise_sd, rho)
    wait = np.maximum(level[:, None] + trend[:, None] * t + weekday[None, :] + noise, 0.5)
    errors = rng.poisson(np.clip(0.4 + 0.08 * (wait - 12.0), 0.05, None))
    wait, errors = wait[:, :days], errors[:, :days]
    ids = sites["site_id"].to_numpy()
    history = pd.concat(
        [
            observation_rows(ids, dates[:days], metric, values)
            for metric, values in ((PROBLEM_METRIC, np.round(wait, 2)), ("order_errors", errors))
        ],
        ignore_index=True,
    )
    return sites, history


# --------------------------------------------------------------------------------------------
# Designed pilots


@dataclass(frozen=True, slots=True)
class DesignedPilot(ResultMixin):
    """A simulated registry, its pilot design and the days after the start (no effect yet).

    The chains run ``pre_days`` before and ``post_days`` from ``start``; :meth:`observations`
    adds an effect to the pilot sites of a design, :meth:`random_sites` draws the unpaired
    comparison design (complete randomization in the same pool) for the same chains.
    """

    chains: pd.DataFrame
    """``site_id, date, metric, value`` of the problem metric for every registry site."""
    registry: pd.DataFrame
    """The registry's site attributes."""
    design: DesignResult
    """The design made on the pre-period (pool, pairs, seeded assignment)."""
    start: pd.Timestamp
    """First pilot day."""
    end: pd.Timestamp
    """Last simulated day."""

    @property
    def sites(self) -> pd.DataFrame:
        """``site_id, arm, pair`` of the designed pilot (the SITES input of ``compare``)."""
        return self.design.sites_frame()

    def observations(self, sites: pd.DataFrame, effect: float = 0.0) -> pd.DataFrame:
        """The chains of the ``sites`` listed, with ``effect`` added to pilot site-days from
        ``start`` on."""
        obs = self.chains[self.chains["site_id"].isin(sites["site_id"])].copy()
        pilots = set(sites.loc[sites["arm"] == "pilot", "site_id"])
        treated = obs["site_id"].isin(pilots) & (obs["date"] >= self.start)
        obs.loc[treated, "value"] = obs.loc[treated, "value"] + effect
        return obs.reset_index(drop=True)

    def random_sites(self, seed: int | np.random.Generator | None = 0) -> pd.DataFrame:
        """``site_id, arm``: as many pilot and control sites as the design, drawn completely at
        random from the same pool (the unpaired design on the same chains)."""
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        n_pilot = len(self.design.pilot_sites)
        n_total = n_pilot + len(self.design.control_sites)
        chosen = rng.choice(np.array(self.design.pool), size=n_total, replace=False)
        arm = np.where(np.arange(n_total) < n_pilot, "pilot", "control")
        return pd.DataFrame({"site_id": chosen, "arm": arm})

    def summary(self) -> str:
        """Sizes of the simulation and the design."""
        return (
            f"{len(self.registry)} sites, start {self.start.date()}, end {self.end.date()}; "
            f"{len(self.design.pairs)} groups from a pool of {len(self.design.pool)}"
        )


def simulate_designed_pilot(
    n_sites: int = 120,
    n_pilots: int = 10,
    *,
    pre_days: int = 56,
    post_days: int = 28,
    ratio: int = 1,
    match: Sequence[str] = ("region",),
    region_skew: float = 0.5,
    problem_skew: float = 0.5,
    seed: int | np.random.Generator | None = 0,
) -> DesignedPilot:
    """A registry (:func:`simulate_registry`) designed by :func:`analysis.pilot_design.design`
    on its first ``pre_days`` days, with ``post_days`` more days of the same chains.

    The design's seed is drawn from ``seed``; the problem metric is ``wait_minutes``.
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    registry, history = simulate_registry(
        n_sites,
        region_skew=region_skew,
        problem_skew=problem_skew,
        days=pre_days + post_days,
        seed=rng,
    )
    chains = history[history["metric"] == PROBLEM_METRIC].reset_index(drop=True)
    start = chains["date"].min() + pd.Timedelta(days=pre_days)
    plan = design(
        registry,
        chains[chains["date"] < start],
        n_pilots=n_pilots,
        problem_metric=PROBLEM_METRIC,
        match=match,
        ratio=ratio,
        seed=int(rng.integers(2**31)),
    )
    return DesignedPilot(chains, registry, plan, start, chains["date"].max())
