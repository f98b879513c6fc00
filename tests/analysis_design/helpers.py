"""Seeded data generators shared by the design-analysis tests and benchmarks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.simulate import observation_rows

# pyfixest 0.60 still calls pandas APIs that pandas 3.1 deprecates (Pandas4Warning); the
# suite turns warnings into errors, so tests that call pyfixest as a reference silence them.
pyfixest_reference = pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")

WEEKLY = np.array([0.0, 0.2, 0.3, 0.4, 0.6, 1.0, -0.6])


def ar1_panel(
    rng: np.random.Generator,
    n_sites: int,
    n_days: int,
    *,
    rho: float = 0.5,
    noise_sd: float = 5.0,
    site_sd: float = 10.0,
    weekday_amplitude: float = 5.0,
) -> np.ndarray:
    """Sites x days values: site effects + weekly day effects + stationary AR(1) noise."""
    innov = rng.standard_normal((n_sites, n_days)) * noise_sd * np.sqrt(1 - rho**2)
    noise = np.empty((n_sites, n_days))
    noise[:, 0] = rng.standard_normal(n_sites) * noise_sd
    for t in range(1, n_days):
        noise[:, t] = rho * noise[:, t - 1] + innov[:, t]
    day = weekday_amplitude * WEEKLY[np.arange(n_days) % 7]
    return 100.0 + site_sd * rng.standard_normal(n_sites)[:, None] + day[None, :] + noise


def feedback_responses(
    rng: np.random.Generator,
    n_pilot_sites: int = 15,
    n_control_sites: int = 15,
    per_site: tuple[int, int] = (20, 60),
    base_rate: float = 0.6,
    effect: float = 0.0,
    site_sd: float = 0.12,
    with_period: bool = False,
) -> pd.DataFrame:
    """1-5 ratings whose success share (rating >= 4) varies between sites (clustering)."""
    rows = []
    for s in range(n_pilot_sites + n_control_sites):
        arm = "pilot" if s < n_pilot_sites else "control"
        site_rate = base_rate + site_sd * rng.standard_normal()
        n = int(rng.integers(*per_site))
        for _ in range(n):
            period = "pre" if (with_period and rng.random() < 0.5) else "post"
            rate = site_rate + (effect if arm == "pilot" and period == "post" else 0.0)
            ok = rng.random() < min(max(rate, 0.01), 0.99)
            value = int(rng.integers(4, 6)) if ok else int(rng.integers(1, 4))
            segment = "60+" if rng.random() < 0.3 else "under 60"
            rows.append((f"S{s:03d}", arm, value, segment, period))
    return pd.DataFrame(rows, columns=["site_id", "arm", "value", "segment", "period"])


def staggered_panel(
    seed: int,
    n_sites: int = 40,
    n_days: int = 70,
    waves: tuple[int, ...] = (20, 35, 50),
    n_never: int = 10,
    slope: float = 0.1,
    jump: float = 1.0,
    noise_sd: float = 1.0,
    *,
    wave_sizes: tuple[int, ...] | None = None,
    effect_sd: float = 0.0,
) -> pd.DataFrame:
    """Waves of adoption with a dynamic effect ``jump + slope * days since adoption``.

    ``wave_sizes`` sets the number of sites of each wave (default: equal waves sharing
    ``n_sites - n_never``); ``effect_sd`` gives each adopting site its own jump, drawn around
    ``jump`` (heterogeneous effects). Returns ``site_id, date, value, adoption_date,
    true_effect`` where ``true_effect`` is the population mean effect of the site-day
    (``jump + slope * days since adoption``).
    """
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=n_days, freq="D")
    if wave_sizes is None:
        per_wave = (n_sites - n_never) // len(waves)
        wave_sizes = (per_wave,) * len(waves)
    adopt = [None] * n_never + [w for w, k in zip(waves, wave_sizes, strict=True) for _ in range(k)]
    adopt += [None] * (n_sites - len(adopt))
    values = ar1_panel(rng, len(adopt), n_days, noise_sd=noise_sd, site_sd=5.0, weekday_amplitude=2)
    own_jump = jump + effect_sd * rng.standard_normal(len(adopt))
    frames = []
    for i, a in enumerate(adopt):
        rel = np.arange(n_days) - (a if a is not None else n_days + 1)
        effect = np.where(rel >= 0, own_jump[i] + slope * rel, 0.0)
        frames.append(
            pd.DataFrame(
                {
                    "site_id": f"S{i:03d}",
                    "date": dates,
                    "value": values[i] + effect,
                    "adoption_date": pd.NaT if a is None else dates[a],
                    "true_effect": np.where(rel >= 0, jump + slope * rel, 0.0),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def pilot_frames(
    seed: int,
    n_pilot: int = 10,
    n_control: int = 30,
    pre_days: int = 28,
    post_days: int = 28,
    effect: float = 0.0,
    *,
    metric: str = "sales",
    missing_share: float = 0.0,
    start: str = "2024-03-04",
    attributes: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp, pd.Timestamp]:
    """A simulated pilot in the analysis contract: ``(observations, sites, start, end)``."""
    rng = np.random.default_rng(seed)
    n_sites, n_days = n_pilot + n_control, pre_days + post_days
    start_ts = pd.Timestamp(start)
    dates = pd.date_range(start_ts - pd.Timedelta(days=pre_days), periods=n_days, freq="D")
    values = ar1_panel(rng, n_sites, n_days)
    pilot = np.arange(n_sites) < n_pilot
    post = np.asarray(dates >= start_ts)
    values = values + effect * np.outer(pilot, post)
    ids = np.array([f"S{i + 1:03d}" for i in range(n_sites)])
    obs = observation_rows(ids, dates, metric, values)
    if missing_share > 0:
        obs = obs[rng.random(len(obs)) >= missing_share].reset_index(drop=True)
    sites = pd.DataFrame({"site_id": ids, "arm": np.where(pilot, "pilot", "control")})
    if attributes:
        sites["region"] = np.array(["north", "south", "east", "west"])[np.arange(n_sites) % 4]
        sites["size"] = np.round(rng.normal(50, 10, n_sites), 1)
    return obs, sites, start_ts, dates[-1]


def selection_world() -> tuple[pd.DataFrame, pd.DataFrame]:
    """80 sites in 4 regions of unequal size, with 42 days of wait times and orders."""
    rng = np.random.default_rng(17)
    n = 80
    regions = np.repeat(["north", "south", "east", "west"], [32, 24, 16, 8])
    sites = pd.DataFrame(
        {
            "site_id": [f"S{i:03d}" for i in range(n)],
            "region": regions,
            "size": np.round(rng.normal(50, 12, n), 1),
            "orders": rng.uniform(50, 150, n).round(),
        }
    )
    wait = ar1_panel(rng, n, 42, site_sd=3.0, noise_sd=1.0, weekday_amplitude=0.5) / 10
    dates = pd.date_range("2024-01-01", periods=42, freq="D")
    history = pd.DataFrame(
        {
            "site_id": np.repeat(sites["site_id"], 42),
            "date": np.tile(dates, n),
            "metric": "wait",
            "value": wait.ravel(),
        }
    )
    return sites, history
