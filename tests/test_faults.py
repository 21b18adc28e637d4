from __future__ import annotations

import pytest

from core.faults import FaultPlan, FaultRule, InjectedFault


def test_rules_match_by_point_and_name_and_run_out() -> None:
    plan = FaultPlan.from_json(
        '[{"point": "spawn:before", "match": "*-fail", "times": 1, "message": "boom"}]'
    )
    assert plan.take("spawn:before", "vm-ok") is None
    assert plan.take("fetch_image:before", "vm-fail") is None
    rule = plan.take("spawn:before", "vm-fail")
    assert rule is not None
    with pytest.raises(InjectedFault, match="boom"):
        plan.fail(rule)
    assert plan.take("spawn:before", "vm-fail") is None  # used up


def test_the_caller_chooses_the_error_class() -> None:
    plan = FaultPlan.from_json('[{"point": "spawn:before"}]')
    rule = plan.take("spawn:before", "x")
    assert rule is not None
    with pytest.raises(KeyError):
        plan.fail(rule, error=KeyError)


def test_an_empty_plan_does_nothing() -> None:
    plan = FaultPlan.from_json("")
    assert not plan.active and plan.take("spawn:before", "anything") is None


def test_probability_is_seeded_so_a_run_repeats() -> None:
    text = '{"seed": 3, "rules": [{"point": "p", "probability": 0.5}]}'

    def fired(plan: FaultPlan) -> list[bool]:
        return [plan.take("p", "x") is not None for _ in range(40)]

    first = fired(FaultPlan.from_json(text))
    assert first == fired(FaultPlan.from_json(text))
    assert 5 < sum(first) < 35


def test_a_rule_can_name_the_workflow_its_step_runs_for() -> None:
    plan = FaultPlan([FaultRule("release_claim:before", match="vm-*", workflow="boot-*")])
    assert plan.take("release_claim:before", "vm-1", "delete-1") is None
    assert plan.take("release_claim:before", "vm-1", "boot-1") is not None
