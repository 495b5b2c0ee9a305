"""Snapshot the installed ms-swift's argument parsers into `ms-swift-<version>.json`.

Run: `python -m harness.trainer_specs.generate [--check]`. It imports ms-swift (slow) and reads
the argparse actions of the same `HfArgumentParser` ms-swift builds for `swift sft`,
`swift rlhf` and `swift export`, plus the tables that free-string flags are checked against
(model types, templates, DeepSpeed presets).
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib.metadata import version
from typing import Any

from harness.trainer_specs import swift_spec_path

_TYPE_NAMES = {"int": "int", "float": "float", "str": "str", "string_to_bool": "bool"}


def _describe_action(action: argparse.Action) -> dict[str, Any]:
    type_name = getattr(action.type, "__name__", None)
    if action.nargs == 0:
        kind = "flag"  # store_true/store_false style: takes no value
    elif action.choices:
        kind = "choice"
    else:
        # Anything else (dict, Path, custom lambdas) is passed through unchecked.
        kind = _TYPE_NAMES.get(type_name or "", "str")
    nargs = action.nargs
    choices = [c for c in action.choices] if action.choices else None
    return {
        "flags": list(action.option_strings),
        "dest": action.dest,
        "kind": kind,
        "nargs": nargs,
        "choices": choices,
    }


def build_spec() -> dict[str, Any]:
    from swift.arguments import ExportArguments, RLHFArguments, SftArguments
    from swift.arguments.base_args.base_args import get_supported_tuners
    from swift.model import MODEL_MAPPING
    from swift.template import TEMPLATE_MAPPING
    from swift.utils.utils import _patch_get_type_hints
    from transformers import HfArgumentParser

    commands: dict[str, Any] = {}
    for command, cls in (("sft", SftArguments), ("rlhf", RLHFArguments), ("export", ExportArguments)):
        with _patch_get_type_hints():
            parser = HfArgumentParser([cls])
        options = [_describe_action(a) for a in parser._actions if a.option_strings and a.dest != "help"]
        commands[command] = {"dataclass": cls.__name__, "options": options}
    return {
        "trainer": "ms-swift",
        "version": version("ms-swift"),
        "generated_by": "python -m harness.trainer_specs.generate",
        "commands": commands,
        "model_types": sorted(MODEL_MAPPING),
        "templates": sorted(TEMPLATE_MAPPING),
        # a str field whose choices only its help text lists; an unknown one raised in
        # prepare_model, after the model loaded (swift/pipelines/train/tuner.py)
        "tuner_types": sorted(get_supported_tuners()),
        "deepspeed_presets": ["zero0", "zero1", "zero2", "zero3", "zero2_offload", "zero3_offload"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the committed snapshot is stale")
    args = parser.parse_args(argv)
    spec = build_spec()
    path = swift_spec_path(spec["version"])
    text = json.dumps(spec, indent=1, sort_keys=True) + "\n"
    if args.check:
        if not path.exists() or path.read_text() != text:
            print(
                f"{path} is out of date; regenerate with `python -m harness.trainer_specs.generate`",
                file=sys.stderr,
            )
            return 1
        print(f"{path} is up to date")
        return 0
    path.write_text(text)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
