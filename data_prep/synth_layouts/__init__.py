"""Small synthetic datasets in the raw layouts the converters read, for the CPU smoke profile and tests.

``python -m data_prep synth --layout <name> --output-dir DIR [--num-fake N] [--num-real N] [--seed S]
[--size WxH] [--fixed-size] [--generators NAME ...] [--num-val N]`` writes one of these layouts;
the output then goes through the same converter (``convert --source <source>``) as the real data.

A layout module declares itself by decorating its ``generate(out_dir, *, num_fake, num_real, seed,
size, vary_size, ...) -> list[Path]`` (what the converter's ``--input`` takes)::

    from data_prep.synth_layouts import synth_layout

    @synth_layout("my_dataset", source="my_dataset")
    def generate(out_dir, *, num_fake=4, num_real=4, seed=0, size=(256, 192), vary_size=True): ...

The modules of this package are found without importing them (:mod:`common.registry`); a user's
own package registers its layouts when imported as a plugin (:mod:`common.plugins`). ``texts``
(optional) yields the prompts and wording the layout's records contain, which the tiny smoke-test
model's tokenizer learns (data_prep/tiny_model.py). The project's layouts:

| layout          | module              | writes (under DIR)                                        | converter       |
|-----------------|---------------------|-----------------------------------------------------------|-----------------|
| fakexplained    | fakexplained.py     | annotations.jsonl, images/ (data_prep/synth_fakexplained) | fakexplained    |
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

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.registry import Registry, UnknownNameError

__all__ = ["LAYOUTS", "SynthLayout", "generate", "synth_layout"]

Generate = Callable[..., list[Path]]


@dataclass(frozen=True)
class SynthLayout:
    name: str
    generate: Generate
    source: str | None = None  # the converter that reads it
    texts: Callable[[], Iterable[str]] | None = None  # prompts and wording in its records


LAYOUTS: Registry[SynthLayout] = Registry(
    "synth layout", packages=("data_prep.synth_layouts",), declarator="synth_layout"
)


def synth_layout(
    name: str, *, source: str | None = None, texts: Callable[[], Iterable[str]] | None = None
) -> Callable[[Generate], Generate]:
    """Declare the decorated ``generate`` as the layout ``name`` (read by the converter ``source``)."""

    def declare(function: Generate) -> Generate:
        entry = SynthLayout(name=name, generate=function, source=source, texts=texts)
        LAYOUTS.add(name, entry, declared_in=function.__module__)
        return function

    return declare


def layout(name: str) -> SynthLayout:
    """The layout registered under ``name``; an unknown name lists the known ones."""
    try:
        return LAYOUTS.get(name)
    except UnknownNameError as exc:
        from common.errors import did_you_mean

        raise ValueError(
            f"unknown synth layout {name!r}{did_you_mean(name, exc.available)}; "
            f"known layouts: {', '.join(exc.available)}"
        ) from None


def generate(layout_name: str, out_dir: str | Path, **options: Any) -> list[Path]:
    """Write ``layout_name`` under ``out_dir``; return what the converter's ``--input`` takes.

    ``options`` are the keyword arguments of the layout module's ``generate`` (num_fake, num_real,
    seed, size, vary_size, and per layout generators / num_val / workers).
    """
    return layout(layout_name).generate(out_dir, **options)
