"""Fake-HR1's two training files (seed 001), as data_prep/sources/fake_hr1.py reads them.

    DIR/GenImage/train_cleaned_0915.json          ms-swift rows: {"id", "messages": [user, assistant],
                                                  "images": [path], "label": "real"|"fake"}
    DIR/GenImage/<generator>/train/{ai,nature}/   their images
    DIR/FakeClue/data_json/train_clean_0916.json  FakeClue's LLaVA rows (seeds.md 2.3): {"id", "image",
                                                  "label": 0 (fake) | 1 (real), "cate", "width",
                                                  "height", "conversations": [human, gpt]}
    DIR/FakeClue/data_json/train/<cate>/{fake,real}/   their images

The authors' cleaned files are unpublished (seeds.md 1.2); their names are the README's. The
GenImage rows are already in Fake-HR1's hybrid answer format (001 system prompt): every other fake
is an "easy" one answered without think steps (``<think>\\n\\n</think>\\n\\nfake``), the rest carry
their reasoning (``<think>\\n...\\n</think>\\n\\nreal|fake``); the converter keeps them verbatim.
FakeClue's answers are FakeVLM-style explanations ("This is a fake image. ...") that the converter
wraps into the think format. Each file holds ``num_fake`` fake and ``num_real`` real images.
Convert with ``convert --source fake_hr1 --input <each file>`` (no options needed).
"""

from __future__ import annotations

from pathlib import Path

from data_prep.synth_layouts.images import draw, explanation, image_sizes, labels
from data_prep.synth_layouts.output import relative, write_json_array

__all__ = ["generate", "GENIMAGE_FILE", "FAKECLUE_FILE", "GENIMAGE_GENERATORS", "FAKECLUE_CATEGORIES"]

GENIMAGE_FILE = "GenImage/train_cleaned_0915.json"  # 001 README --dataset
FAKECLUE_FILE = "FakeClue/data_json/train_clean_0916.json"  # 001 README --dataset
# GenImage's generator folders (<generator>/train/{ai,nature}).
GENIMAGE_GENERATORS = ("ADM", "BigGAN", "glide", "Midjourney", "stable_diffusion_v_1_4", "VQDM", "wukong")
FAKECLUE_CATEGORIES = ("animal", "human", "object", "scenery", "satellite", "doc")  # seeds.md 2.3
GENIMAGE_QUESTION = "<image>Is this image real or AI-generated?"
FAKECLUE_QUESTION = "<image>Does the image looks real/fake?"  # FakeClue's own wording (seeds.md 2.3)
_GENIMAGE_STREAM, _FAKECLUE_STREAM = 101, 102


def _think(reasoning: str, label: str) -> str:
    return f"<think>\n{reasoning}\n</think>\n\n{label}"


def _genimage(
    root: Path, num_fake: int, num_real: int, seed: int, size: tuple[int, int], vary_size: bool
) -> Path:
    file = root / GENIMAGE_FILE
    order = labels(num_fake, num_real)
    sizes = image_sizes(len(order), seed, _GENIMAGE_STREAM, size, vary_size)
    records = []
    fakes = 0
    for index, (label, wh) in enumerate(zip(order, sizes)):
        generator = GENIMAGE_GENERATORS[index % len(GENIMAGE_GENERATORS)]
        folder = "ai" if label == "fake" else "nature"
        image = draw(file.parent / generator / "train" / folder / f"{index:06d}.png", label, seed, _GENIMAGE_STREAM,
                     index, wh)  # fmt: skip
        if label == "fake":
            fakes += 1
            easy = fakes % 2 == 1  # "obvious AI-generation traces": no think steps (001 system prompt)
        else:
            easy = False
        answer = "<think>\n\n</think>\n\n" + label if easy else _think(explanation(image), label)
        records.append({
            "id": f"genimage_{index:06d}",
            "messages": [{"role": "user", "content": GENIMAGE_QUESTION}, {"role": "assistant", "content": answer}],
            "images": [relative(image.path, file.parent)],
            "label": label,
        })  # fmt: skip
    return write_json_array(file, records)


def _fakeclue(
    root: Path, num_fake: int, num_real: int, seed: int, size: tuple[int, int], vary_size: bool
) -> Path:
    file = root / FAKECLUE_FILE
    order = labels(num_fake, num_real)
    sizes = image_sizes(len(order), seed, _FAKECLUE_STREAM, size, vary_size)
    records = []
    for index, (label, wh) in enumerate(zip(order, sizes)):
        category = FAKECLUE_CATEGORIES[index % len(FAKECLUE_CATEGORIES)]
        image = draw(file.parent / "train" / category / label / f"{index:06d}.png", label, seed, _FAKECLUE_STREAM,
                     index, wh)  # fmt: skip
        records.append({
            "id": f"fakeclue_{index:06d}",
            "image": relative(image.path, file.parent),
            "label": 0 if label == "fake" else 1,  # FakeClue: 0 = fake, 1 = real (seeds.md 2.3)
            "cate": category,
            "width": wh[0],
            "height": wh[1],
            "conversations": [
                {"from": "human", "value": FAKECLUE_QUESTION},
                {"from": "gpt", "value": f"This is a {label} image. {explanation(image)}"},
            ],
        })  # fmt: skip
    return write_json_array(file, records)


def generate(
    out_dir: str | Path,
    *,
    num_fake: int = 8,
    num_real: int = 8,
    seed: int = 0,
    size: tuple[int, int] = (256, 192),
    vary_size: bool = True,
) -> list[Path]:
    """Write both files (each ``num_fake`` + ``num_real`` images); return [GenImage file, FakeClue file]."""
    root = Path(out_dir).resolve()
    return [_genimage(root, num_fake, num_real, seed, size, vary_size),
            _fakeclue(root, num_fake, num_real, seed, size, vary_size)]  # fmt: skip
