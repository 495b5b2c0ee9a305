"""``python -m data_prep <command>``: convert, synth, tiny-model, download, check.

    convert    --source NAME --input PATH [--input PATH ...] --output-dir DIR
               [--options JSON] [--workers N] [--strict] [--chunk-size N]
    synth      --layout LAYOUT --output-dir DIR [--num-fake N] [--num-real N] [--seed S]
               [--size WxH] [--fixed-size] [--workers N] [--generators NAME ...] [--num-val N]
               (data_prep/synth_layouts/: what each layout writes, which options it takes)
    tiny-model --arch qwen2_5_vl|llava1_6|llava1_5|clip_vision --output-dir DIR [--seed S] [--size NAME]
    download   --hub hf|modelscope --repo-id ID --cache-dir DIR [--revision REV]
               [--repo-type model|dataset] [--local-dir DIR] [--allow-pattern GLOB ...]
               [--unpack ARCHIVE.zip[=FOLDER] ...]  (needs --local-dir; resumable, checked)
    check      --source NAME --input PATH [--input PATH ...] [--options JSON]
               [--no-verify-images] [--image-root DIR]

Sources and layouts are the registered ones (data_prep/sources/, data_prep/synth_layouts/, and
those of the plugin modules named by $AIGI_PLUGINS, common/plugins.py).

Exit status: 0 success, 1 the stage failed (strict rejects, check problems, download error),
2 bad command line or options.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import sys
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from common.errors import HarnessError
from data_prep.conf_data import load_yaml

__all__ = ["CommandLineError", "build_parser", "command_line_problems", "main"]


class CommandLineError(HarnessError):
    """A command line the parser refused; ``flags`` are the options its message names."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.flags: tuple[str, ...] = tuple(re.findall(r"(?<![\w-])--[a-z][\w-]*", message))


class _RaisingParser(argparse.ArgumentParser):
    """argparse that raises instead of printing the usage and exiting: for checking a command line
    before it runs (harness/validate/registered.py)."""

    def error(self, message: str):  # type: ignore[override]
        raise CommandLineError(message)


def _folder(text: str) -> Path:
    """A folder option the command writes into: an existing file there was an OSError traceback
    ("File exists", "Not a directory") after the arguments were accepted."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file; give a folder (it is created if missing)")
    return path


def _at_least(minimum: int):
    """An int option type refusing values below ``minimum`` (0 images, 0 workers, a negative seed)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    parse.__name__ = f"at_least_{minimum}"
    return parse


_COUNT, _POSITIVE = _at_least(0), _at_least(1)


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--size must look like 256x192, got {text!r}") from None
    if width < 32 or height < 32:
        raise argparse.ArgumentTypeError(f"--size sides must be at least 32 pixels, got {text!r}")
    return width, height


