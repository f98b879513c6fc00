"""What the benchmark scripts share: a throwaway database app and the closing line of a run.

Imported by the scripts in this folder (``from tests.bench.benchkit import ...``, once the
repository root is on ``sys.path``); it runs nothing of its own.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def database_parser(description: str | None, repeat: int) -> argparse.ArgumentParser:
    """The arguments of a database benchmark: ``--repeat`` and ``--database-url``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--repeat", type=int, default=repeat)
    parser.add_argument("--database-url", default=None)
    return parser


@contextmanager
def fresh_app(url: str | None = None, *, request_context: bool = False) -> Iterator:
    """An app on ``url`` (a temporary SQLite file when ``None``) with an empty schema.

    Yields the app inside its application context (a test request context when
    ``request_context``), after ``drop_all`` and ``create_all``.
    """
    from app import create_app
    from app.config import TestConfig
    from app.extensions import db

    with tempfile.TemporaryDirectory() as tmp:

        class BenchConfig(TestConfig):
            SQLALCHEMY_DATABASE_URI = url or f"sqlite:///{Path(tmp) / 'bench.db'}"

        app = create_app(BenchConfig)
        with app.test_request_context() if request_context else app.app_context():
            db.drop_all()
            db.create_all()
            yield app


def finish(started: float, failures: int) -> int:
    """Print the run time and the failures since ``started``; the exit status (1 on failure)."""
    print(f"done in {time.perf_counter() - started:.0f} s; {failures} failure(s)")
    return 1 if failures else 0
