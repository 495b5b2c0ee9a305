"""A test-set image's prompt (the testset_folders / testset_jsonl sources): the source's ``query`` /
``system``, or with ``templates`` (a chat-template file, data_prep/chat_templates.py) the template
FakeXplained's own evaluation manifest would give the same image id, so a model trained on those
templates is asked the same way on an out-of-distribution set (002 App. E.1, 004 Table 3)."""

from __future__ import annotations

from data_prep.eval_manifest import prompt_messages
from data_prep.sources.fakexplained import template_prompt

__all__ = ["testset_prompt"]


def testset_prompt(
    record_id: str, query: str, system: str | None, templates: str | None, seed: int, region_syntax: str
) -> list[dict[str, str]]:
    """[system?, user] for one image; raises ValueError for an unknown region_syntax or a bad file."""
    if templates is None:
        return prompt_messages(query, system)
    return template_prompt(templates, record_id, seed, region_syntax)
