"""python -m expert train|swap|infer ... [--config-json JSON]

  train  --train-manifest EVAL.jsonl [--val-manifest EVAL.jsonl] --model CLIP_DIR --output-dir DIR
         trains LoRA + head on a CLIP vision model; resumes from DIR/checkpoints; writes DIR/final.
         Started with NPROC_PER_NODE / NNODES set (as the harness' launchers do for mode
         torchrun), it runs itself under torchrun: one process per GPU (gloo on CPUs).
  swap   --expert DIR/final --llava LLAVA_DIR --output-dir DIR
         writes DIR/expert (merged CLIP + head) and DIR/llava (LLaVA with the expert as tower).
  infer  --expert DIR/expert --manifest EVAL.jsonl --output-dir DIR
         writes expert_probs.jsonl (collaborative decoding's input), predictions.jsonl, metrics.json.

--config-json holds the stage's settings (expert/config.py; unknown keys are errors).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from common.errors import ConfigError, HarnessError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m expert", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", allow_abbrev=False)
    train.add_argument("--train-manifest", required=True)
    train.add_argument("--val-manifest")
    train.add_argument(
        "--model", required=True, help="the CLIP model folder (openai/clip-vit-large-patch14-336)"
    )
    train.add_argument("--output-dir", required=True)
    train.add_argument("--config-json", default="{}")
    swap = sub.add_parser("swap", allow_abbrev=False)
    swap.add_argument("--expert", required=True, help="the training stage's final/ folder")
    swap.add_argument("--llava", required=True, help="the LLaVA model folder whose tower is replaced")
    swap.add_argument("--base", help="the CLIP the expert was trained from (default: as expert.json says)")
    swap.add_argument("--output-dir", required=True)
    swap.add_argument("--config-json", default="{}")
    infer = sub.add_parser("infer", allow_abbrev=False)
    infer.add_argument("--expert", required=True, help="a merged expert folder (swap's expert/)")
    infer.add_argument("--manifest", required=True)
    infer.add_argument("--output-dir", required=True)
    infer.add_argument("--config-json", default="{}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    from expert import config as settings

    try:
        options = json.loads(args.config_json)
    except json.JSONDecodeError as exc:
        print(f"error: --config-json is not valid JSON: {exc}", file=sys.stderr)
        return 2
    try:
        if args.command == "train":
            config = settings.parse_train_config(options)
            from expert.distributed import relaunch_under_torchrun

            relaunch_under_torchrun(argv)  # returns only when no torchrun is wanted or already in it
            from expert.train import train

            final = train(args.train_manifest, args.val_manifest, args.model, args.output_dir, config,
                          log=lambda m: print(m, flush=True))  # fmt: skip
            print(f"expert: final adapter and head in {final}")
        elif args.command == "swap":
            config = settings.parse_swap_config(options)
            from expert.model import read_meta
            from expert.swap import check_vision_configs, merge_expert, swap_into_llava

            base = args.base or read_meta(args.expert)["base_model"]
            check_vision_configs(base, args.llava, config.check_fields)  # before anything is written
            out = Path(args.output_dir)
            expert = merge_expert(args.expert, out / "expert", base=base)
            llava = swap_into_llava(expert, args.llava, out / "llava", config)
            print(f"expert: merged expert in {expert}; LLaVA with the expert as vision tower in {llava}")
        else:
            config = settings.parse_infer_config(options)
            from expert.infer import infer

            document = infer(
                args.expert, args.manifest, args.output_dir, config, log=lambda m: print(m, flush=True)
            )
            headline = {k: v for k, v in document["values"].items() if "/" not in k}
            print(json.dumps({"n_images": document["n_images"], **headline}, indent=2))
    except (ConfigError, HarnessError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
