"""FakeXplain's out-of-distribution evaluation (002 App. E.1 Table 6, 004 Table 3) as data: the
data.ood roots are read only by the prepare_ood_* / eval_ood_* stages, which only the tables that
report them add; table6 is table4's configurations on the OoD sets; a missing set stops a table
before its first run; an OoD prepare stage converts a folder with the recipe's own prompts; the
report fills each OoD cell from its run and set (issue 18)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pytest
import yaml
from omegaconf import OmegaConf
from PIL import Image

from data_prep.conversion import run_conversion
from data_prep.sources.fakexplained import template_prompt
from harness.cli import main
from harness.pipeline import stage_names
from harness.report.builder import build_report
from harness.table import table_runs
from harness.validate import missing_inputs
from tests.evaluation.run_factory import make_run

from .conftest import compose_paper, plan_for

OOD_EDIT_002 = (
    "run_edit={before:{report:[prepare_ood_gpt4o,eval_ood_gpt4o,prepare_ood_ffpp,eval_ood_ffpp]},"
    "keep:[eval_ood_gpt4o,eval_ood_ffpp]}"
)


def _png(path: Path, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = (np.random.default_rng(seed).random((48, 64, 3)) * 255).astype("uint8")
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture()
def ood_sets(tmp_path: Path) -> dict[str, Path]:
    """002's two sets, small: 4o images (fakes only) and FF++ frames per manipulation method."""
    gpt4o, ffpp = tmp_path / "ood" / "4o", tmp_path / "ood" / "ffpp"
    _png(gpt4o / "1_fake" / "a.png", 0)
    _png(gpt4o / "1_fake" / "b.png", 1)
    _png(ffpp / "Deepfakes" / "0_real" / "000.png", 2)
    _png(ffpp / "Deepfakes" / "1_fake" / "000_003.png", 3)
    return {"gpt4o": gpt4o, "ffpp": ffpp}


def test_no_recipe_pipeline_reads_an_ood_set(tmp_path: Path) -> None:
    # `make reproduce PAPER=fakexplain` needs no OoD set: no stage of either variant reads data.ood
    # (nor the smoke pipeline's), and a real run without the sets has no missing input of theirs.
    for overrides in (["variant=staged"], ["profile=smoke", "variant=staged"], ["profile=smoke"]):
        assert not [n for n in stage_names(compose_paper("fakexplain", *overrides)) if "ood" in n], overrides
    plan = plan_for("fakexplain", f"paths.data={tmp_path}/data")  # the default variant, linear
    assert not [s.name for s in plan.stages if "ood" in s.name]
    assert [p.key for p in missing_inputs(plan)] == ["stages.prepare_data.inputs.input"]  # FakeXplained only


def test_table6_is_table4_on_the_ood_sets() -> None:
    cfg = compose_paper("fakexplain")
    table4 = {r.name: r.overrides for r in table_runs(cfg, "table4")}
    table6 = {r.name: r.overrides for r in table_runs(cfg, "table6")}
    assert list(table6) == [f"ood_{name}" for name in table4]
    for name, overrides in table4.items():
        ood = table6[f"ood_{name}"]
        assert OOD_EDIT_002 in ood
        # the same configuration; the model the OoD stages evaluate is the column's
        assert [o for o in ood if not o.startswith(("run_edit=", "ood_model="))] == [
            o for o in overrides if not o.startswith("run_edit=")
        ]
    assert "ood_model=${model.path}" in table6["ood_no_ft"]
    assert "ood_model=stage:merge_sft" in table6["ood_sft"]
    results = OmegaConf.to_container(cfg.results, resolve=True)
    tables = {t["id"]: t for t in results["tables"]}
    assert [c["name"] for c in tables["table6"]["columns"]] == [
        c["name"] for c in tables["table4"]["columns"]
    ]
    rows = {r["stage"]: r["paper"] for r in tables["table6"]["rows"]}
    assert (rows["eval_ood_gpt4o"]["Best"], rows["eval_ood_ffpp"]["Best"]) == (0.803, 0.879)  # 002 Table 6
    assert (rows["eval_ood_gpt4o"]["No-FT"], rows["eval_ood_ffpp"]["No-FT"]) == (0.412, 0.565)
    iclr = {r["stage"]: r["paper"]["FakeXplainer"] for r in tables["iclr_ood"]["rows"]}
    assert iclr == {"eval_ood_fakeclue": 0.852, "eval_ood_chameleon": 0.843, "eval_ood_gpt_image_1": 0.801,
                    "eval_ood_ffpp": 0.864, "eval_ood_mmfr": 0.874}  # fmt: skip


