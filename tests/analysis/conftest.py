"""Fixtures for the analysis engine tests: a seeded panel simulator and the shared data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.simulate import SimulatedPilot, simulate_panel

REPO = Path(__file__).resolve().parents[2]


def shared_data_dir() -> Path:
    """``$ROLLWISE_SHARED/data`` when set, else ``<repo>/../shared/data``."""
    env = os.environ.get("ROLLWISE_SHARED")
    if env:
        root = Path(env)
        return root / "data" if (root / "data").is_dir() else root
    return REPO.parent / "shared" / "data"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """``python -m analysis ARGS`` in a child process from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "analysis", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def simulate():
    """Factory: ``simulate(n_pilot=10, n_control=30, ..., seed=0) -> SimulatedPilot``."""

    def make(*args, **kwargs) -> SimulatedPilot:
        kwargs.setdefault("seed", 12345)
        return simulate_panel(*args, **kwargs)

    return make


@pytest.fixture
def pilot(simulate) -> SimulatedPilot:
    """10 pilot vs 30 control sites, 28 + 28 days, true effect 3 on ``sales``."""
    return simulate(10, 30, 28, 28, effect=3.0)


def did_panel(sim: SimulatedPilot, metric: str = "sales") -> pd.DataFrame:
    """The ``site_id, date, value, treated`` panel of one simulated metric."""
    obs = sim.observations[sim.observations["metric"] == metric].copy()
    arm = obs["site_id"].map(sim.sites.set_index("site_id")["arm"])
    obs["treated"] = ((arm == "pilot") & (obs["date"] >= sim.start)).astype(int)
    return obs.reset_index(drop=True)


@pytest.fixture
def card_krueger_dir() -> Path:
    """Directory of the Card & Krueger (1994) files; skips loudly when absent."""
    path = shared_data_dir() / "card_krueger_1994"
    if not (path / "card_krueger_1994_long.csv").is_file():
        pytest.skip(
            f"Card & Krueger data NOT FOUND at {path}: set ROLLWISE_SHARED to the shared "
            "directory to run the published-table reproduction"
        )
    return path
