"""python -m harness.report --run-dir DIR [--run-dir DIR ...] [--config-json JSON] [--output-dir DIR]

Write report.md (the paper's tables with the run's numbers and their differences), report.json
and PNG figures (training curves, ROC curves). Several --run-dir (the folds of a multirun) give one
report with the mean and spread across them. Output goes to --output-dir, default the first run dir.

--config-json is the results config (conf/results/<paper>.yaml); without it the `results` section
of the first run's config.yaml is used, and without that only the run's own metrics are listed.

examples:
  python -m harness.report --run-dir runs/fakexplain/r1
  python -m harness.report --output-dir runs/fakexplain/cv__sweep \\
      --run-dir runs/fakexplain/cv__data.fold-0 --run-dir runs/fakexplain/cv__data.fold-1
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from common.errors import ConfigError, HarnessError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness.report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument(
        "--run-dir", action="append", required=True, help="a run directory (repeat for folds)"
    )
    parser.add_argument("--config-json", default=None, help="the results config as one JSON object")
    parser.add_argument(
        "--output-dir", default=None, help="where report.md goes (default: the first run dir)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from harness.report.builder import build_report

    config = None
    if args.config_json is not None:
        try:
            config = json.loads(args.config_json)
        except json.JSONDecodeError as exc:
            print(f"error: --config-json is not valid JSON: {exc}", file=sys.stderr)
            return 2
    try:
        build_report(args.run_dir, args.output_dir, config)
    except (ConfigError, HarnessError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