def _argv(block: str, stage: str) -> list[str]:
    """The command line printed under `# stage: <stage>` in a run's dry run."""
    lines = block.split(f"# stage: {stage}\n", 1)[1].splitlines()
    return shlex.split(next(line for line in lines if not line.startswith("#")))


def test_table6_dry_run_lists_the_ood_stages_and_their_inputs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, ood_sets: dict[str, Path]
) -> None:
    runs = tmp_path / "runs"
    code = main([
        "paper=fakexplain", "profile=full", "table=table6", "table_runs=[ood_best,ood_no_ft]", "dry_run=true",
        "run_name=t6", f"paths.runs={runs}", f"data.ood.gpt4o={ood_sets['gpt4o']}", f"data.ood.ffpp={ood_sets['ffpp']}",
    ])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    listing = [line for line in out.split("=== t6__")[0].splitlines() if line.startswith(("# run", "#   "))]
    assert listing[:2] == [
        f"# run ood_best (table6): variant=staged {OOD_EDIT_002}",
        "#   stages: prepare_data, download_model, sft, merge_sft, grpo_alpha, merge_alpha, grpo_beta, "
        "merge_beta, grpo_gamma, merge_gamma, prepare_ood_gpt4o, eval_ood_gpt4o, prepare_ood_ffpp, "
        "eval_ood_ffpp, report",
    ]
    assert listing[3:5] == [
        "#   stages: eval_ood_gpt4o, eval_ood_ffpp, report",
        # the backbone's OoD evaluation prepares no training data (`keep` drops it)
        "#   reuses: download_model (run ood_best), prepare_ood_gpt4o (run ood_best), "
        "prepare_ood_ffpp (run ood_best)",
    ]
    blocks = dict(part.split(" ===\n", 1) for part in out.split("=== t6__")[1:])
    best, no_ft = blocks["ood_best"], blocks["ood_no_ft"]
    for name, root in ood_sets.items():
        prepare = _argv(best, f"prepare_ood_{name}")
        assert prepare[prepare.index("--source") + 1] == "testset_folders"
        assert prepare[prepare.index("--input") + 1] == str(root)
        options = json.loads(prepare[prepare.index("--options") + 1])
        assert options["templates"].endswith("conf/data_prep/fakexplain_templates.yaml")
        assert options["region_syntax"] == "json"
        for run, block in (("ood_best", best), ("ood_no_ft", no_ft)):
            evaluate = _argv(block, f"eval_ood_{name}")
            manifest = evaluate[evaluate.index("--manifest") + 1]
            assert manifest == f"{runs}/fakexplain/t6__{run}/prepare_ood_{name}/eval.jsonl"
        # Best evaluates the end of the staged pipeline, No-FT the downloaded base model
        model = _argv(best, f"eval_ood_{name}")
        assert model[model.index("--model") + 1].startswith(f"{runs}/fakexplain/t6__ood_best/merge_gamma")
        model = _argv(no_ft, f"eval_ood_{name}")
        assert model[model.index("--model") + 1] == str(compose_paper("fakexplain").model.path)
    sft = plan_for("fakexplain", "variant=staged", OOD_EDIT_002, "ood_model=stage:merge_sft")
    assert sft.stage("eval_ood_ffpp").ctx.inputs["model"] == str(sft.stage("merge_sft").output)


