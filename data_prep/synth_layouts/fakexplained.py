"""The FakeXplained layout (annotations.jsonl + images/), drawn by :mod:`data_prep.synth_fakexplained`.

Its records' prompts and wording come from FakeXplained's data files (the chat templates, the tag
and generator vocabulary, the response wording in ``conf/data_prep/``): they are what the tiny
smoke-test model's tokenizer must know of this dataset.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from data_prep.synth_layouts import synth_layout


def texts() -> Iterator[str]:
    from data_prep.chat_templates import load_templates
    from data_prep.fakexplain_format import vocabulary
    from data_prep.sources.fakexplained import BOX_UNITS, BOX_UNITS_MARK, TEMPLATES_FILE, VOCABULARY_FILE

    # The units as the synthetic set's records spell them (its converter's default region syntax).
    units = BOX_UNITS["json"]
    for template in load_templates(TEMPLATES_FILE):
        yield template.system.replace(BOX_UNITS_MARK, units)
        yield template.user.replace(BOX_UNITS_MARK, units)
    vocab = vocabulary(VOCABULARY_FILE)
    yield from vocab.tags
    yield from sorted({name for name, _ in vocab.generator_lookup.values()})
    yield from vocab.wording.values()


@synth_layout("fakexplained", source="fakexplained", texts=texts)
def generate(
    out_dir: str | Path,
    *,
    num_fake: int = 40,
    num_real: int = 40,
    seed: int = 0,
    size: tuple[int, int] = (256, 192),
    vary_size: bool = True,
    workers: int = 1,
) -> list[Path]:
    """Write annotations.jsonl and images/ (``workers`` processes draw them); return [the folder]."""
    from data_prep.synth_fakexplained import generate_fakexplained

    generate_fakexplained(
        out_dir,
        num_fake=num_fake,
        num_real=num_real,
        seed=seed,
        size=size,
        vary_size=vary_size,
        workers=workers,
    )
    return [Path(out_dir).resolve()]  # the fakexplained converter reads the folder
