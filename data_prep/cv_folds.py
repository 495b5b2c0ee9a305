"""Four-fold cross-validation split of FakeXplained (002 §5.2).

002 §5.2: "the detection model is exposed to 75% of images from the FakeXplained dataset along
with an equal number of real samples. Evaluation is conducted on the remaining 25% of synthetic
images, again paired with the same number of real images."

The fakes are shuffled with the seed and cut into ``num_folds`` parts whose sizes differ by at most
one; fold k tests on part k and trains on the rest. The reals are shuffled with the same seed; the
first ``min(#reals, #fakes)`` of them are cut the same way, so each fold has as many reals as fakes
in train and in test (when there are enough reals; otherwise all reals are used and the stats say
so). Reals beyond that are unused. Only ids and labels are kept in memory, never records.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["FoldPlan", "plan_folds"]


def _parts(items: list[str], num_folds: int) -> list[list[str]]:
    base, extra = divmod(len(items), num_folds)
    parts, start = [], 0
    for k in range(num_folds):
        size = base + (1 if k < extra else 0)
        parts.append(items[start : start + size])
        start += size
    return parts


@dataclass
class FoldPlan:
    fold: int
    num_folds: int
    seed: int
    membership: dict[str, str] = field(default_factory=dict)  # id -> "train" | "test"
    counts: dict[str, int] = field(default_factory=dict)

    def split_of(self, record_id: str) -> str:
        """'train', 'test', or 'unused' (a real image beyond the number of fakes)."""
        return self.membership.get(record_id, "unused")


def fold_problem(fold: int, num_folds: int) -> str | None:
    """Why (fold, num_folds) names no fold; None when it does (checked before launch too)."""
    if num_folds < 2:
        return f"num_folds must be at least 2, got {num_folds}"
    if not 0 <= fold < num_folds:
        return f"fold must be in [0, {num_folds - 1}] for num_folds={num_folds}, got {fold}"
    return None


def plan_folds(
    fake_ids: Iterable[str], real_ids: Iterable[str], *, fold: int, num_folds: int, seed: int
) -> FoldPlan:
    """Assign every id of one fold to train, test or unused; deterministic in (ids, seed, num_folds)."""
    problem = fold_problem(fold, num_folds)
    if problem:
        raise ValueError(problem)
    fakes = sorted(set(fake_ids))
    reals = sorted(set(real_ids))
    both = set(fakes) & set(reals)
    if both:
        raise ValueError(f"ids labelled both real and fake: {sorted(both)[:5]}")
    random.Random(f"fakes:{seed}").shuffle(fakes)
    random.Random(f"reals:{seed}").shuffle(reals)
    paired_reals = reals[: len(fakes)]
    plan = FoldPlan(fold=fold, num_folds=num_folds, seed=seed)
    for ids in (fakes, paired_reals):
        for k, part in enumerate(_parts(ids, num_folds)):
            for record_id in part:
                plan.membership[record_id] = "test" if k == fold else "train"
    fake_set = set(fakes)
    for split in ("train", "test"):
        members = [i for i, s in plan.membership.items() if s == split]
        plan.counts[f"{split}_fake"] = sum(1 for i in members if i in fake_set)
        plan.counts[f"{split}_real"] = len(members) - plan.counts[f"{split}_fake"]
    plan.counts["unused_real"] = len(reals) - len(paired_reals)
    plan.counts["reals_short_by"] = max(0, len(fakes) - len(reals))
    return plan
