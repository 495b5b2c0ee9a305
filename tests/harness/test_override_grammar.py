"""Values Hydra's override grammar reads only in quotes, and comma lists in a single run.

Found by typing them: `paths.runs=/home/josé/runs`, a system prompt with `!` or `(`, a prompt in
Chinese got Hydra's "OverrideParseException: LexerNoViableAltException: ..." or "mismatched input
'(' expecting <EOF>", and `table_runs=best,no_ft` its "Ambiguous value for argument": none said to
quote the value or how to get quotes past the shell. Each message now names the key and the
argument to type; typing it (through a real shell) gives the value that was meant.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.config import REPO_ROOT, compose

BASE = ["paper=fakexplain", "profile=full", "dry_run=true"]
QUOTES = "(letters outside ASCII and ! # & ; < = ^ ~ ' \" ( [ { need them)"
# Values a researcher types: punctuation of a prompt, another language, quotes, a trailing backslash.
HOSTILE = [
    "Is this image real or fake? Answer (real/fake)!",
    "这张图片是真实的还是生成的？",
    "Est-ce réel ; ou généré & retouché ?",
    'it\'s "generated" # maybe',
    "(old) C:\\prompts\\",
    "back\\'slash and \\\" both",
    "~tilde ^caret <angle [bracket {brace",
]


def _printed_suggestion(message: str) -> str:
    """The argument the message says to type, as printed (shell quotes included)."""
    found = re.search(r"type (.+) \(the outer quotes are the shell's", message)
    assert found, message
    return found.group(1)


def test_an_unquoted_value_names_its_key_and_the_argument_to_type(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = f"paths.runs={tmp_path}"
    assert main([*BASE, runs, "+stages.sft.system=Is it real!x"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: stages.sft.system: Hydra's grammar reads the value 'Is it real!x' only in quotes {QUOTES}: "
        "type '+stages.sft.system=\"Is it real!x\"' (the outer quotes are the shell's, the inner ones Hydra's)"
    ]
    # every bad override of the command line at once, each under its key
    assert main([*BASE, runs, "+stages.sft.system=Réel (ou pas)", "run_name=x", "+stages.sft.tag=a#b"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert [line.split(":")[1].strip() for line in err] == ["stages.sft.system", "stages.sft.tag"]
    # the same in a multirun, whose sweep is parsed first
    assert main([*BASE, runs, "-m", "data.fold=0,1", "+stages.sft.system=Is it real!x"]) == 2
    assert capsys.readouterr().err.startswith("error: stages.sft.system: Hydra's grammar reads the value")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", HOSTILE)
def test_the_argument_it_says_to_type_composes_the_value_meant(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*BASE, f"+stages.sft.system={value}"]) == 2
    printed = _printed_suggestion(capsys.readouterr().err)
    # a real shell makes one argument of it, as when a user pastes it
    echo = f"{shlex.quote(sys.executable)} -c 'import sys; print(len(sys.argv), sys.argv[1])' {printed}"
    out = subprocess.run(["bash", "-c", echo], capture_output=True, text=True, check=True).stdout
    count, typed = out.rstrip("\n").split(" ", 1)
    assert count == "2"
    assert compose([*BASE, typed]).stages.sft.system == value


def test_a_comma_list_in_a_single_run_says_how_to_write_a_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = f"paths.runs={tmp_path}"
    assert main(["paper=fakexplain", "table=table4", "table_runs=best,no_ft", "dry_run=true", runs]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: table_runs: 'best,no_ft' is a sweep (Hydra runs the recipe once per value) and this is a "
        "single run: for a list type table_runs=[best,no_ft]"
    ]  # no -m (a multirun does not run tables), no text with a comma (no run name has one)
    assert main([*BASE, runs, "stages.sft.learning_rate=choice(1e-5,2e-5)"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: stages.sft.learning_rate: 'choice(1e-5,2e-5)' is a sweep (Hydra runs the recipe once per "
        "value) and this is a single run: give one value, or add -m to run once per value"
    ]
    assert main(["paper=fakexplain", "table=table4", "table_runs=[best,no_ft]", "dry_run=true", runs]) == 0
    assert list(tmp_path.iterdir()) == []


def test_a_path_outside_ascii_needs_no_quotes(tmp_path: Path) -> None:
    """The harness quotes paths.* values itself; its test for a plain path took é for a word
    character, so /home/josé/runs went to Hydra unquoted."""
    runs = tmp_path / "josé" / "运行"
    cfg = compose([*BASE, f"paths.runs={runs}", f"paths.data={runs}/data"])
    assert (cfg.paths.runs, cfg.paths.data) == (str(runs), f"{runs}/data")
    done = subprocess.run(
        [sys.executable, "-m", "harness", *BASE, f"paths.runs={runs}"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert f"run: {runs}/fakexplain/" in done.stdout


RUN_NAME_RULE = (
    "is not a valid run name: use letters, digits, '-', '_' and '.' (not first), at most 100 characters"
)


@pytest.mark.parametrize("value", ["é", "a(b", "run#1"])
def test_a_run_name_hydra_cannot_read_gets_the_run_name_rule_at_once(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Quoting it would only lead to a second error (the run-name rule): the rule is said first."""
    assert main([*BASE, f"paths.runs={tmp_path}", f"run_name={value}"]) == 2
    assert capsys.readouterr().err.splitlines() == [f"error: run_name: {value!r} {RUN_NAME_RULE}"]
    # in a multirun too, whose sweep is parsed first
    assert main([*BASE, f"paths.runs={tmp_path}", "-m", "data.fold=0,1", f"run_name={value}"]) == 2
    assert capsys.readouterr().err.splitlines() == [f"error: run_name: {value!r} {RUN_NAME_RULE}"]
    assert list(tmp_path.iterdir()) == []


