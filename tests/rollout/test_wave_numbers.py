"""The wave page reads its gate numbers as people expect: a true minus, "p < 0.001", and no
stray space where a metric has no unit."""

from __future__ import annotations

import html
import re

from sqlalchemy.orm.attributes import flag_modified

from app.extensions import db
from app.models import Role
from app.rollout import gates
from tests.rollout.test_gates import _setup


def test_gate_numbers_use_a_true_minus_a_p_value_and_no_stray_space(
    client, auth, make_pilot, make_site, make_metric
):
    plan, wave, due = _setup(make_pilot, make_site, make_metric, effect=-3.0)
    result = gates.evaluate_gate(plan, wave, by=None, as_of=due)
    for criterion in result["criteria"]:
        if "metric" in criterion:
            criterion["metric"]["unit"] = ""  # a metric without a unit
    wave.gate_result = dict(result)
    flag_modified(wave, "gate_result")
    db.session.commit()
    auth.login(Role.CHANGE_LEAD)
    page = client.get(f"/rollout/{plan.id}/waves/{wave.number}", headers={"Accept-Language": "en"})
    text = re.sub(r"\s+", " ", html.unescape(page.get_data(as_text=True)))
    line = re.search(r"effect (\S+), interval \[(\S+), (\S+)\], (p [=<] \S+);", text)
    assert line is not None, re.findall(r"effect .{0,120}", text)[:3]
    effect, low, high, p = line.groups()
    assert effect.startswith("\u2212") and low.startswith("\u2212")  # a true minus
    assert "-" not in effect + low + high
    assert p in ("p < 0.001", f"p = {gates_p(result)}")
    assert " , interval" not in text


def gates_p(result) -> str:
    from app.core.numbers import p_text

    primary = next(c for c in result["criteria"] if c["key"] == "primary")
    return p_text(primary["metric"]["p_value"])
