"""A test-set image's prompt (the testset_folders / testset_jsonl sources): the source's ``query`` /
``system``, or with ``templates`` (a chat-template file, data_prep/chat_templates.py) the template
FakeXplained's own evaluation manifest would give the same image id, so a model trained on those
templates is asked the same way on an out-of-distribution set (002 App. E.1, 004 Table 3)."""

from __future__ import annotations

from typing import Any

from data_prep.eval_manifest import prompt_messages
from data_prep.sources.fakexplained import template_prompt

__all__ = ["check_testset_options", "testset_prompt"]


def testset_prompt(
    record_id: str, query: str, system: str | None, templates: str | None, seed: int, region_syntax: str
) -> list[dict[str, str]]:
    """[system?, user] for one image; raises ValueError for an unknown region_syntax or a bad file."""
    if templates is None:
        return prompt_messages(query, system)
    return template_prompt(templates, record_id, seed, region_syntax)


def check_testset_options(options: Any, source: str) -> None:
    """A test-set source's options that cannot work (its ``check_options``, data_prep/source_api.py):
    one pixel bound without the other, bounds out of order, a templates file or region syntax the
    prompt cannot use. Raises ValueError naming the option."""
    low, high = options.min_pixels, options.max_pixels
    if (low is None) != (high is None):
        raise ValueError(f"{source} options: give both min_pixels and max_pixels, or neither")
    if low is not None and not 0 < low <= high:
        raise ValueError(f"{source} options: need 0 < min_pixels <= max_pixels, got {low}, {high}")
    if options.templates is not None:
        testset_prompt(
            "", options.query, options.system, options.templates, options.seed, options.region_syntax
        )
