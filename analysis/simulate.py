"""Seeded site x day panels for tests, benchmarks, error-rate studies and demos.

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

from analysis.results import ResultMixin

__all__ = ["SimulatedPilot", "simulate_panel"]

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
        frame = pd.DataFrame(
            {
                "site_id": np.repeat(site_ids, n_days),
                "date": np.tile(dates.to_numpy(), n_sites),
                "metric": metric,
                "value": values.ravel(),
            }
        )
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
