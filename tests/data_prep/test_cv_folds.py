"""002 §5.2 four-fold cross-validation: sizes, disjointness, coverage, determinism."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_prep.cv_folds import plan_folds


def _ids(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{i:05d}" for i in range(count)]


@settings(max_examples=60, deadline=None, derandomize=True)
@given(fakes=st.integers(4, 400), extra_reals=st.integers(0, 300), seed=st.integers(0, 10**6))
def test_each_fold_trains_on_75_percent_and_tests_on_25_percent_with_as_many_reals(fakes, extra_reals, seed):
    fake_ids, real_ids = _ids("f", fakes), _ids("r", fakes + extra_reals)
    plans = [plan_folds(fake_ids, real_ids, fold=k, num_folds=4, seed=seed) for k in range(4)]
    test_fakes_per_fold = []
    for plan in plans:
        test = {i for i, s in plan.membership.items() if s == "test"}
        train = {i for i, s in plan.membership.items() if s == "train"}
        assert not test & train
        test_fakes = {i for i in test if i.startswith("f")}
        test_fakes_per_fold.append(test_fakes)
        assert fakes // 4 <= len(test_fakes) <= -(-fakes // 4)
        assert len(train) == 2 * (fakes - len(test_fakes))  # 75% of fakes + as many reals
        assert len(test) == 2 * len(test_fakes)  # 25% of fakes + as many reals
        assert plan.counts["unused_real"] == extra_reals
    # the test parts cover every fake exactly once over the four folds
    assert set().union(*test_fakes_per_fold) == set(fake_ids)
    assert sum(len(t) for t in test_fakes_per_fold) == fakes


def test_same_seed_same_split_other_seed_other_split():
    fakes, reals = _ids("f", 100), _ids("r", 150)
    a = plan_folds(fakes, reals, fold=2, num_folds=4, seed=11)
    b = plan_folds(list(reversed(fakes)), list(reversed(reals)), fold=2, num_folds=4, seed=11)
    c = plan_folds(fakes, reals, fold=2, num_folds=4, seed=12)
    assert a.membership == b.membership  # independent of input order
    assert a.membership != c.membership


def test_too_few_reals_uses_them_all_and_says_so():
    plan = plan_folds(_ids("f", 40), _ids("r", 20), fold=0, num_folds=4, seed=0)
    assert plan.counts["reals_short_by"] == 20
    assert plan.counts["test_real"] + plan.counts["train_real"] == 20


def test_bad_fold_arguments_are_errors():
    with pytest.raises(ValueError, match="fold must be in"):
        plan_folds(["a"], ["b"], fold=4, num_folds=4, seed=0)
    with pytest.raises(ValueError, match="both real and fake"):
        plan_folds(["a"], ["a"], fold=0, num_folds=4, seed=0)
