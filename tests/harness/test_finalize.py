"""Which checkpoint a resumed or finished stage uses."""

from __future__ import annotations

from pathlib import Path

from harness.finalize import last_swift_checkpoint, last_verl_checkpoint, main


def _checkpoint(root: Path, step: int, complete: bool = True) -> Path:
    path = root / f"checkpoint-{step}"
    path.mkdir(parents=True)
    (path / "adapter_model.safetensors").write_bytes(b"x")
    if complete:
        (path / "trainer_state.json").write_text("{}")
    return path


def test_an_interrupted_save_is_not_resumed_from(tmp_path: Path) -> None:
    output = tmp_path / "output"
    _checkpoint(output, 2)
    _checkpoint(output, 10)
    _checkpoint(output, 12, complete=False)  # killed while saving
    assert last_swift_checkpoint(output) == output / "checkpoint-10"
    assert last_swift_checkpoint(tmp_path / "missing") is None


def test_finalize_links_final_to_the_last_checkpoint(tmp_path: Path) -> None:
    _checkpoint(tmp_path / "output", 4)
    assert main(["swift", str(tmp_path)]) == 0
    assert (tmp_path / "final").resolve() == (tmp_path / "output" / "checkpoint-4").resolve()
    _checkpoint(tmp_path / "output", 8)
    assert main(["swift", str(tmp_path)]) == 0  # a rerun replaces the link
    assert (tmp_path / "final").resolve().name == "checkpoint-8"


def test_verl_checkpoint_follows_verls_tracker(tmp_path: Path) -> None:
    checkpoints = tmp_path / "checkpoints"
    for step in (5, 10):
        (checkpoints / f"global_step_{step}" / "actor").mkdir(parents=True)
    (checkpoints / "latest_checkpointed_iteration.txt").write_text("5")
    assert last_verl_checkpoint(tmp_path) == checkpoints / "global_step_5"
    assert main(["verl", str(tmp_path)]) == 0 and (tmp_path / "final" / "actor").is_dir()


def test_finalize_fails_clearly_without_a_checkpoint(tmp_path: Path, capsys) -> None:
    assert main(["swift", str(tmp_path)]) == 1
    assert "no checkpoint-*" in capsys.readouterr().err
