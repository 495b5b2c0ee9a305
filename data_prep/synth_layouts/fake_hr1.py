"""Fake-HR1's two training files (seed 001) and their images, in the published layouts.

    DIR/GenImage/<generator>/<subset>/{train,val}/{ai,nature}/   GenImage's folders (ai = fake)
    DIR/GenImage/train_cleaned_0915.json          the authors' cleaned file as seed 001 feeds it to
                                                  `swift sft`: ms-swift rows without a label, cycling
                                                  through the shapes ms-swift reads (messages,
                                                  query/response, conversations with from/value);
                                                  image paths relative to DIR, the README's working
                                                  directory (`--dataset ./GenImage/...`)
    DIR/FakeClue/data_json/train_clean_0916.json  FakeClue's JSON array (HF lingcco/FakeClue
                                                  data_json/train.json): {"image", "label": 0 (fake) |
                                                  1 (real), "cate", "width", "height", "conversations"},
                                                  image paths relative to DIR/FakeClue/train/
    DIR/FakeClue/train/<folder>/{fake,real}/...   its images (folders of FakeVLM's process_data.py)

The authors' cleaned files are unpublished (seeds.md 1.2); their names are the README's. The
GenImage rows are in Fake-HR1's hybrid answer format (001 system prompt): every other fake is an
"easy" one answered without think steps (``<think>\\n\\n</think>\\n\\nfake``), the rest carry their
reasoning; the label is the answer's last word. FakeClue's answers are FakeVLM-style explanations
("This is a fake image. ...") that the converter wraps into the think format; their numeric labels
need the recipe's ``label_values``. Each file holds ``num_fake`` fake and ``num_real`` real images;
``num_val`` more GenImage images (half fake) fill the ``val`` folders, GenImage's test split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from data_prep.synth_layouts import synth_layout
from data_prep.synth_layouts.images import SynthImage, draw, explanation, image_sizes, labels
from data_prep.synth_layouts.output import relative, write_json_array

__all__ = ["generate", "GENIMAGE_FILE", "FAKECLUE_FILE", "GENIMAGE_SUBSETS", "FAKECLUE_FOLDERS"]

GENIMAGE_FILE = "GenImage/train_cleaned_0915.json"  # 001 README --dataset
FAKECLUE_FILE = "FakeClue/data_json/train_clean_0916.json"  # 001 README --dataset
# GenImage's <generator>/<subset> folders, as the published archives unpack.
GENIMAGE_SUBSETS = {
    "ADM": "imagenet_ai_0508_adm",
    "BigGAN": "imagenet_ai_0419_biggan",
    "glide": "imagenet_glide",
    "Midjourney": "imagenet_midjourney",
    "stable_diffusion_v_1_4": "imagenet_ai_0419_sdv4",
    "VQDM": "imagenet_ai_0419_vqdm",
    "wukong": "imagenet_ai_0424_wukong",
}
# FakeClue's image folders (FakeVLM process_data.py) with a category each; ff++ frames sit deeper.
FAKECLUE_FOLDERS = (("genimage", "animal"), ("ff++", "deepfake"), ("chameleon", "human"),
                    ("satellite", "satellite"), ("doc", "doc"), ("genimage", "scenery"))  # fmt: skip
GENIMAGE_QUESTION = "<image>Is this image real or AI-generated?"
FAKECLUE_QUESTION = "<image>\nDoes the image looks real/fake?"  # FakeClue's own wording (seeds.md 2.3)
_GENIMAGE_STREAM, _FAKECLUE_STREAM, _VAL_STREAM = 101, 102, 103


def _genimage_image(
    root: Path, generators: list[str], index: int, label: str, split: str, seed: int, stream: int, wh
) -> SynthImage:
    generator = generators[index % len(generators)]
    folder = "ai" if label == "fake" else "nature"
    path = (
        root
        / "GenImage"
        / generator
        / GENIMAGE_SUBSETS[generator]
        / split
        / folder
        / f"{split}_{index:06d}.png"
    )
    return draw(path, label, seed, stream, index, wh)


def _swift_row(question: str, answer: str, image: str, shape: int) -> dict[str, Any]:
    """One ms-swift row, in the shape ``shape`` (0 messages, 1 query/response, 2 conversations)."""
    if shape == 1:
        return {"query": question, "response": answer, "images": [image]}
    if shape == 2:
        return {"conversations": [{"from": "human", "value": question}, {"from": "gpt", "value": answer}],
                "images": [image]}  # fmt: skip
    return {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}],
            "images": [image]}  # fmt: skip


def _genimage(
    root: Path, num_fake: int, num_real: int, num_val: int, seed: int, size: tuple[int, int], vary_size: bool
) -> Path:
    file = root / GENIMAGE_FILE
    order = labels(num_fake, num_real)
    val_order = labels(num_val - num_val // 2, num_val // 2)
    # As many generators as both splits can fill: every <subset> has train/ and val/, as published.
    generators = list(GENIMAGE_SUBSETS)[
        : max(1, min(len(GENIMAGE_SUBSETS), len(order), len(val_order) or 99))
    ]
    sizes = image_sizes(len(order), seed, _GENIMAGE_STREAM, size, vary_size)
    records = []
    fakes = 0
    for index, (label, wh) in enumerate(zip(order, sizes)):
        image = _genimage_image(root, generators, index, label, "train", seed, _GENIMAGE_STREAM, wh)
        easy = False
        if label == "fake":
            fakes += 1
            easy = fakes % 2 == 1  # "obvious AI-generation traces": no think steps (001 system prompt)
        answer = (
            "<think>\n\n</think>\n\n" + label
            if easy
            else f"<think>\n{explanation(image)}\n</think>\n\n{label}"
        )
        records.append(_swift_row(GENIMAGE_QUESTION, answer, "./" + relative(image.path, root), index % 3))
    val_sizes = image_sizes(len(val_order), seed, _VAL_STREAM, size, vary_size)
    for index, (label, wh) in enumerate(zip(val_order, val_sizes)):
        _genimage_image(root, generators, index, label, "val", seed, _VAL_STREAM, wh)
    return write_json_array(file, records)


def _fakeclue(
    root: Path, num_fake: int, num_real: int, seed: int, size: tuple[int, int], vary_size: bool
) -> Path:
    file = root / FAKECLUE_FILE
    images = root / "FakeClue" / "train"  # <root>/<split>/ (FakeVLM finetune.sh --image_folder)
    order = labels(num_fake, num_real)
    sizes = image_sizes(len(order), seed, _FAKECLUE_STREAM, size, vary_size)
    records = []
    for index, (label, wh) in enumerate(zip(order, sizes)):
        folder, category = FAKECLUE_FOLDERS[index % len(FAKECLUE_FOLDERS)]
        name = f"{index:06d}.png"
        if folder == "ff++" and label == "fake":
            name = f"Deepfakes/c23/frames/{index:03d}_000/{index}.png"  # FakeClue's nested frame folders
        image = draw(images / folder / label / name, label, seed, _FAKECLUE_STREAM, index, wh)
        records.append({
            "image": relative(image.path, images),
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


@synth_layout("fake_hr1", source="fake_hr1")
def generate(
    out_dir: str | Path,
    *,
    num_fake: int = 8,
    num_real: int = 8,
    num_val: int = 4,
    seed: int = 0,
    size: tuple[int, int] = (256, 192),
    vary_size: bool = True,
) -> list[Path]:
    """Write both files and their images; return [GenImage file, FakeClue file]."""
    if num_val < 0:
        raise ValueError("num_val must not be negative")
    root = Path(out_dir).resolve()
    return [_genimage(root, num_fake, num_real, num_val, seed, size, vary_size),
            _fakeclue(root, num_fake, num_real, seed, size, vary_size)]  # fmt: skip
