"""A paper table as one command (harness/table.py): its runs are config deltas of the recipe that
compose and validate, the dry run lists each run's stages, a typo names the tables, a run's
`run_edit: {keep: [...]}` runs only what a column needs, a full fine-tune bypasses the LoRA merge,
and the report fills each column from its run and says which."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from harness.cli import main
from harness.config import Invocation
from harness.invoke import load_config
from harness.pipeline import stage_names
from harness.pipeline_edit import apply_pipeline_edit
from harness.plan import build_plan
from harness.report.builder import build_report
from harness.table import table_runs, tables_with_runs
from harness.validate.model_support import unrunnable_summary
from tests.evaluation.run_factory import make_run
from tests.harness.conftest import PAPERS, compose_paper, plan_for, table_run_plan

TABLE_PAPERS = [p for p in PAPERS if tables_with_runs(compose_paper(p))]
STAGED_TO_EVAL = (
    "prepare_data, download_model, sft, merge_sft, grpo_alpha, merge_alpha, grpo_beta, merge_beta, "
    "grpo_gamma, merge_gamma, eval, report"
)


def test_fakexplain_defines_table4() -> None:
    assert "fakexplain" in TABLE_PAPERS
    runs = [r.name for r in table_runs(compose_paper("fakexplain"), "table4")]
    assert runs == [
        "best", "no_ft", "no_bbox", "no_caption", "no_tags", "label_only",
        "sft", "grpo_alpha", "grpo_beta", "grpo_gamma",
    ]  # fmt: skip


@pytest.mark.parametrize("profile", ["full", "smoke"])
@pytest.mark.parametrize("paper", TABLE_PAPERS)
def test_every_table_run_composes_and_plans(paper: str, profile: str) -> None:
    cfg = compose_paper(paper, f"profile={profile}")
    for run in table_runs(cfg, "all"):
        member = load_config(Invocation(overrides=[f"paper={paper}", f"profile={profile}", *run.overrides]))
        plan = build_plan(member, run_name=f"t__{run.name}")
        assert plan.stages, run.name
        read = {s.name for s in plan.stages}
        resolved = OmegaConf.to_container(member, resolve=True)
        for table in tables_with_runs(cfg):
            for column in table.columns:
                if column.run == run.name:
                    # the stages the column's cells read are in the run's pipeline, or the model
                    # group says why they cannot run (the cell shows that instead of a number)
                    for row in table.rows:
                        stage = column.stage or row.stage or table.stage
                        assert stage in read or unrunnable_summary(resolved, stage), (
                            run.name,
                            column.name,
                            row.name,
                        )


def test_table_dry_run_lists_runs_and_their_stages(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(
        [
            "paper=fakexplain",
            "profile=full",
            "table=table4",
            "dry_run=true",
            "run_name=t4",
            f"paths.runs={tmp_path}",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[0] == "# table table4: 10 runs of paper fakexplain (run names t4__<run>)"
    head = out.split("=== t4__best ===")[0]
    listing = [line for line in head.splitlines() if line.startswith(("# run ", "#   stages", "#   reuses"))]
    assert listing[:5] == [
        "# run best (table4): variant=staged run_edit={keep:[eval]}",
        f"#   stages: {STAGED_TO_EVAL}",
        "# run no_ft (table4): variant=staged run_edit={keep:[eval_base]}",
        "#   stages: eval_base, report",
        "#   reuses: prepare_data (run best), download_model (run best)",
    ]
    # the partial-data runs prepare their own data; every training-strategy run reuses one SFT
    no_bbox = listing.index(
        "# run no_bbox (table4): variant=staged run_edit={keep:[eval]} +stages.prepare_data.options.drop=[boxes]"
    )
    assert listing[no_bbox + 1].startswith("#   stages: prepare_data, sft, merge_sft, grpo_alpha")
    assert listing[no_bbox + 2] == "#   reuses: download_model (run best)"
    one_sft = (
        "#   reuses: prepare_data (run best), download_model (run best), sft (run best), merge_sft (run best)"
    )
    sft = listing.index("# run sft (table4): variant=staged run_edit={keep:[eval_sft]}")
    assert listing[sft + 1 :] == [
        "#   stages: eval_sft, report",
        one_sft,
        *(
            line
            for weights in ("alpha", "beta", "gamma")
            for line in (
                f"# run grpo_{weights} (table4): variant=linear run_edit={{keep:[eval]}} "
                f"reward.schedules.linear=${{reward.schedules.staged.{weights}}}",
                "#   stages: grpo, merge_grpo, eval, report",
                one_sft,
            )
        ),
    ]
    # every run's own dry run follows, into its own run directory
    for run in ("best", "no_ft", "label_only", "grpo_gamma"):
        assert f"=== t4__{run} ===" in out
        assert f"{tmp_path}/fakexplain/t4__{run}\n" in out
    # each delta reaches the commands: data prep options, disabled reward terms, fixed weights
    blocks = dict(part.split(" ===\n", 1) for part in out.split("=== t4__")[1:])
    assert '"drop": ["boxes"]' in blocks["no_bbox"] and '"drop"' not in blocks["best"]
    assert '"label_only": true' in blocks["label_only"]
    assert "reward_kwargs.disabled_terms=[format]" in blocks["label_only"]
    # the verdict-only answers are evaluated by the format that reads them; the others by the recipe's
    assert '"response_format": "verdict_tag"' in blocks["label_only"]
    assert '"response_format": "think_tag_verdict"' in blocks["best"]
    assert "reward_kwargs.w_iou=2.0" in blocks["grpo_gamma"]
    assert "reward_kwargs.w_iou_start" not in blocks["grpo_gamma"]
    assert "trainer.total_epochs=3" in blocks["grpo_gamma"]  # 3 x 1 epoch of the staged pipeline
    assert "reward_kwargs.w_iou=1.0" in blocks["grpo_alpha"]


def test_a_table_typo_lists_the_tables(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["paper=fakexplain", "profile=full", "table=tabel4", "dry_run=true"])
    err = capsys.readouterr().err
    assert code == 2
    assert "table: paper fakexplain has no table 'tabel4' with runs" in err
    assert "did you mean" in err and "tables: table4" in err


def test_a_list_of_tables_runs_their_runs_in_the_order_asked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`table=[table6,table4]` is the runs of both tables, each once, in one command (the sweep
    hint for `table=table6,table4` offers that list, so it must run)."""
    cfg = compose_paper("fakexplain")
    both = table_runs(cfg, ["table6", "table4", "table6"])
    expected = [r.name for r in table_runs(cfg, "table6")] + [r.name for r in table_runs(cfg, "table4")]
    assert [r.name for r in both] == expected
    common = ["paper=fakexplain", "profile=full", "dry_run=true", "run_name=x", f"paths.runs={tmp_path}"]
    assert main([*common, "table=[table6,table4]", "table_runs=[no_ft,ood_no_ft]"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "# table table6-table4: 2 runs of paper fakexplain (run names x__<run>)"
    assert [ln.split(" (")[0] for ln in lines if ln.startswith("# run ")] == [
        "# run ood_no_ft",
        "# run no_ft",
    ]
    # the single-run hint for a comma offers the list and no text with a comma (no table id has one)
    assert main([*common, "table=table6,table4"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: table: 'table6,table4' is a sweep (Hydra runs the recipe once per value) and this is a "
        "single run: for a list type table=[table6,table4]"
    ]


def test_a_list_of_tables_names_each_unknown_id(capsys: pytest.CaptureFixture[str]) -> None:
    common = ["paper=fakexplain", "profile=full", "dry_run=true"]
    assert main([*common, "table=[table4,nope,tabel6]"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert [ln.split(" with runs")[0] for ln in err] == [
        "error: table: paper fakexplain has no table 'nope'",
        "error: table: paper fakexplain has no table 'tabel6'",
    ]
    assert "did you mean: table6" in err[1]
    assert main([*common, "table=[]"]) == 2
    assert capsys.readouterr().err.startswith(
        "error: table: names no table; tables of paper fakexplain: table4"
    )
    assert main([*common, "table=[all,table4]"]) == 2
    assert "error: table: all is every table: give all alone or a list of ids" in capsys.readouterr().err


def test_a_list_of_tables_is_one_submission_and_one_report_of_those_tables(tmp_path: Path) -> None:
    """On Slurm with submit=false: the scripts of each run and one report across them, in
    `<base>__table6-table4`, whose results config holds the two tables asked for and no other."""
    import shlex
    import subprocess
    import sys

    from harness.config import REPO_ROOT

    argv = [
        sys.executable, "-m", "harness", "paper=fakexplain", "profile=smoke", "table=[table6,table4]",
        "table_runs=[no_ft,ood_no_ft]", "run_name=t", "cluster=slurm", "cluster.gpus_per_node=0",
        f"paths.runs={tmp_path}", "submit=false",
    ]  # fmt: skip
    proc = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    root = tmp_path / "fakexplain"
    assert (root / "t__no_ft" / "slurm").is_dir() and (root / "t__ood_no_ft" / "slurm").is_dir()
    script = (root / "t__table6-table4" / "slurm" / "sweep_report.sbatch").read_text()
    [line] = [ln for ln in script.splitlines() if "--config-json" in ln]
    words = shlex.split(line)
    config = json.loads(words[words.index("--config-json") + 1])
    assert [t["id"] for t in config["tables"]] == ["table4", "table6"]
    assert words.count("--run-dir") == 2


def test_a_paper_without_table_runs_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert TABLE_PAPERS == PAPERS  # every paper has a table of runs (the golden listings below)
    # a results config whose tables name no runs (a newly added paper's, or one emptied here)
    args = ["paper=fake_hr1", "profile=full", "table=all", "dry_run=true", "results.tables=[]"]
    assert main(args) == 2
    assert "no table of its results config has runs" in capsys.readouterr().err


def test_keep_follows_what_stages_read_and_readds_a_dropped_stage() -> None:
    reads = {"a": [], "b": ["a"], "c": ["b"], "d": ["a"], "e": [], "r": [], "p": [], "s": ["p"]}
    needs = reads.__getitem__
    kept = apply_pipeline_edit(["a", "p", "s", "b", "c", "e", "r"], {"keep": ["d"]}, list(reads), needs=needs)
    # d was not listed: added right after a, which it reads; e and r stand alone (read nothing and
    # nothing reads them: a download, the report) and stay; p reads nothing but only s, which goes,
    # reads it (a data preparation for a dropped SFT): it goes too
    assert kept == ["a", "d", "e", "r"]
    assert apply_pipeline_edit(["p", "s", "b"], {"keep": ["s"]}, list(reads), needs=needs) == ["p", "s"]
    assert apply_pipeline_edit(["a", "b", "c", "e"], {"keep": ["c"]}, list(reads), needs=needs) == [
        "a",
        "b",
        "c",
        "e",
    ]
    from common.errors import ConfigError

    with pytest.raises(ConfigError, match=r"run_edit.keep\[0\]: stage 'cc' is not defined"):
        apply_pipeline_edit(["a", "c"], {"keep": ["cc"]}, list(reads), needs=needs, where="run_edit")


def test_keep_in_the_smoke_overlay_readds_eval_base() -> None:
    cfg = compose_paper("fakexplain", "profile=smoke", "variant=staged", "run_edit={keep:[eval_base]}")
    assert stage_names(cfg) == ["tiny_model", "synth_data", "prepare_data", "eval_base", "report"]


def test_a_full_fine_tune_bypasses_the_lora_merge() -> None:
    plan = plan_for("fakexplain", "variant=staged", "stages.sft.tuner_type=full", "allow_oom_risk=true")
    names = [s.name for s in plan.stages]
    assert "merge_sft" not in names and "sft" in names
    sft_out = str(plan.stage("sft").output)
    assert plan.stage("eval_sft").ctx.inputs["model"] == sft_out
    assert plan.stage("grpo_alpha").ctx.inputs["model"] == sft_out
    lora = plan_for("fakexplain", "variant=staged")
    assert lora.stage("eval_sft").ctx.inputs["model"] == str(lora.stage("merge_sft").output)


def test_the_report_fills_each_column_from_its_run(tmp_path: Path) -> None:
    results = compose_paper("fakexplain").results
    from omegaconf import OmegaConf

    results = OmegaConf.to_container(results, resolve=True)
    table4 = {"tables": [t for t in results["tables"] if t["id"] == "table4"], "paper": "fakexplain"}
    dirs = []
    for run, stage, acc in (("best", "eval", 0.9), ("no_ft", "eval_base", 0.6), ("sft", "eval_sft", 0.8)):
        path = make_run(
            tmp_path, f"t4__{run}", "fakexplain", [(stage, "eval", "completed")],
            metrics={stage: {"accuracy": acc, "iou": 0.3}},
        )  # fmt: skip
        (path / "config.yaml").write_text(yaml.safe_dump({"table_run": run, "paper": {"name": "fakexplain"}}))
        dirs.append(path)
    build_report(dirs, tmp_path / "report", table4, log=lambda s: None)
    cells = json.loads((tmp_path / "report" / "report.json").read_text())["tables"][0]["rows"][0]["cells"]
    assert cells["Best"]["mean"] == 0.9 and cells["Best"]["filled_by"] == ["t4__best"]
    assert cells["No-FT"]["mean"] == 0.6 and cells["No-FT"]["filled_by"] == ["t4__no_ft"]
    assert cells["SFT"]["mean"] == 0.8  # the best run's eval does not leak into other columns
    assert cells["no-bbox"]["status"] == "not run" and cells["no-bbox"]["mean"] is None
    text = (tmp_path / "report" / "report.md").read_text()
    assert "0.900 (run best: t4__best)" in text and "not run (run no_bbox)" in text


@pytest.mark.parametrize(
    "table_id, cells_na",
    [
        ("table4", {"IoU": ["no-bbox", "label-only"]}),
        ("iclr_table4", {"IoU": ["no-bbox", "label-only"], "BLEU-2": ["no-caption", "label-only"]}),
    ],
)
def test_a_metric_the_paper_computes_not_for_an_ablation_is_na(
    table_id: str, cells_na: dict[str, list[str]], tmp_path: Path
) -> None:
    """No boxes trained, no IoU in the paper (002 §5.3, 004 Table 4): the cell is n/a, not the run's
    0.000 set against the paper's blank; the other metrics of those runs are filled."""
    from omegaconf import OmegaConf

    results = OmegaConf.to_container(compose_paper("fakexplain").results, resolve=True)
    (table,) = [t for t in results["tables"] if t["id"] == table_id]
    column_run = {c["name"]: c["run"] for c in table["columns"]}
    dirs = []
    for run in {column_run[c] for columns in cells_na.values() for c in columns}:
        path = make_run(
            tmp_path, f"t__{run}", "fakexplain", [("eval", "eval", "completed")],
            metrics={"eval": {"accuracy": 0.9, "iou": 0.0, "bleu2": 0.0}},
        )  # fmt: skip
        (path / "config.yaml").write_text(yaml.safe_dump({"table_run": run, "paper": {"name": "fakexplain"}}))
        dirs.append(path)
    build_report(dirs, tmp_path / "report", {"tables": [table], "paper": "fakexplain"}, log=lambda s: None)
    rows = {
        r["name"]: r["cells"]
        for r in json.loads((tmp_path / "report" / "report.json").read_text())["tables"][0]["rows"]
    }
    for row, columns in cells_na.items():
        for column in columns:
            assert rows[row][column]["status"] == "n/a" and rows[row][column]["mean"] is None, (row, column)
    assert all(rows["Acc"][c]["mean"] == 0.9 for columns in cells_na.values() for c in columns)
    assert rows["IoU"]["no-tags"]["status"] == "not run"  # a column with boxes is still read from its run


def test_table_runs_selects_runs_and_a_typo_lists_them(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    common = ["paper=fakexplain", "profile=full", "table=table4", "dry_run=true", f"paths.runs={tmp_path}"]
    assert main([*common, "table_runs=[no_ft,sfft]"]) == 2
    err = capsys.readouterr().err
    assert (
        "table_runs: table table4 has no run 'sfft' (did you mean: sft?)" in err
        and "runs: best, no_ft" in err
    )
    # one run without brackets is that run, not the letters of its name
    for only in ("table_runs=[no_ft]", "table_runs=no_ft"):
        assert main([*common, only, "run_name=x"]) == 0
        out = capsys.readouterr().out
        assert out.splitlines()[:3] == [
            "# table table4: 1 run of paper fakexplain (run names x__<run>)",
            "# run no_ft (table4): variant=staged run_edit={keep:[eval_base]}",
            "#   stages: prepare_data, download_model, eval_base, report",
        ]
    assert main([*common, "table_runs=[]"]) == 2
    assert "error: table_runs: names no run; runs of table table4: best, no_ft" in capsys.readouterr().err


def test_a_stage_subset_is_what_the_table_lists_and_every_run_must_have_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`stages=[...]` with a table: the header lists only the selected stages of each run (and
    what the runs share of them); a stage one run lacks (in `stages` or `from_stage`) stops the
    table before its first run (before, the runs before it ran, then the table stopped), every such
    stage in one report."""
    common = [
        "paper=fakexplain",
        "profile=full",
        "table=table4",
        "dry_run=true",
        f"paths.runs={tmp_path}",
        "run_name=x",
    ]
    assert main([*common, "table_runs=[best,no_bbox]", "stages=[prepare_data,sft]"]) == 0
    head = capsys.readouterr().out.splitlines()[:6]
    assert (
        head[0]
        == "# table table4: 2 runs of paper fakexplain (run names x__<run>); only stages prepare_data, sft"
    )
    assert head[2] == "#   stages: prepare_data, sft" and head[4] == "#   stages: prepare_data, sft", head
    assert main([*common, "table_runs=[best,no_ft,sft]", "stages=[sft,evall]"]) == 2
    captured = capsys.readouterr()
    errors = [ln for ln in captured.err.splitlines() if ln.startswith("error: ")]
    assert errors == [
        "error: stages: no stage 'evall' in the pipeline of runs best, no_ft, sft of table table4 (did you "
        "mean: eval, eval_sft?); choose runs that have it with table_runs=[...], or leave it out of stages",
        "error: stages: no stage 'sft' in the pipeline of run no_ft of table table4; choose runs that have "
        "it with table_runs=[...], or leave it out of stages",
    ], captured.err
    assert "=== x__" not in captured.out  # no run's own dry run started
    assert main([*common, "table_runs=[best,no_ft]", "from_stage=sft"]) == 2
    captured = capsys.readouterr()
    assert (
        captured.err.splitlines()
        == [
            "error: from_stage: no stage 'sft' in the pipeline of run no_ft of table table4; choose runs that "
            "have it with table_runs=[...], or leave it out of from_stage"
        ]
        and "=== x__" not in captured.out
    )


def test_what_the_table_sets_per_run_is_refused_not_replaced(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The table sets table_run and run_edit for each run: a user's own value would be dropped for
    every run, so it is an error naming the key, reported together and before anything runs."""
    common = ["paper=fakexplain", "profile=full", "table=table4", "dry_run=true", f"paths.runs={tmp_path}"]
    assert main([*common, "table_run=sft", "run_edit={keep:[eval]}"]) == 2
    captured = capsys.readouterr()
    errors = [ln for ln in captured.err.splitlines() if ln.startswith("error: ")]
    assert [ln.split(":")[1].strip() for ln in errors] == ["table_run", "run_edit"], captured.err
    assert "set table_runs=[<run>, ...]" in errors[0] and not captured.out
    assert not (tmp_path / "fakexplain").exists()


@pytest.mark.parametrize(
    ("paper", "table", "run", "stage", "model_from"),
    [
        ("fake_hr1", "training_stages", "hr1_no_ft", "eval", None),
        ("fake_hr1", "training_stages", "hr1_hft", "eval", "sft"),
        ("fake_hr1", "training_stages", "hr1_hft_hgrpo", "eval", "merge_grpo"),
        ("aigi_holmes", "training_stages", "holmes_no_ft", "eval_mllm", None),
        ("aigi_holmes", "training_stages", "holmes_sft", "eval_mllm", "merge_sft"),
        ("aigi_holmes", "training_stages", "holmes_sft_dpo", "eval_mllm", "merge_dpo"),
        ("aigi_holmes", "training_stages", "holmes_full", "eval", "merge_dpo"),
        ("fakescope", "table8_training_data", "fs_none", "eval", None),
        ("fakescope", "table8_training_data", "fs_full", "eval", "sft"),
    ],
)
def test_the_other_papers_table_runs_evaluate_the_model_their_column_names(
    paper: str, table: str, run: str, stage: str, model_from: str | None
) -> None:
    plan, cfg = table_run_plan(paper, table, run)
    model = plan.stage(stage).ctx.inputs["model"]
    if model_from is None:  # No-FT: the backbone as published
        assert model == str(cfg.model.path) and "sft" not in [s.name for s in plan.stages]
    else:
        assert model == str(plan.stage(model_from).output)


@pytest.mark.parametrize("only", ["absolute", "contextual"])
def test_fakescope_table8_runs_keep_one_instruction_type(only: str) -> None:
    plan, _ = table_run_plan("fakescope", "table8_training_data", f"fs_only_{only}")
    argv = plan.stage("prepare_data").rendered.argv
    assert json.loads(argv[argv.index("--options") + 1])["only"] == only