def _options(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"--options is not valid JSON ({error.msg}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"--options must be a JSON object, got {text!r}")
    return value


def build_parser(
    parser_class: type[argparse.ArgumentParser] = argparse.ArgumentParser,
) -> argparse.ArgumentParser:
    """The command line; ``parser_class`` is also the subcommands' class (argparse's default)."""
    from data_prep.sources import SOURCES
    from data_prep.synth_layouts import LAYOUTS

    sources, layouts = SOURCES.names(), LAYOUTS.names()

    parser = parser_class(prog="python -m data_prep", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    convert = sub.add_parser("convert", help="convert a source dataset into trainer files")
    convert.add_argument("--source", required=True, choices=sources)
    convert.add_argument("--input", required=True, action="append", type=Path, help="repeatable")
    convert.add_argument("--output-dir", required=True, type=_folder)
    convert.add_argument("--options", type=_options, default={}, help="JSON object of converter options")
    convert.add_argument("--workers", type=_POSITIVE, default=1, help="processes; 1 converts in this one")
    convert.add_argument("--strict", action="store_true", help="any rejected record fails the stage")
    convert.add_argument("--chunk-size", type=_POSITIVE, default=32, help="records per task sent to a worker")

    synth = sub.add_parser("synth", help="generate a synthetic dataset in a raw source layout")
    # --layout is the spelling pipeline stages use (a stage's own `kind` names its renderer).
    synth.add_argument("--kind", "--layout", dest="kind", required=True, choices=layouts)
    synth.add_argument("--output-dir", required=True, type=_folder)
    synth.add_argument("--num-fake", type=_COUNT, default=None, help="fake images (default: the layout's)")
    synth.add_argument("--num-real", type=_COUNT, default=None, help="real images (default: the layout's)")
    synth.add_argument("--seed", type=_COUNT, default=0, help="0 or more (numpy's generator)")
    synth.add_argument("--size", type=_size, default=(256, 192), help="WxH of the images (base size)")
    synth.add_argument("--fixed-size", action="store_true", help="every image exactly --size")
    synth.add_argument(
        "--workers", type=_POSITIVE, default=None, help="layouts that draw in parallel: processes"
    )
    synth.add_argument(
        "--generators",
        action="append",
        default=None,
        help="testset_folders / testset_jsonl: generator names; repeatable",
    )
    synth.add_argument(
        "--num-val",
        type=_COUNT,
        default=None,
        help="aigi_holmes: images of val.jsonl; fake_hr1: GenImage val images",
    )

    tiny = sub.add_parser("tiny-model", help="build a tiny random-weight model folder (no hub access)")
    tiny.add_argument(
        "--kind",
        "--arch",
        dest="kind",
        required=True,
        choices=["qwen2_5_vl", "llava1_6", "llava1_5", "clip_vision"],
    )
    tiny.add_argument("--output-dir", required=True, type=_folder)
    tiny.add_argument("--seed", type=int, default=0)
    tiny.add_argument(
        "--size",
        default="default",
        choices=sorted(load_yaml("tiny_qwen2_5_vl.yaml")["text_sizes"]),
        help="qwen2_5_vl only: a text model shape of conf/data_prep/tiny_qwen2_5_vl.yaml text_sizes",
    )

    download = sub.add_parser("download", help="download a model or dataset with the hub's own client")
    download.add_argument("--hub", required=True, choices=["hf", "modelscope"])
    download.add_argument("--repo-id", required=True)
    download.add_argument("--cache-dir", required=True, type=_folder)
    download.add_argument("--revision", default=None)
    download.add_argument("--repo-type", choices=["model", "dataset"], default="model")
    download.add_argument("--local-dir", type=_folder, default=None, help="also materialize the files here")
    download.add_argument("--allow-pattern", action="append", default=None, help="glob; repeatable")
    download.add_argument(
        "--unpack",
        action="append",
        default=None,
        metavar="ARCHIVE.zip[=FOLDER]",
        help="after the download, unpack this archive of --local-dir into FOLDER of it; repeatable",
    )

    check = sub.add_parser("check", help="check a dataset the user put in place")
    check.add_argument("--source", required=True, choices=sources)
    check.add_argument("--input", required=True, action="append", type=Path)
    check.add_argument("--options", type=_options, default={}, help="JSON object of converter options")
    check.add_argument(
        "--verify-images",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="decode every image, as convert does (the default); --no-verify-images reads headers only",
    )
    check.add_argument("--image-root", default=None)
    return parser


def command_line_problems(argv: Sequence[str]) -> list[CommandLineError]:
    """What ``python -m data_prep ARGV`` would refuse, found without running it: the parser's
    error, else every check across options (`_option_problems`)."""
    from data_prep.sources import SOURCES
    from data_prep.synth_layouts import LAYOUTS

    try:
        args = _checking_parser(tuple(SOURCES.names()), tuple(LAYOUTS.names())).parse_args(list(argv))
    except CommandLineError as error:
        return [error]
    return [CommandLineError(message) for message in _option_problems(args)]


@lru_cache(maxsize=4)
def _checking_parser(sources: tuple[str, ...], layouts: tuple[str, ...]) -> argparse.ArgumentParser:
    """One raising parser per set of registered names (a plugin adds some): a plan checks every
    data stage of every run of a table, and building the parser is most of a check's 2.6 ms."""
    return build_parser(_RaisingParser)


def _option_problems(args: argparse.Namespace) -> list[str]:
    """Checks no single option's type can make; each is refused before anything is written."""
    if args.command == "synth":
        from data_prep.synth_layouts import layout

        accepted = inspect.signature(layout(args.kind).generate).parameters
        problems = [
            f"synth --layout {args.kind} takes no --{name.replace('_', '-')}"
            for name, value in _synth_given(args).items()
            if value is not None and name not in accepted
        ]
        counts = [
            getattr(args, name) if getattr(args, name) is not None else accepted[name].default
            for name in ("num_fake", "num_real")
            if name in accepted
        ]
        if counts and not any(counts):
            problems.append(f"--num-fake and --num-real: both 0, the {args.kind} layout would write no image")
        return problems
    if args.command == "tiny-model" and args.size != "default" and args.kind != "qwen2_5_vl":
        return [f"--size: only the qwen2_5_vl tiny model has sizes, not {args.kind}"]
    if args.command == "download":
        from data_prep.hub_download import parse_unpack

        problems = []
        for spec in args.unpack or []:
            try:
                parse_unpack(spec)  # a bad spec fails before anything is fetched
            except ValueError as error:
                problems.append(str(error))
        if args.unpack and args.local_dir is None:
            problems.append("--unpack needs --local-dir: archives are unpacked next to the downloaded files")
        return problems
    return []


def _synth_given(args: argparse.Namespace) -> dict[str, object]:
    """The synth options only some layouts take; None where the command line leaves them out."""
    return {
        "num_fake": args.num_fake,
        "num_real": args.num_real,
        "workers": args.workers,
        "generators": args.generators,
        "num_val": args.num_val,
    }


def _run(args: argparse.Namespace) -> int:
    problems = _option_problems(args)
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    if args.command == "convert":
        from data_prep.conversion import StageFailed, run_conversion

        try:
            run_conversion(
                args.source,
                args.input,
                args.output_dir,
                options=args.options,
                workers=args.workers,
                strict=args.strict,
                chunk_size=args.chunk_size,
            )
        except StageFailed as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        return 0
    if args.command == "synth":
        return _synth(args)
    if args.command == "tiny-model":
        from data_prep.tiny_model_cache import CACHE_ENV, build_or_copy

        def build() -> Path:
            from data_prep import tiny_model  # imports transformers: only when building

            builder = {
                "qwen2_5_vl": tiny_model.build_tiny_qwen2_5_vl,
                "llava1_6": tiny_model.build_tiny_llava1_6,
                "llava1_5": tiny_model.build_tiny_llava1_5,
                "clip_vision": tiny_model.build_tiny_clip_vision,
            }[args.kind]
            if args.kind == "qwen2_5_vl":
                return builder(args.output_dir, seed=args.seed, size=args.size)
            return builder(args.output_dir, seed=args.seed)

        kind = args.kind if args.size == "default" else f"{args.kind}-{args.size}"
        path, copied = build_or_copy(kind, args.seed, args.output_dir, build)
        how = f"copied from ${CACHE_ENV}" if copied else "wrote"
        print(f"{how} tiny {args.kind} model to {path}")
        return 0
    if args.command == "download":
        from data_prep.hub_download import DownloadFailed, download, unpack_archive

        try:
            path = download(
                args.hub,
                args.repo_id,
                args.cache_dir,
                revision=args.revision,
                repo_type=args.repo_type,
                local_dir=args.local_dir,
                allow_patterns=args.allow_pattern,
            )
            for spec in args.unpack or []:
                print(unpack_archive(path, spec), file=sys.stderr)
        except DownloadFailed as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(path)
        return 0
    if args.command == "check":
        from data_prep.check import check_source

        result = check_source(
            args.source,
            args.input,
            options=args.options,
            verify_images=args.verify_images,
            image_root=args.image_root,
        )
        if not result.ok:
            print(f"{args.source} is not ready:", file=sys.stderr)
            for problem in result.problems:
                print(f"  - {problem}", file=sys.stderr)
            return 1
        print(result.summary() if result.read else f"{args.source} is in place.")
        return 0
    raise AssertionError(args.command)


def _synth(args: argparse.Namespace) -> int:
    from data_prep.synth_layouts import layout

    entry = layout(args.kind)
    options = {"seed": args.seed, "size": args.size, "vary_size": not args.fixed_size}
    options.update({name: value for name, value in _synth_given(args).items() if value is not None})
    paths = entry.generate(args.output_dir, **options)
    print(f"wrote the {args.kind} layout to {args.output_dir}; converter inputs: {' '.join(map(str, paths))}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _run(build_parser().parse_args(argv))
    except (ValueError, FileNotFoundError, FileExistsError, HarnessError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
