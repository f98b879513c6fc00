"""The garbage collector on a warm server.

A started app holds a quarter of a million long-lived objects (the modules of Flask,
SQLAlchemy, pandas, SciPy and matplotlib, the routes, the compiled templates). CPython's full
collection walks every one of them, 0.2-0.4 s on the shared development machine, and it fell
inside about one request in ten: that pause, not the page, made the pilot dashboard's 95th
percentile (issue 22, ``docs/performance.md``). :func:`freeze_startup_objects` collects once
and then moves the survivors to the collector's permanent generation (``gc.freeze``, as
Python's documentation suggests for servers), so later collections walk only what requests
create. Frozen objects are never collected, which is right for what lives as long as the
process; the test configuration leaves the collector alone (it creates an app per test).
"""

from __future__ import annotations

import gc

from flask import Flask


def freeze_startup_objects(app: Flask) -> None:
    """``gc.collect()`` then ``gc.freeze()`` when ``FREEZE_STARTUP_OBJECTS`` is set."""
    if not app.config.get("FREEZE_STARTUP_OBJECTS"):
        return
    gc.collect()
    gc.freeze()
