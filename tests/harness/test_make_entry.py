"""`make reproduce` hands its variables to harness/make_entry.py as typed: no `$` expansion by make,
no shell between ARGS and Hydra. Before, the recipe pasted $(ARGS) into a shell line: make ate `$5`,
the shell dropped Hydra's quotes, and `ARGS='run_name=x; touch F'` ran touch. The targets that run a
script with ARGS (gpu-smoke, bench-learn, bench-table, bench-eval) did the same until they went
through `make_entry --script`."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from common.errors import ConfigError
from harness.make_entry import ENV_PREFIX, reproduce_argv, split_overrides
from tests.harness.conftest import REPO_ROOT, make_reproduce, run_make


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", []),
        ("  a=1   b=2 ", ["a=1", "b=2"]),
        # Hydra's quotes stay: a list of two strings, the first with a comma
        ('tags=["a,b",c]', ['tags=["a,b",c]']),
        ("x='a b' y=2", ["x='a b'", "y=2"]),
        # spaces inside brackets do not separate
        (
            "stages.sft.target_modules=[q_proj, v_proj] z=3",
            ["stages.sft.target_modules=[q_proj, v_proj]", "z=3"],
        ),
        ("m={a: 1, b: [2, 3]}", ["m={a: 1, b: [2, 3]}"]),
        ("lr=choice(1e-5, 2e-5)", ["lr=choice(1e-5, 2e-5)"]),
        # a whole override in shell quotes, as users wrote it before, loses that outer pair only
        ("'x=[1, 2]' \"y='a b'\"", ["x=[1, 2]", "y='a b'"]),
        ("'a'='b'", ["'a'='b'"]),
        ("'just text'", ["'just text'"]),
        # an escaped quote neither opens nor closes
        (r"x='it\'s' y=1", [r"x='it\'s'", "y=1"]),
        (r"x=a\ b", [r"x=a\ b"]),
        # shell syntax is text
        ("run_name=x; rm -rf ~", ["run_name=x;", "rm", "-rf", "~"]),
        ('s="$HOME $(id) `id`"', ['s="$HOME $(id) `id`"']),
    ],
)
def test_split_overrides(text: str, words: list[str]) -> None:
    assert split_overrides(text) == words


def test_split_for_a_script_unwraps_any_quoted_word() -> None:
    text = "--run-name 'my run' \"x\" 'a'='b' k='v w'"
    assert split_overrides(text) == ["--run-name", "'my run'", '"x"', "'a'='b'", "k='v w'"]
    assert split_overrides(text, unwrap_any=True) == ["--run-name", "my run", "x", "'a'='b'", "k='v w'"]


def test_an_unclosed_quote_names_args() -> None:
    with pytest.raises(ConfigError) as caught:
        split_overrides("a=1 b='x y")
    (problem,) = caught.value.problems
    assert problem.key == "ARGS" and "quote ' at character 7 is never closed" in problem.message


@pytest.mark.parametrize(
    ("dry_run", "switch"),
    [("1", ["dry_run=true"]), ("true", ["dry_run=true"]), ("0", ["dry_run=false"]), ("false", ["dry_run=false"]),
     ("ture", ["dry_run=ture"]), ("", [])],
)  # fmt: skip
def test_reproduce_argv_maps_make_variables(dry_run: str, switch: list[str]) -> None:
    env = {f"{ENV_PREFIX}PAPER": "fakexplain", f"{ENV_PREFIX}TABLE": "", f"{ENV_PREFIX}PROFILE": "smoke",
           f"{ENV_PREFIX}DRY_RUN": dry_run, f"{ENV_PREFIX}ARGS": "run_name=r 'tags=[a, b]'"}  # fmt: skip
    assert reproduce_argv(env) == ["paper=fakexplain", "profile=smoke", *switch, "run_name=r", "tags=[a, b]"]


def test_make_reproduce_hands_args_to_hydra_as_typed(tmp_path: Path) -> None:
    """`$`, `;`, parentheses, a glob, backticks and both quote kinds reach ms-swift's --system verbatim."""
    runs = tmp_path / "runs"
    for text in ("It costs $5; (a lot) * [x]", "it's $(HOME) `id` $$"):
        proc = make_reproduce(
            tmp_path, "PAPER=fakexplain", "PROFILE=full", "DRY_RUN=1",
            f"ARGS=+stages.sft.system=\"{text}\" run_name=t paths.runs={runs}",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        sft = next(
            line
            for line in proc.stdout.splitlines()
            if line.startswith("CUDA_VISIBLE") and " swift sft " in line
        )
        argv = shlex.split(sft)
        assert argv[argv.index("--system") + 1] == text, sft
    assert not runs.exists()  # a dry run


def test_make_reproduce_runs_no_command_from_args(tmp_path: Path) -> None:
    witness = tmp_path / "pwned"
    proc = make_reproduce(tmp_path, "PAPER=fakexplain", "DRY_RUN=1", f"ARGS=run_name=x; touch {witness}")
    assert proc.returncode == 2
    assert "error: touch: not an override: write key=value" in proc.stderr.splitlines(), proc.stderr
    assert not witness.exists()
    # an unclosed quote is named before anything runs
    proc = make_reproduce(tmp_path, "PAPER=fakexplain", "DRY_RUN=1", "ARGS=run_name='x")
    assert proc.returncode == 2 and proc.stderr.startswith("error: ARGS: the quote ' at character 10"), (
        proc.stderr
    )


def test_a_script_gets_args_as_its_argv(tmp_path: Path) -> None:
    """`--script`: ARGS split as for reproduce, any whole-quoted word unwrapped, the script exec'd."""
    dump = tmp_path / "dump.py"
    dump.write_text("import json, sys\nprint(json.dumps(sys.argv[1:]))\nraise SystemExit(7)\n")
    text = "--run-name 'my $run' --table table4 table_runs=[no_bbox, sft] s=\"`id` $(HOME)\""
    proc = subprocess.run(
        [sys.executable, "-m", "harness.make_entry", "--script", str(dump)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, f"{ENV_PREFIX}ARGS": text},
        timeout=60,
    )
    assert proc.returncode == 7, proc.stderr  # the script's own status
    echoed, received = proc.stdout.splitlines()
    expected = ["--run-name", "my $run", "--table", "table4", "table_runs=[no_bbox, sft]", 's="`id` $(HOME)"']
    assert json.loads(received) == expected
    assert shlex.split(echoed) == [sys.executable, str(dump), *expected]


def test_script_targets_run_no_command_from_args(tmp_path: Path) -> None:
    witness = tmp_path / "pwned"
    proc = run_make(tmp_path, "bench-eval", f"ARGS=--help; touch {witness}")
    assert proc.returncode != 0 and "unrecognized arguments: --help; touch" in proc.stderr, proc.stderr
    assert not witness.exists()
    proc = run_make(tmp_path, "bench-eval", "ARGS=--help")
    assert proc.returncode == 0 and "usage: bench_eval.py" in proc.stdout, proc.stderr
    proc = run_make(tmp_path, "gpu-smoke", "ARGS=--plan-only --paper 'x")
    assert proc.returncode == 2 and proc.stderr.startswith("error: ARGS: the quote ' at character 21"), (
        proc.stderr
    )


def test_every_make_target_with_args_reads_them_through_make_entry() -> None:
    """No recipe pastes $(ARGS) into a shell line (PYTEST_ARGS, pytest's own flags, aside)."""
    recipes = [line for line in (REPO_ROOT / "Makefile").read_text().splitlines() if line.startswith("\t")]
    assert not [line for line in recipes if "$(ARGS)" in line]
    scripts = {line.split("scripts/")[-1].rstrip(")") for line in recipes if "$(call run_script," in line}
    assert scripts == {"gpu_smoke.py", "bench_learn.py", "bench_table.py", "bench_eval.py"}