def test_a_missing_ood_set_stops_the_table_before_any_run(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    ood_sets: dict[str, Path],
) -> None:
    started: list[object] = []
    monkeypatch.setattr("harness.table.execute", lambda *args, **kwargs: started.append(args) or 0)
    code = main([
        "paper=fakexplain", "profile=smoke", "table=table6", "table_runs=[ood_no_ft,ood_sft]",
        f"paths.runs={tmp_path}/runs", f"data.ood.gpt4o={tmp_path}/nowhere", f"data.ood.ffpp={ood_sets['ffpp']}",
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and not started and not (tmp_path / "runs").exists()
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err  # one line for both runs
    key = "stages.prepare_ood_gpt4o.inputs.input"
    assert errors[0].startswith(
        f"error: {key}: {tmp_path}/nowhere does not exist; put the file there or point {key}"
    )
    assert "Point data.ood.gpt4o at a folder with 1_fake/" in errors[0]
    assert errors[0].endswith("[table table6, runs: ood_no_ft, ood_sft]")


def test_an_ood_prepare_stage_converts_a_folder_with_the_recipe_prompts(
    tmp_path: Path, ood_sets: dict[str, Path]
) -> None:
    plan = plan_for(
        "fakexplain", f"data.ood.ffpp={ood_sets['ffpp']}", "run_edit={before:{report:[prepare_ood_ffpp]}}"
    )
    argv = list(plan.stage("prepare_ood_ffpp").rendered.argv)
    options = json.loads(argv[argv.index("--options") + 1])
    out = tmp_path / "out"
    run_conversion("testset_folders", [ood_sets["ffpp"]], out, options=options, echo=lambda s: None)
    rows = [json.loads(line) for line in (out / "eval.jsonl").read_text().splitlines()]
    assert [(r["id"], r["label"], r["generator"]) for r in rows] == [
        ("ffpp/Deepfakes/0_real/000.png", "real", "Deepfakes"),
        ("ffpp/Deepfakes/1_fake/000_003.png", "fake", "Deepfakes"),
    ]
    for row in rows:  # what the FakeXplained manifest would ask of the same image id
        assert row["messages"] == template_prompt(options["templates"], row["id"], 0, "json")
        assert row["messages"][0]["role"] == "system" and "<region-format>" not in json.dumps(row)
        assert row["frame"] is not None  # the model frame predicted boxes are in
    assert rows[0]["messages"] != [{"role": "user", "content": "<image>Is this image real or AI-generated?"}]
    # the jsonl form of a set gets the same prompt for the same id
    listing = tmp_path / "ffpp.jsonl"
    listing.write_text(json.dumps({"file_path": str(ood_sets["ffpp"] / "Deepfakes/0_real/000.png"),
                                   "label": "real", "id": rows[0]["id"]}) + "\n")  # fmt: skip
    run_conversion("testset_jsonl", [listing], tmp_path / "out_jsonl", options=options, echo=lambda s: None)
    (row,) = [json.loads(line) for line in (tmp_path / "out_jsonl" / "eval.jsonl").read_text().splitlines()]
    assert row["messages"] == rows[0]["messages"]
    with pytest.raises(ValueError, match="region_syntax must be one of"):
        run_conversion("testset_folders", [ood_sets["ffpp"]], tmp_path / "bad",
                       options={**options, "region_syntax": "jsn"}, echo=lambda s: None)  # fmt: skip


def test_the_report_fills_each_ood_cell_from_its_run_and_set(tmp_path: Path) -> None:
    results = OmegaConf.to_container(compose_paper("fakexplain").results, resolve=True)
    chosen = {
        "tables": [t for t in results["tables"] if t["id"] in ("table6", "iclr_ood")],
        "paper": "fakexplain",
    }
    dirs = []
    for run, metrics in (
        ("ood_best", {"eval": 0.99, "eval_ood_gpt4o": 0.81, "eval_ood_ffpp": 0.88}),
        ("ood_no_ft", {"eval_ood_gpt4o": 0.41}),  # its FF++ evaluation did not run
        ("ood_final", {"eval_ood_mmfr": 0.87, "eval_ood_ffpp": 0.86}),
    ):
        path = make_run(
            tmp_path, f"t__{run}", "fakexplain", [(stage, "eval", "completed") for stage in metrics],
            metrics={stage: {"accuracy": acc} for stage, acc in metrics.items()},
        )  # fmt: skip
        (path / "config.yaml").write_text(yaml.safe_dump({"table_run": run, "paper": {"name": "fakexplain"}}))
        dirs.append(path)
    build_report(dirs, tmp_path / "report", chosen, log=lambda s: None)
    tables = {t["id"]: t for t in json.loads((tmp_path / "report" / "report.json").read_text())["tables"]}
    cells = {row["name"]: row["cells"] for row in tables["table6"]["rows"]}
    assert cells["4o (Acc)"]["Best"]["mean"] == 0.81 and cells["4o (Acc)"]["Best"]["filled_by"] == [
        "t__ood_best"
    ]
    assert cells["FF++ (Acc)"]["Best"]["mean"] == 0.88  # the row's set, not the run's own test fold (eval)
    assert cells["4o (Acc)"]["No-FT"]["mean"] == 0.41
    assert (
        cells["FF++ (Acc)"]["No-FT"]["status"] == "not run" and cells["FF++ (Acc)"]["No-FT"]["mean"] is None
    )
    assert cells["4o (Acc)"]["SFT"]["status"] == "not run"
    iclr = {row["name"]: row["cells"]["FakeXplainer"] for row in tables["iclr_ood"]["rows"]}
    assert iclr["MMFR-Dataset"]["mean"] == 0.87 and iclr["FaceForensics++"]["mean"] == 0.86
    assert iclr["FaceForensics++"]["filled_by"] == ["t__ood_final"]  # not table6's Best run
    assert iclr["Chameleon"]["status"] == "not run"
    text = (tmp_path / "report" / "report.md").read_text()
    assert "0.810 (run ood_best: t__ood_best)" in text and "not run (run ood_sft)" in text


def test_table6_runs_share_table4s_training_through_the_store(tmp_path: Path) -> None:
    # `table=all`: table6's Best is table4's Best on other sets, so every training stage of it is
    # one store entry, though each run scores GRPO with its own copy of the reward file.
    from harness.config import Invocation
    from harness.invoke import load_config
    from harness.plan import build_plan
    from harness.runner import stage_fingerprint
    from harness.stage_store import entry_for

    plans = []
    for name, edit in (("best", "run_edit={keep:[eval]}"), ("ood_best", OOD_EDIT_002)):
        overrides = ["paper=fakexplain", "profile=full", "variant=staged", "shared_stages=true", edit]
        cfg = load_config(Invocation(overrides=[*overrides, f"paths.runs={tmp_path}"]))
        plans.append(build_plan(cfg, f"t__{name}", launch=True))
    best, ood = plans
    for stage in ("sft", "grpo_alpha", "grpo_gamma", "merge_gamma"):
        entries = [
            entry_for(p.run_dir, stage, stage_fingerprint(p, p.stage(stage), portable=True)).path
            for p in plans
        ]
        assert entries[0] == entries[1], stage
    # the manifest's own fingerprint (what a resume compares) keeps the run's absolute reward path
    key = "stages.grpo_alpha.reward.custom_reward_function.path"
    assert stage_fingerprint(best, best.stage("grpo_alpha"))[key] == f"{best.run_dir}/reward/fakexplain.py"
    assert stage_fingerprint(ood, ood.stage("grpo_alpha"), portable=True)[key] == "<run>/reward/fakexplain.py"


@pytest.mark.slow
def test_a_smoke_table6_run_evaluates_the_ood_sets_and_fills_its_column(
    tmp_path: Path, ood_sets: dict[str, Path]
) -> None:
    # The real stages on the CPU: the tiny model (No-FT) on both generated sets, then the table's report.
    runs = tmp_path / "runs"
    code = main([
        "paper=fakexplain", "profile=smoke", "table=table6", "table_runs=[ood_no_ft]", "run_name=s",
        f"paths.runs={runs}", f"data.ood.gpt4o={ood_sets['gpt4o']}", f"data.ood.ffpp={ood_sets['ffpp']}",
    ])  # fmt: skip
    assert code == 0
    run = runs / "fakexplain" / "s__ood_no_ft"
    for stage, images in (("eval_ood_gpt4o", 2), ("eval_ood_ffpp", 2)):
        assert len((run / stage / "predictions.jsonl").read_text().splitlines()) == images
    report = json.loads((runs / "fakexplain" / "s__table6" / "report.json").read_text())
    (table,) = report["tables"]
    for row in table["rows"]:
        cell = row["cells"]["No-FT"]
        assert cell["filled_by"] == ["s__ood_no_ft"] and 0.0 <= cell["mean"] <= 1.0, row["name"]
        assert row["cells"]["Best"]["status"] == "not run"


def test_the_smoke_profile_brings_its_own_ood_sets(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # `table=table6 profile=smoke` needs no folder of the user's: data.ood.* point at the smoke
    # overlay's synthetic test folders (stage synth_ood), which no pipeline lists; the runs'
    # `keep` adds the stage because their prepare_ood_* stages read it.
    for overrides in (["variant=staged"], ["variant=linear"]):
        assert "synth_ood" not in stage_names(compose_paper("fakexplain", "profile=smoke", *overrides))
    started: list[object] = []
    monkeypatch.setattr("harness.table.execute", lambda *args, **kwargs: started.append(args) or 0)
    monkeypatch.setattr("harness.table.report_across", lambda *args, **kwargs: 0)
    code = main(["paper=fakexplain", "profile=smoke", "table=table6", "table_runs=[ood_best,ood_no_ft]",
                 "run_name=s6", f"paths.runs={tmp_path}"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and len(started) == 2  # no missing input stopped it
    listing = [line for line in out.splitlines() if line.startswith("#   ")]
    assert listing[0].startswith("#   stages: synth_ood, tiny_model, synth_data, prepare_data, sft,")
    assert listing[0].endswith("prepare_ood_gpt4o, eval_ood_gpt4o, prepare_ood_ffpp, eval_ood_ffpp, report")
    assert "synth_ood (run ood_best)" in listing[2]  # the second run reuses the same folders
    plan = plan_for("fakexplain", "profile=smoke", "variant=staged", "run_edit={keep:[eval_ood_ffpp]}")
    assert plan.stage("prepare_ood_ffpp").ctx.inputs["input"] == str(
        plan.stage("synth_ood").output / "TestSet" / "ffpp"
    )
