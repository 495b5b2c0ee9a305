"""Small synthetic datasets in the raw layouts the converters read, for the CPU smoke profile and tests.

``python -m data_prep synth --layout <name> --output-dir DIR [--num-fake N] [--num-real N] [--seed S]
[--size WxH] [--fixed-size] [--generators NAME ...] [--num-val N]`` writes one of these layouts;
the output then goes through the same converter (``convert --source <source>``) as the real data.

| layout          | module              | writes (under DIR)                                        | converter       |
|-----------------|---------------------|-----------------------------------------------------------|-----------------|
| fakexplained    | synth_fakexplained  | annotations.jsonl, images/                                | fakexplained    |
| fake_hr1        | fake_hr1.py         | GenImage/train_cleaned_0915.json (ms-swift rows, no       | fake_hr1        |
|                 |                     | label), GenImage/<gen>/<subset>/{train,val}/{ai,nature}/, |                 |
|                 |                     | FakeClue/data_json/train_clean_0916.json, FakeClue/train/ |                 |
| aigi_holmes     | aigi_holmes.py      | SFTDATA.jsonl, DPODATA.jsonl, val.jsonl,                  | aigi_holmes     |
|                 |                     | dataset/{0_real,1_fake}/                                  |                 |
| fakescope       | fakescope.py        | fakeinstruct.jsonl, images/                               | fakescope       |
| testset_folders | testset_folders.py  | TestSet/<generator>/{0_real,1_fake}/                      | testset_folders |
| testset_jsonl   | testset_jsonl.py    | testset.jsonl ({file_path, label}), images/               | testset_jsonl   |

Common options: ``num_fake`` / ``num_real`` images (per file, per generator: each module says),
``seed`` (everything is a function of it), ``size`` (W, H) with each side varied by up to +-25%
unless ``vary_size`` is off. Image paths in the records are relative where the published datasets
have them relative (each module says to what), and the converters find them without ``image_root``. Images are drawn by :mod:`data_prep.synth_layouts.images`
(the FakeXplained generator's scenes and artefacts); record files are written atomically by
:mod:`data_prep.synth_layouts.output`.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

__all__ = ["LAYOUTS", "generate"]

# layout name -> module under data_prep.synth_layouts (fakexplained has its own top-level module)
LAYOUTS: tuple[str, ...] = (
    "fakexplained",
    "fake_hr1",
    "aigi_holmes",
    "fakescope",
    "testset_folders",
    "testset_jsonl",
)


def _fakexplained(out_dir: str | Path, **options: Any) -> list[Path]:
    from data_prep.synth_fakexplained import generate_fakexplained

    generate_fakexplained(out_dir, **options)
    return [Path(out_dir).resolve()]  # the fakexplained converter reads the folder


def generate(layout: str, out_dir: str | Path, **options: Any) -> list[Path]:
    """Write ``layout`` under ``out_dir``; return what the converter's ``--input`` takes (files or a folder).

    ``options`` are the keyword arguments of the layout module's ``generate`` (num_fake, num_real,
    seed, size, vary_size, and per layout generators / num_val).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown synth layout {layout!r}; known layouts: {', '.join(LAYOUTS)}")
    if layout == "fakexplained":
        return _fakexplained(out_dir, **options)
    module = importlib.import_module(f"data_prep.synth_layouts.{layout}")
    return module.generate(out_dir, **options)