def test_a_run_name_sweep_names_the_item_that_breaks_the_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hydra cannot read the sweep, so the rule saw 'é,b' whole; the item is what to change."""
    assert main([*BASE, f"paths.runs={tmp_path}", "-m", "run_name=b,é,c"]) == 2
    assert capsys.readouterr().err.splitlines() == [f"error: run_name: 'é' {RUN_NAME_RULE}"]
    assert main([*BASE, f"paths.runs={tmp_path}", "run_name=é,b"]) == 2
    assert capsys.readouterr().err.splitlines() == [f"error: run_name: 'é' {RUN_NAME_RULE}"]
    assert list(tmp_path.iterdir()) == []


def test_a_run_name_sweep_is_offered_no_list_and_no_text_with_a_comma(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A list, or text with a comma, is no run name; one value or a multirun (one run per name) is."""
    assert main([*BASE, f"paths.runs={tmp_path}", "run_name=a,b"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: run_name: 'a,b' is a sweep (Hydra runs the recipe once per value) and this is a single "
        "run: give one value, or add -m to run once per value"
    ]
    assert main([*BASE, f"paths.runs={tmp_path}", "-m", "run_name=a,b"]) == 0
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "typed, meant",
    [
        ("[--constraint=a100,--job-name=aigi]", ["--constraint=a100", "--job-name=aigi"]),
        ("[source ~/env.sh, module load cuda/12.4]", ["source ~/env.sh", "module load cuda/12.4"]),
    ],
)
def test_a_list_whose_items_need_quotes_is_offered_the_items_quoted(
    typed: str, meant: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Quoting the whole list (the value hint) made a string that the list-typed key refuses."""
    key = "cluster.slurm.extra_sbatch" if "constraint" in typed else "cluster.slurm.setup"
    assert main([*BASE, "cluster=slurm", f"{key}={typed}"]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(
        f"error: {key}: Hydra's grammar reads the items of the list {typed!r} only in quotes "
    )
    printed = _printed_suggestion(line)
    echo = f"{shlex.quote(sys.executable)} -c 'import sys; print(len(sys.argv), sys.argv[1])' {printed}"
    out = subprocess.run(["bash", "-c", echo], capture_output=True, text=True, check=True).stdout
    count, argument = out.rstrip("\n").split(" ", 1)
    assert count == "2"
    cfg = compose([*BASE, "cluster=slurm", argument])
    assert list(cfg.cluster.slurm[key.rsplit(".", 1)[1]]) == meant


def test_an_equals_sign_in_a_value_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*BASE, "+stages.sft.system=a=b"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: stages.sft.system: Hydra's grammar reads the value 'a=b' only in quotes {QUOTES}: "
        "type '+stages.sft.system=\"a=b\"' (the outer quotes are the shell's, the inner ones Hydra's)"
    ]
