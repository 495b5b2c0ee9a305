"""predictions.jsonl (append, resume, torn lines, config conflicts), the manifest reader and prompts."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from harness.evaluation.manifest import ManifestError, read_manifest
from harness.evaluation.predictions import PredictionRow, PredictionsFile, ResumeConflict, read_predictions
from harness.evaluation.prompts import openai_messages, structured_messages, with_system_prompt
from tests.evaluation.conftest import manifest_row


def prediction(item_id: str) -> PredictionRow:
    return PredictionRow(
        id=item_id,
        image="/x.png",
        label="fake",
        generator="G",
        family=None,
        response="r",
        parse_ok=True,
        parse_error=None,
        verdict="fake",
        p_fake=0.7,
    )


def test_rows_are_appended_and_read_back(tmp_path: Path) -> None:
    file = PredictionsFile(tmp_path, {"backend": "transformers"})
    file.append([prediction("a"), prediction("b")])
    assert [r.id for r in read_predictions(file.path)] == ["a", "b"]
    assert read_predictions(file.path)[0] == prediction("a")
    reopened = PredictionsFile(tmp_path, {"backend": "transformers"})
    assert set(reopened.done) == {"a", "b"}
    assert [r.id for r in reopened.rows(["b", "missing", "a"])] == ["b", "a"]


def test_a_torn_last_line_is_dropped_and_cut_off(tmp_path: Path) -> None:
    file = PredictionsFile(tmp_path, {})
    file.append([prediction("a")])
    with file.path.open("a") as handle:
        handle.write('{"id": "b", "image": "/x.pn')  # the process died mid-write
    reopened = PredictionsFile(tmp_path, {})
    assert set(reopened.done) == {"a"}
    reopened.append([prediction("b")])
    assert [r.id for r in read_predictions(file.path)] == ["a", "b"]
    assert all(json.loads(line) for line in file.path.read_text().splitlines())


def test_resuming_with_a_different_answer_config_is_refused(tmp_path: Path) -> None:
    PredictionsFile(tmp_path, {"robustness": None, "max_new_tokens": 64}).append([prediction("a")])
    with pytest.raises(ResumeConflict, match="changed: robustness"):
        PredictionsFile(tmp_path, {"robustness": "jpeg30", "max_new_tokens": 64})
    PredictionsFile(tmp_path, {"robustness": None, "max_new_tokens": 64})  # same config: fine


def test_manifest_reader(tmp_path: Path) -> None:
    rows = [
        manifest_row("a", tmp_path / "a.png", "fake", "SD 1.5", "Diffusion", [[1, 2, 3, 4]], ["odd hand"]),
        manifest_row("b", tmp_path / "b.png", "REAL"),
    ]
    path = tmp_path / "eval.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    items = read_manifest(path)
    assert items[0].boxes == ((1.0, 2.0, 3.0, 4.0),) and items[0].region_labels == ("odd hand",)
    assert items[0].frame == (112, 84) and items[0].original_size == (100, 80)
    assert items[1].label == "real" and items[1].generator is None
    assert [i.id for i in read_manifest(path, limit=1)] == ["a"]
    assert read_manifest(path, limit=0) == []
    path.write_text("".join(json.dumps(r) + "\n" for r in rows + rows[:1]))
    with pytest.raises(ManifestError, match="duplicate id 'a'"):
        read_manifest(path)
    path.write_text(json.dumps({**rows[0], "label": "maybe"}) + "\n")
    with pytest.raises(ManifestError, match="label must be real or fake"):
        read_manifest(path)


def test_structured_messages_place_the_image_where_the_placeholder_is() -> None:
    messages = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "Look: <image> Real or fake?"},
    ]
    structured, images = structured_messages(messages)
    assert images == 1
    assert structured[1]["content"] == [
        {"type": "text", "text": "Look: "},
        {"type": "image"},
        {"type": "text", "text": " Real or fake?"},
    ]
    replaced = with_system_prompt(messages, "new system")
    assert replaced[0] == {"role": "system", "content": "new system"} and len(replaced) == 2
    assert with_system_prompt(messages, None) == messages


def test_openai_messages_inline_the_exact_image() -> None:
    image = Image.new("RGB", (7, 5), (10, 200, 30))
    messages = openai_messages(
        [{"role": "system", "content": "sys"}, {"role": "user", "content": "<image>Q?"}], [image]
    )
    assert messages[0] == {"role": "system", "content": "sys"}
    url = messages[1]["content"][0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    decoded = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert decoded.size == (7, 5) and decoded.getpixel((3, 2)) == (10, 200, 30)
    assert messages[1]["content"][1] == {"type": "text", "text": "Q?"}
