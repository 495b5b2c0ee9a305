"""python -m harness.evaluation --manifest PATH --model DIR --output-dir DIR [--config-json JSON]

Evaluate a model on a test manifest: writes <output-dir>/predictions.jsonl (streamed; a restart
skips the images already there) and <output-dir>/metrics.json.

--config-json holds the eval options (conf/eval/<paper>.yaml; harness/evaluation/config.py):
backend, response_format, metrics, sampling, max_new_tokens, soft_scoring, robustness,
collaborative_decoding, limit, batch_size, vllm, openai, ... Unknown keys are errors.

examples:
  python -m harness.evaluation --manifest runs/fakexplain/r1/prepare_data/eval.jsonl \\
      --model runs/fakexplain/r1/merge_grpo/hf --output-dir /tmp/eval \\
      --config-json '{"backend": "transformers", "response_format": "think_tag_verdict",
                      "metrics": ["accuracy", "iou"], "limit": 8}'
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from common.errors import ConfigError, HarnessError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness.evaluation",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--manifest", required=True, help="evaluation manifest (eval.jsonl)")
    parser.add_argument(
        "--model", required=True, help="model folder (or the served model's name for backend openai)"
    )
    parser.add_argument("--output-dir", required=True, help="where predictions.jsonl and metrics.json go")
    parser.add_argument("--config-json", default="{}", help="eval options as one JSON object")
    parser.add_argument(
        "--expert-probs",
        help="the visual expert's probabilities (jsonl id/p_fake): sets collaborative_decoding.expert_probs",
    )
    parser.add_argument(
        "--expert-weight", type=float, help="sets collaborative_decoding.weight; 0 switches it off"
    )
    return parser


def with_expert_arguments(
    options: dict, expert_probs: str | None, expert_weight: float | None
) -> tuple[dict, str | None]:
    """Apply --expert-probs / --expert-weight to the options; (options, error or None).

    The harness passes the expert stage's output file as a flag (a stage's inputs are resolved
    paths; its options are not). A weight of 0 switches collaborative decoding off entirely (no
    bias, no forced prefix): the MLLM alone.
    """
    collab = options.get("collaborative_decoding")
    if (expert_probs is not None or expert_weight is not None) and not isinstance(collab, dict):
        return options, (
            "--expert-probs/--expert-weight need eval.collaborative_decoding settings "
            "(target_text, real_word, fake_word, ...); it is null"
        )
    if isinstance(collab, dict):
        collab = dict(collab)
        if expert_probs is not None:
            collab["expert_probs"] = expert_probs
        if expert_weight is not None:
            collab["weight"] = expert_weight
        if collab.get("weight", 1.0) == 0:
            collab = None
        options = {**options, "collaborative_decoding": collab}
    return options, None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from harness.evaluation.config import parse_eval_config
    from harness.evaluation.runner import evaluate

    try:
        options = json.loads(args.config_json)
    except json.JSONDecodeError as exc:
        print(f"error: --config-json is not valid JSON: {exc}", file=sys.stderr)
        return 2
    options, problem = with_expert_arguments(options, args.expert_probs, args.expert_weight)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        config = parse_eval_config(options)
        document = evaluate(
            args.manifest, args.model, args.output_dir, config, log=lambda message: print(message, flush=True)
        )
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    headline = {k: v for k, v in document["values"].items() if "/" not in k}
    print(json.dumps({"n_predictions": document["n_predictions"], **headline}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
