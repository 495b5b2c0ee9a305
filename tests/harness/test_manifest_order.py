"""The manifest lists stages in pipeline order, whatever order their records arrive in."""

from pathlib import Path

from harness.manifest import RunManifest, StageRecord


def test_records_arriving_out_of_order_keep_the_pipeline_order(tmp_path: Path) -> None:
    manifest = RunManifest.create(tmp_path, {"paper": "p"})
    manifest.order_stages(["prepare", "sft", "grpo", "report"])
    # Skipped stages are recorded before the chain runs; the others as they finish.
    for name, status in [("grpo", "skipped"), ("prepare", "completed"), ("sft", "completed")]:
        manifest.put_stage(StageRecord(name=name, kind="k", status=status))
    manifest.put_stage(StageRecord(name="extra", kind="k"))
    names = [item["name"] for item in RunManifest.load(tmp_path).data["stages"]]
    assert names == ["prepare", "sft", "grpo", "extra"]
