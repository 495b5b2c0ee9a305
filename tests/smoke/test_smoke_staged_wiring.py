"""The staged smoke variant (`variant=staged profile=smoke`) chains FakeXplain's progressive GRPO
(002 §4.4) through three real ms-swift GRPO stages: alpha, beta, gamma, each from the previous
stage's merged weights, scored with its own stage weights, each followed by its evaluation.

Fast: the dry run's own command lines (what the runner executes); the real run is
`make bench-learn ARGS='variant=staged'`.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from harness.config import REPO_ROOT


def _dry_run(tmp_path: Path) -> dict[str, list[str]]:
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "paper=fakexplain", "profile=smoke", "variant=staged",
         "dry_run=true", f"paths.runs={tmp_path}", "run_name=st"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    stages: dict[str, list[str]] = {}
    name = None
    for line in proc.stdout.splitlines():
        if line.startswith("# stage: "):
            name = line.removeprefix("# stage: ").strip()
            stages[name] = []
        elif name is not None and line and not line.startswith("#"):
            stages[name] = shlex.split(line)
    return stages


def _flag(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def _env(argv: list[str], key: str) -> str:
    return next(word.split("=", 1)[1] for word in argv if word.startswith(f"{key}="))


def test_staged_smoke_runs_three_ms_swift_grpo_stages_in_a_chain(tmp_path: Path) -> None:
    stages = _dry_run(tmp_path)
    run = tmp_path / "fakexplain" / "st"
    names = list(stages)
    assert "grpo_cpu" not in stages  # no single stage stands in for the three
    schedules = yaml.safe_load((REPO_ROOT / "conf" / "reward" / "fakexplain.yaml").read_text())["schedules"]
    previous = run / "sft" / "final"  # the smoke SFT is a full fine-tune: merge_sft is bypassed
    weights = []
    for phase in ("alpha", "beta", "gamma"):
        grpo, merge = stages[f"grpo_cpu_{phase}"], stages[f"merge_cpu_{phase}"]
        swift = grpo.index("swift")
        assert grpo[swift : swift + 2] == ["swift", "rlhf"] and _flag(grpo, "--rlhf_type") == "grpo"
        assert _flag(grpo, "--model") == str(previous)  # from the previous stage's merged weights
        reward = json.loads(_env(grpo, "AIGI_REWARD"))
        expected = {k: v for k, v in schedules["staged"][phase].items() if not str(v).startswith("${")}
        assert expected and expected.items() <= reward["kwargs"].items(), phase  # its own stage weights
        weights.append(reward["kwargs"])
        assert _env(grpo, "AIGI_REWARD_PARTS") == str(run / f"grpo_cpu_{phase}" / "reward_parts.jsonl")
        assert _flag(merge, "--adapters") == str(run / f"grpo_cpu_{phase}" / "final")
        previous = run / f"merge_cpu_{phase}" / "merged"
        evaluation = stages["eval" if phase == "gamma" else f"eval_{phase}"]
        assert _flag(evaluation, "--model") == str(previous)
        # order: GRPO, merge, then its evaluation, before the next phase starts
        assert (
            names.index(f"grpo_cpu_{phase}")
            < names.index(f"merge_cpu_{phase}")
            < names.index("eval" if phase == "gamma" else f"eval_{phase}")
        )
    assert len({json.dumps(w, sort_keys=True) for w in weights}) == 3
    assert names[-1] == "report"
