"""A started app's objects leave the garbage collector's full passes (issue 22: the pause of
a full collection over them made the pages' 95th percentile); the test suite's apps do not."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

from flask import Flask

from app.config import TestConfig
from app.core.heap import freeze_startup_objects

ROOT = Path(__file__).resolve().parents[2]


def test_a_started_app_freezes_what_it_holds_and_the_suite_does_not():
    assert TestConfig.FREEZE_STARTUP_OBJECTS is False
    before = gc.get_freeze_count()
    app = Flask(__name__)
    app.config["FREEZE_STARTUP_OBJECTS"] = False
    freeze_startup_objects(app)
    assert gc.get_freeze_count() == before
    app.config["FREEZE_STARTUP_OBJECTS"] = True
    try:
        freeze_startup_objects(app)
        assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()  # back into the collector's generations for the rest of the suite


def test_the_freeze_is_on_unless_the_environment_turns_it_off():
    def configured(value: str | None) -> str:
        env = {k: v for k, v in os.environ.items() if k != "ROLLWISE_GC_FREEZE"}
        if value is not None:
            env["ROLLWISE_GC_FREEZE"] = value
        code = "from app.config import Config; print(Config.FREEZE_STARTUP_OBJECTS)"
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert configured(None) == "True"
    assert configured("0") == "False"
