"""FakeScope instruction data (seed 003, FakeInstruct), as data_prep/sources/fakescope.py reads it.

    DIR/fakeinstruct.jsonl   one record per image, cycling through the three accepted shapes:
                             FakeChain triples {"image", "auth", "reasoning"},
                             question/answer pairs {"image", "qa": [{"question", "answer", "type"}, ...]},
                             LLaVA conversations {"image", "conversations": [human, gpt, human, gpt]}
    DIR/images/{real,fake/<generator>}/   the images (paths relative to DIR: convert without image_root)

``num_fake`` + ``num_real`` images; fake generators cycle through FakeChain's (003 §III-A).
Convert with ``convert --source fakescope --input DIR/fakeinstruct.jsonl``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from data_prep.synth_layouts import synth_layout
from data_prep.synth_layouts.images import SynthImage, draw, explanation, image_sizes, labels
from data_prep.synth_layouts.output import relative, write_jsonl

__all__ = ["generate", "INSTRUCTIONS_FILE", "GENERATORS"]

INSTRUCTIONS_FILE = "fakeinstruct.jsonl"
AUTHENTICITY_QUESTION = "What is the authenticity of this image?"  # 003 eq. 2 prompt
# FakeChain's generators (seeds.md 1.4)
GENERATORS = ("ProGAN", "StyleGAN", "BigGAN", "CogView2", "ADM", "IF", "FuseDream", "VQDM", "Glide", "SD", "SDXL",
              "FLUX.1", "Firefly", "DALLE2", "DALLE3", "Wukong", "Midjourney")  # fmt: skip
_STREAM = 301


def _record(root: Path, image: SynthImage, index: int) -> dict[str, Any]:
    path = relative(image.path, root)
    verdict = f"This image is {image.label}."
    shape = index % 3
    if shape == 0:  # a FakeChain triple
        return {
            "id": f"fakescope_{index:06d}",
            "image": path,
            "auth": image.label,
            "reasoning": explanation(image),
        }
    if shape == 1:  # question/answer pairs, typed for 003 Table VIII's "only absolute" / "only contextual"
        return {"id": f"fakescope_{index:06d}", "image": path, "qa": [
            {"question": AUTHENTICITY_QUESTION, "answer": f"{verdict} {explanation(image)}", "type": "absolute"},
            {"question": "Which details support this judgement?", "answer": explanation(image), "type": "contextual"},
        ]}  # fmt: skip
    return {"id": f"fakescope_{index:06d}", "image": path, "conversations": [  # LLaVA conversations
        {"from": "human", "value": "<image>\nIs this image real or AI-generated?"},
        {"from": "gpt", "value": verdict},
        {"from": "human", "value": "Explain your reasoning."},
        {"from": "gpt", "value": explanation(image)},
    ]}  # fmt: skip


@synth_layout("fakescope", source="fakescope")
def generate(
    out_dir: str | Path,
    *,
    num_fake: int = 8,
    num_real: int = 8,
    seed: int = 0,
    size: tuple[int, int] = (256, 192),
    vary_size: bool = True,
) -> list[Path]:
    """Write fakeinstruct.jsonl and its images; return [the jsonl]."""
    root = Path(out_dir).resolve()
    order = labels(num_fake, num_real)
    sizes = image_sizes(len(order), seed, _STREAM, size, vary_size)
    records = []
    fakes = 0
    for index, (label, wh) in enumerate(zip(order, sizes)):
        if label == "fake":
            folder = f"images/fake/{GENERATORS[fakes % len(GENERATORS)]}"
            fakes += 1
        else:
            folder = "images/real"
        image = draw(root / folder / f"{index:06d}.png", label, seed, _STREAM, index, wh)
        records.append(_record(root, image, index))
    return [write_jsonl(root / INSTRUCTIONS_FILE, records)]
