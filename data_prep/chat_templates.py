"""Chat templates (system prompt + user query) and their seeded choice per record.

FakeXplain (002 App. A.1): nine templates, 3 real + 6 fake, chosen at random during pre-processing.
The texts are data, a YAML file the source's options name (FakeXplained's default:
``conf/data_prep/fakexplain_templates.yaml``). The choice hashes (seed, purpose, record id),
so it is the same whatever the record order or the number of worker processes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from data_prep.conf_data import load_yaml

__all__ = ["ChatTemplate", "limit_templates", "load_templates", "pick_template"]

LABELS = ("real", "fake")


@dataclass(frozen=True)
class ChatTemplate:
    name: str
    label: str
    system: str
    user: str


@lru_cache(maxsize=8)
def load_templates(path: str) -> tuple[ChatTemplate, ...]:
    """Read and check the templates of ``conf/data_prep/<path>`` (or a path): unique names, a known label, non-empty user query, both labels."""
    raw = load_yaml(path)
    entries = raw.get("templates") if isinstance(raw, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path}: expected a non-empty list under 'templates'")
    templates: list[ChatTemplate] = []
    for position, entry in enumerate(entries):
        where = f"{path}: templates[{position}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where} is not a mapping")
        name = str(entry.get("name") or "").strip()
        label = str(entry.get("label") or "").strip()
        user = str(entry.get("user") or "").strip()
        system = str(entry.get("system") or "").strip()
        if not name:
            raise ValueError(f"{where}: 'name' is missing")
        if label not in LABELS:
            raise ValueError(f"{where} ({name}): label must be one of {LABELS}, got {label!r}")
        if not user:
            raise ValueError(f"{where} ({name}): 'user' (the query) is missing")
        if "<image>" in user or "<image>" in system:
            raise ValueError(f"{where} ({name}): do not write <image>; the converter places the image")
        templates.append(ChatTemplate(name=name, label=label, system=system, user=user))
    names = [t.name for t in templates]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"{path}: template names must be unique, repeated: {duplicates}")
    for label in LABELS:
        if not any(t.label == label for t in templates):
            raise ValueError(f"{path}: no template for label {label!r}")
    return tuple(templates)


def _draw(seed: int, purpose: str, record_id: str, count: int) -> int:
    digest = hashlib.sha256(f"{seed}\x00{purpose}\x00{record_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


def pick_template(
    templates: Sequence[ChatTemplate],
    record_id: str,
    seed: int,
    *,
    label: str | None,
    pool: Literal["by_label", "all"],
    purpose: str,
) -> ChatTemplate:
    """Choose a template for a record; ``pool='by_label'`` restricts it to the record's label."""
    if pool == "by_label":
        candidates = [t for t in templates if t.label == label]
        if not candidates:
            raise ValueError(f"no chat template for label {label!r}")
    elif pool == "all":
        candidates = list(templates)
    else:
        raise ValueError(f"template pool must be 'by_label' or 'all', got {pool!r}")
    return candidates[_draw(seed, purpose, record_id, len(candidates))]


def limit_templates(
    templates: Sequence[ChatTemplate], *, real: int | None, fake: int | None, where: str
) -> tuple[ChatTemplate, ...]:
    """The first ``real`` real and ``fake`` fake templates, in file order (None: all of that label).

    002 App. E.3 trains with fewer templates ("1+1", "3+2": real + fake) to show what their number
    does; which ones were kept is not stated, so the first of each label in the file are used.
    ValueError names the option (``templates_real`` / ``templates_fake``) when a count is out of range.
    """
    kept: list[ChatTemplate] = []
    for label, count in (("real", real), ("fake", fake)):
        available = [t for t in templates if t.label == label]
        if count is None:
            kept += available
            continue
        if not 1 <= count <= len(available):
            raise ValueError(
                f"{where}.templates_{label}: must be between 1 and {len(available)} (the {label} templates "
                f"in the templates file), got {count}"
            )
        kept += available[:count]
    return tuple(t for t in templates if t in kept)
