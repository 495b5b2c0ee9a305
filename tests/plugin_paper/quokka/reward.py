"""Quokka's GRPO reward (verl's signature) and the parser the evaluation reads answers with.

verl and ms-swift load this file by path (a copy of it in the run directory); its declarations
then register nothing, and its imports come from the installed harness and ``PYTHONPATH``.
"""

from __future__ import annotations

from typing import Any

from common.response_formats import ParsedAnswer, response_format
from quokka.answer import ANSWERS, verdict
from rewards.registry import grpo_reward

score_keys = ("score", "quokka_format", "acc")


def check_reward_kwargs(kwargs: dict[str, Any]) -> None:
    unknown = sorted(set(kwargs) - {"format_weight"})
    if unknown:
        raise ValueError(f"unknown Quokka reward kwargs {unknown}; known: ['format_weight']")


@grpo_reward("quokka")
def compute_score(
    data_source: str, solution_str: str, ground_truth: Any, extra_info: Any = None, format_weight: float = 0.1
) -> dict[str, float]:
    answer = verdict(solution_str)
    acc = 1.0 if answer is not None and answer == str(ground_truth).strip().lower() else 0.0
    well_formed = 1.0 if answer is not None else 0.0
    return {
        "score": (1 - format_weight) * acc + format_weight * well_formed,
        "quokka_format": well_formed,
        "acc": acc,
    }


@response_format("quokka_verdict", corpus=tuple(ANSWERS.values()))
def parse_answer(text: str, frame: tuple[int, int] | None = None) -> ParsedAnswer:
    answer = verdict(text)
    if answer is None:
        return ParsedAnswer(ok=False, error="quokka: the answer must be [[real]] or [[fake]]")
    return ParsedAnswer(ok=True, verdict=answer)
