"""Nothing silent: inputs that yield nothing, folders outside the layout, a cut JSON array and a
malformed Windows line fail or report precisely, through ``python -m data_prep convert`` (exit
code and message), never exit 0 with a count buried in stats.json."""

from __future__ import annotations

import json
from pathlib import Path

from .published_data import convert, rejects, write_jsonl, write_png

ROW = {
    "query": "<image>Real or fake?",
    "response": "This image is fake.",
    "images": ["./dataset/1_fake/a.png"],
}


def test_an_empty_input_file_fails_naming_it_and_what_was_expected(tmp_path):
    empty = tmp_path / "SFTDATA.jsonl"
    empty.write_text("\n\n")
    result, stats = convert("aigi_holmes", [empty], tmp_path / "out")
    assert result.returncode == 1
    assert f"the input ({empty}) holds no record" in result.stderr and "SFTDATA.jsonl" in result.stderr
    assert stats["read"] == 0 and stats["error"] and not (tmp_path / "out" / "sft.jsonl").exists()
    array = tmp_path / "train.json"
    array.write_text("[]\n")
    result, _ = convert("fake_hr1", [array], tmp_path / "out2")
    assert (
        result.returncode == 1
        and "holds no record" in result.stderr
        and "FakeClue data_json" in result.stderr
    )


def test_a_test_set_without_images_fails(tmp_path):
    for label in ("0_real", "1_fake"):
        (tmp_path / "TestSet" / "FLUX" / label).mkdir(parents=True)
    (tmp_path / "TestSet" / "FLUX" / "1_fake" / "readme.txt").write_text("images go here")
    result, stats = convert("testset_folders", [tmp_path / "TestSet"], tmp_path / "out")
    assert result.returncode == 1 and "holds no record" in result.stderr
    assert "skipped non_image_files: 1" in result.stdout and stats["skipped"] == {"non_image_files": 1}


def test_folders_outside_the_layout_fail_before_anything_is_written(tmp_path):
    write_png(tmp_path / "TestSet" / "FLUX" / "0_real" / "0.png")
    write_png(tmp_path / "TestSet" / "FLUX" / "1_fake" / "0.png", 1)
    write_png(tmp_path / "TestSet" / "Janus" / "real" / "0.png", 2)  # misspelt class folders
    (tmp_path / "TestSet" / "VAR").mkdir()  # a generator not unpacked yet
    result, stats = convert("testset_folders", [tmp_path / "TestSet"], tmp_path / "out")
    assert result.returncode == 2 and stats is None
    assert "2 folder(s) fit no known layout" in result.stderr
    assert f"{tmp_path / 'TestSet' / 'Janus' / 'real'} (no class folders in it)" in result.stderr
    assert f"{tmp_path / 'TestSet' / 'VAR'} (an empty generator folder)" in result.stderr
    assert "<generator>/{0_real,1_fake}/" in result.stderr


def test_a_cut_json_array_records_what_it_read_then_fails_naming_the_byte_offset(tmp_path):
    write_png(tmp_path / "dataset" / "1_fake" / "a.png")
    text = "[\n" + ",\n".join(json.dumps(ROW) for _ in range(3)) + "\n]\n"
    cut = tmp_path / "SFTDATA.json"
    cut.write_bytes(text.encode()[: len(text) - 40])  # inside the third item
    result, stats = convert("aigi_holmes", [cut], tmp_path / "out")
    assert result.returncode == 1
    assert f"{cut}: the JSON array is not closed: the file ends at byte {cut.stat().st_size}" in result.stderr
    assert "after 2 complete item(s)" in result.stderr and "truncated" in result.stderr
    assert stats["read"] == 3 and stats["converted"] == 2 and stats["rejected"] == {"bad_json": 1}
    assert [(r["location"], r["reason"]) for r in rejects(tmp_path / "out")] == [(f"{cut}[2]", "bad_json")]
    assert "byte" in stats["error"] and not (tmp_path / "out" / "sft.jsonl").exists()


def test_a_cut_array_right_after_a_comma_counts_only_whole_items(tmp_path):
    write_png(tmp_path / "dataset" / "1_fake" / "a.png")
    cut = tmp_path / "train.json"
    cut.write_text("[" + json.dumps(ROW) + ",\n")
    result, stats = convert("aigi_holmes", [cut], tmp_path / "out")
    assert result.returncode == 1 and "after 1 complete item(s)" in result.stderr
    assert stats["read"] == stats["converted"] == 1 and stats["rejected_total"] == 0


def test_a_malformed_windows_line_reports_its_real_column(tmp_path):
    write_png(tmp_path / "dataset" / "1_fake" / "a.png")
    good = json.dumps(ROW)
    cut_after_comma = '{"query": "<image>q", "response": "r",'  # the line ends where the error is
    bad_value = '{"query": "<image>q", "response": fake}'
    path = write_jsonl(tmp_path / "SFTDATA.jsonl", [good, cut_after_comma, bad_value, good], newline="\r\n")
    out = tmp_path / "out"
    result, stats = convert("aigi_holmes", [path], out)
    assert result.returncode == 0 and stats["converted"] == 2
    details = {r["location"]: r["detail"] for r in rejects(out)}
    assert details[f"{path}:2"].endswith(f"at column {len(cut_after_comma) + 1}")
    assert details[f"{path}:3"].endswith(f"at column {bad_value.index('fake') + 1}")


def test_nothing_converted_fails_with_the_first_reasons(tmp_path):
    path = write_jsonl(tmp_path / "SFTDATA.jsonl", [ROW, ROW])  # the images were never unpacked
    result, stats = convert("aigi_holmes", [path], tmp_path / "out")
    assert result.returncode == 1
    assert "none of the 2 record(s) could be converted" in result.stderr and "image_missing" in result.stderr
    assert "set the option image_root" in result.stderr
    assert stats["rejected"] == {"image_missing": 2} and len(rejects(tmp_path / "out")) == 2


def test_locations_name_the_file_the_reader_was_given(tmp_path):
    """Reject locations stay file:line (jsonl) and file[index] (arrays) for users to find them."""
    path = write_jsonl(tmp_path / "a.jsonl", [ROW, "{"])
    write_png(tmp_path / "dataset" / "1_fake" / "a.png")
    result, _ = convert("aigi_holmes", [path], tmp_path / "out")
    assert result.returncode == 0
    assert [r["location"] for r in rejects(tmp_path / "out")] == [f"{Path(path)}:2"]
