"""Response formats for ``eval.response_format``: the registry lives in :mod:`common.response_formats`.

Each format is declared next to the code that owns its answer contract:

- ``think_tag_verdict``: ``<think> ... {"bbox_2d": [...], "label": "..."} ... </think> <tag>...</tag>
  <verdict>real|fake|generated</verdict>``, declared by the FakeXplain reward (``rewards/fakexplain.py``),
  so evaluation and reward read answers the same way;
- ``think_answer``: ``<think>\\n...\\n</think>\\n\\nreal|fake``, declared by the Fake-HR1 reward
  (``rewards/fake_hr1.py``); ``thinking`` says whether the think block is non-empty;
- ``free_text_verdict``: prose that states real or fake (``harness/evaluation/free_text.py``);
- a plugin's own (:mod:`common.plugins`), e.g. the format its reward module declares.
"""

from __future__ import annotations

from common.response_formats import RESPONSE_FORMATS, ParsedAnswer, ResponseFormat, parse_answer

__all__ = ["ParsedAnswer", "RESPONSE_FORMATS", "ResponseFormat", "parse_answer"]
