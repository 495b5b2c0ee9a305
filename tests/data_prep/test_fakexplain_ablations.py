"""FakeXplained's ablation switches (002 §5.3 Table 4, App. E.3 Table 7): each changes exactly what it
names in the training rows, keeps every record (records in = out + rejected), leaves the evaluation
manifest whole, is validated as a typed option, and reaches the stage's argv from the Hydra recipe."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from common.response_formats import RESPONSE_FORMATS
from data_prep.chat_templates import load_templates
from data_prep.conversion import run_conversion
from data_prep.fakexplain_format import REGION_PLACEHOLDER, vocabulary
from data_prep.source_api import parse_options
from data_prep.sources.fakexplained import (
    TEMPLATES_FILE,
    VOCABULARY_FILE,
    Options,
    _prompt_messages,
    _swift_box,
    _token_region,
    sample_answers,
)
from rewards.fakexplain import compute_score
from rewards.fakexplain_parser import parse_response

from .conftest import run_cli

TINY_BOUNDS = {"min_pixels": 3136, "max_pixels": 12544}
TRAIN_FILES = ("sft.jsonl", "grpo.jsonl")


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _convert(synth_raw: Path, out: Path, **options) -> dict:
    stats = run_conversion(
        "fakexplained", [synth_raw], out, options={"seed": 3, **TINY_BOUNDS, **options}, echo=lambda s: None
    )
    # Nothing is lost: every record read is written to every file or rejected with a reason.
    assert stats["read"] == stats["converted"] + stats["rejected_total"] == 48
    assert stats["rejected_total"] == 0
    assert stats["written"] == {"sft.jsonl": 48, "grpo.jsonl": 48, "grpo.parquet": 48, "eval.jsonl": 48}
    return stats


RUNS = {
    "full": {},
    "no_bbox": {"drop": ["boxes"]},
    "no_caption": {"drop": ["captions"]},
    "no_tags": {"drop": ["tags"]},
    "label_only": {"label_only": True},
    "no_bbox_tokens": {"drop": ["boxes"], "region_syntax": "tokens"},
    "no_caption_tokens": {"drop": ["captions"], "region_syntax": "tokens"},
}


@pytest.fixture(scope="module")
def converted(synth_raw, tmp_path_factory):
    """name -> output folder, one conversion per switch (and the full data)."""
    outs = {}
    for name, options in RUNS.items():
        out = tmp_path_factory.mktemp(f"fx_{name}")
        _convert(synth_raw, out, **options)
        outs[name] = out
    return outs


def _answers(out: Path) -> dict[str, str]:
    return {row["images"][0]: row["messages"][-1]["content"] for row in _rows(out / "sft.jsonl")}


def _frames(out: Path) -> dict[str, tuple[int, int]]:
    return {r["image"]: (r["frame"]["width"], r["frame"]["height"]) for r in _rows(out / "eval.jsonl")}


def _parsed(out: Path) -> dict[str, object]:
    frames = _frames(out)
    return {image: parse_response(text, frames[image]) for image, text in _answers(out).items()}


def _truths(out: Path) -> dict[str, dict]:
    return {r["images"][0]: json.loads(r["solution"]) for r in _rows(out / "grpo.jsonl")}


def _labels(out: Path) -> dict[str, str]:
    return {r["image"]: r["label"] for r in _rows(out / "eval.jsonl")}


def test_the_full_data_has_regions_captions_and_tags(converted):
    """The baseline the switches are compared with: the synthetic fakes carry all three."""
    parsed = _parsed(converted["full"])
    labels = _labels(converted["full"])
    fakes = [p for image, p in parsed.items() if labels[image] == "fake"]
    assert all(p.ok for p in parsed.values())
    assert sum(bool(p.boxes) for p in fakes) >= 12 and sum(bool(p.tags) for p in fakes) >= 12
    assert any(t["boxes"] for t in _truths(converted["full"]).values())


@pytest.mark.parametrize("name", ["no_bbox", "no_caption", "no_tags", "label_only"])
def test_the_evaluation_manifest_is_the_same_for_every_switch(converted, name):
    assert (converted[name] / "eval.jsonl").read_bytes() == (converted["full"] / "eval.jsonl").read_bytes()


def test_no_bbox_targets_have_no_regions_and_keep_the_rest(converted):
    full, ablated = _parsed(converted["full"]), _parsed(converted["no_bbox"])
    wording = vocabulary(VOCABULARY_FILE).wording
    for image, p in ablated.items():
        assert p.ok and p.boxes == () and p.region_labels == ()
        assert (p.verdict, p.tags) == (full[image].verdict, full[image].tags)
        assert "bbox_2d" not in _answers(converted["no_bbox"])[image]
        # No claim about regions either way: neither the regions lead nor "no region stands out".
        assert wording["fake_regions_lead"] not in _answers(converted["no_bbox"])[image]
        assert wording["fake_no_regions"] not in _answers(converted["no_bbox"])[image]
    # The GRPO ground truth carries no boxes and says so: the reward leaves its grounding term out.
    assert all(t["boxes"] == [] and t["grounding"] is False for t in _truths(converted["no_bbox"]).values())
    assert all("grounding" not in t for t in _truths(converted["full"]).values())
    assert _labels(converted["no_bbox"]) == {i: t["label"] for i, t in _truths(converted["no_bbox"]).items()}
    grpo = _rows(converted["no_bbox"] / "grpo.jsonl")
    assert all(r["extra_info"]["tags"] == f["extra_info"]["tags"]
               for r, f in zip(grpo, _rows(converted["full"] / "grpo.jsonl")))  # fmt: skip


def test_no_bbox_in_token_syntax_writes_no_objects(converted):
    rows = _rows(converted["no_bbox_tokens"] / "sft.jsonl")
    assert not any("objects" in r for r in rows)
    assert not any("<ref-object>" in r["messages"][-1]["content"] for r in rows)


def test_no_caption_keeps_every_box_and_drops_every_description(converted):
    full, ablated = _parsed(converted["full"]), _parsed(converted["no_caption"])
    blank = vocabulary(VOCABULARY_FILE).wording["uncaptioned_region"]
    captions = {label for p in full.values() for label in p.region_labels}
    assert captions and blank not in captions
    for image, p in ablated.items():
        assert p.ok and p.boxes == full[image].boxes and p.tags == full[image].tags
        assert set(p.region_labels) <= {blank} and len(p.region_labels) == len(full[image].region_labels)
        assert not any(caption in _answers(converted["no_caption"])[image] for caption in captions)
    assert _truths(converted["no_caption"]) == _truths(converted["full"])  # R_G still has its boxes


def test_no_caption_in_token_syntax_blanks_objects_ref(converted):
    blank = vocabulary(VOCABULARY_FILE).wording["uncaptioned_region"]
    full = [r for r in _rows(converted["full"] / "sft.jsonl")]
    rows = _rows(converted["no_caption_tokens"] / "sft.jsonl")
    with_objects = [r for r in rows if "objects" in r]
    assert with_objects
    for row in with_objects:
        assert set(row["objects"]["ref"]) == {blank} and len(row["objects"]["bbox"]) == len(
            row["objects"]["ref"]
        )
    assert len(with_objects) == sum("bbox_2d" in r["messages"][-1]["content"] for r in full)


def test_no_tags_empties_the_tag_block_and_keeps_the_regions(converted):
    full, ablated = _parsed(converted["full"]), _parsed(converted["no_tags"])
    for image, p in ablated.items():
        assert p.ok and p.tags == ()
        assert (p.boxes, p.region_labels, p.verdict) == (
            full[image].boxes,
            full[image].region_labels,
            full[image].verdict,
        )
        assert "<tag></tag>" in _answers(converted["no_tags"])[image]
    assert all(r["extra_info"]["tags"] == [] for r in _rows(converted["no_tags"] / "grpo.jsonl"))
    assert _truths(converted["no_tags"]) == _truths(converted["full"])


def test_label_only_targets_are_the_verdict_alone(converted):
    labels = _labels(converted["label_only"])
    answers = _answers(converted["label_only"])
    assert set(labels.values()) == {"real", "fake"}
    for image, text in answers.items():
        assert text == f"<verdict>{labels[image]}</verdict>"
    # The GRPO ground truth has no boxes and says the answers are not the full format: the reward
    # leaves both terms out by itself (002 §5.3), with or without reward.disabled_terms.
    assert all(
        t["boxes"] == [] and t["grounding"] is False and t["format"] is False
        for t in _truths(converted["label_only"]).values()
    )
    for name in ("full", "no_bbox", "no_caption", "no_tags"):
        assert all("format" not in t for t in _truths(converted[name]).values()), name
    # A model that learned these targets is read by the label-only runs' evaluation format
    # (conf/results/fakexplain.yaml eval.response_format=verdict_tag); the full contract's format
    # rejects every one of them (no <think>), which scored the label-only column 0.
    verdict_tag, full = RESPONSE_FORMATS.get("verdict_tag"), RESPONSE_FORMATS.get("think_tag_verdict")
    for image, text in answers.items():
        assert verdict_tag(text + "\n").verdict == labels[image] and verdict_tag(text).ok
        assert not full(text).ok and full(text).verdict is None
    assert not verdict_tag("<think>x</think><verdict>fake</verdict>").ok
    assert not verdict_tag("<verdict>maybe</verdict>").ok


def test_label_only_targets_earn_the_best_score_of_the_default_reward(converted):
    """The reward as the recipe configures it by default (alpha weights, no disabled term) scores a
    label-only run's verdict-only targets, in both GRPO files, by the label alone: the target earns
    label_pos, the other verdict -label_neg. Before the ground truth said "format": false the format
    term scored every target -format_neg, so GRPO trained away from the SFT's answers unless the
    user also knew to set reward.disabled_terms=[format]."""
    alpha = {"w_iou": 1.0, "label_pos": 1.0, "label_neg": 1.0, "format_pos": 2.0, "format_neg": 1.0}
    parquet = pq.read_table(converted["label_only"] / "grpo.parquet").to_pylist()
    rows = _rows(converted["label_only"] / "grpo.jsonl")
    assert [r["reward_model"]["ground_truth"] for r in parquet] == [r["solution"] for r in rows]
    answers = _answers(converted["label_only"])
    for row in rows:
        label = json.loads(row["solution"])["label"]
        other = "real" if label == "fake" else "fake"
        target = compute_score(
            "fakexplained", answers[row["images"][0]], row["solution"], row["extra_info"], **alpha
        )
        wrong = compute_score(
            "fakexplained", f"<verdict>{other}</verdict>", row["solution"], row["extra_info"], **alpha
        )
        assert (target["score"], target["format"], target["grounding"]) == (1.0, 0.0, 0.0)
        assert (wrong["score"], wrong["format"]) == (-1.0, 0.0)
    # The full data's ground truths still score the format: a verdict alone is penalised there.
    full = _rows(converted["full"] / "grpo.jsonl")[0]
    assert (
        compute_score(
            "fakexplained", "<verdict>fake</verdict>", full["solution"], full["extra_info"], **alpha
        )["format"]
        == -1.0
    )


def _learned_answers(out: Path) -> dict[str, tuple[str, tuple[int, int]]]:
    """image -> (the answer the model learns from its SFT row, its frame): region_syntax tokens'
    placeholders rendered from the row's objects as ms-swift's template does."""
    manifest = {r["image"]: r for r in _rows(out / "eval.jsonl")}
    learned = {}
    for row in _rows(out / "sft.jsonl"):
        image = row["images"][0]
        entry = manifest[image]
        frame = (entry["frame"]["width"], entry["frame"]["height"])
        text = row["messages"][-1]["content"]
        objects = row.get("objects") or {"ref": [], "bbox": []}
        for ref, box in zip(objects["ref"], objects["bbox"], strict=True):
            mapped = _swift_box(box, (entry["orig_width"], entry["orig_height"]), frame, "test")
            text = text.replace(REGION_PLACEHOLDER, _token_region(mapped, ref), 1)
        learned[image] = (text, frame)
    return learned


@pytest.mark.parametrize(
    "name", ["full", "no_bbox", "no_caption", "no_tags", "label_only", "no_bbox_tokens", "no_caption_tokens"]
)
def test_sample_answers_are_read_as_the_converted_rows_are(converted, name):
    """The plan's validation judges an evaluation format by the source's sample answers
    (harness/validate/answer_format.py); a format reads the samples exactly when it reads every
    answer the converter writes under the same options."""
    options = parse_options(Options, {"seed": 3, **TINY_BOUNDS, **RUNS[name]}, "fakexplained")
    samples = sample_answers(options)
    assert [s.label for s in samples] == ["real", "fake"]
    labels = _labels(converted[name])
    learned = _learned_answers(converted[name])
    assert len(learned) == 48
    readers = []
    for format_name in ("think_tag_verdict", "verdict_tag", "free_text_verdict"):
        parse = RESPONSE_FORMATS.get(format_name)
        reads_samples = all(parse(s.text, s.frame).verdict == s.label for s in samples)
        reads_rows = all(
            parse(text, frame).verdict == labels[image] for image, (text, frame) in learned.items()
        )
        assert reads_samples == reads_rows, format_name
        if reads_samples and format_name != "free_text_verdict":
            readers.append(format_name)
    assert readers == (["verdict_tag"] if name == "label_only" else ["think_tag_verdict"])


def _template_names(out: Path) -> tuple[set[str], set[str]]:
    """(names of the templates the SFT rows use, of those the GRPO prompts use)."""
    by_prompt = {
        json.dumps(_prompt_messages(t, "json"), sort_keys=True): t.name
        for t in load_templates(TEMPLATES_FILE)
    }
    sft = {by_prompt[json.dumps(r["messages"][:-1], sort_keys=True)] for r in _rows(out / "sft.jsonl")}
    grpo = _rows(out / "grpo.jsonl")
    prompts = {by_prompt[json.dumps(r["messages"], sort_keys=True)] for r in grpo}
    assert prompts == {r["extra_info"]["template"] for r in grpo}
    return sft, prompts


@pytest.mark.parametrize("real,fake", [(1, 1), (3, 2)])
def test_template_limits_use_exactly_that_many_templates(synth_raw, tmp_path, real, fake):
    templates = load_templates(TEMPLATES_FILE)
    kept = [t.name for t in templates if t.label == "real"][:real] + [
        t.name for t in templates if t.label == "fake"
    ][:fake]
    _convert(synth_raw, tmp_path, templates_real=real, templates_fake=fake)
    sft, prompts = _template_names(tmp_path)
    assert sft == set(kept) and prompts == set(kept)  # 48 records draw every kept template
    assert len(sft) == real + fake


def test_all_templates_are_used_without_a_limit(converted):
    sft, prompts = _template_names(converted["full"])
    assert len(sft) == len(prompts) == len(load_templates(TEMPLATES_FILE)) == 9  # 002 App. A.1: 3 + 6


@pytest.mark.parametrize(
    "options,key",
    [
        ({"drop": ["bbox"]}, "drop[0]"),
        ({"drop": "boxes"}, "drop"),
        ({"label_only": "yes"}, "label_only"),
        ({"templates_fake": 7}, "templates_fake"),
        ({"templates_real": 0}, "templates_real"),
        ({"templates_real": "one"}, "templates_real"),
    ],
)
def test_a_bad_switch_is_one_error_line_naming_the_key(synth_raw, tmp_path, options, key):
    out = tmp_path / "out"
    proc = run_cli(
        "convert", "--source", "fakexplained", "--input", str(synth_raw), "--output-dir", str(out),
        "--options", json.dumps(options),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"options.{key}" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (out / "sft.jsonl").exists()


@pytest.mark.parametrize(
    "override,expected",
    [
        ("+stages.prepare_data.options.drop=[boxes]", {"drop": ["boxes"]}),
        ("+stages.prepare_data.options.drop=[captions,tags]", {"drop": ["captions", "tags"]}),
        ("+stages.prepare_data.options.label_only=true", {"label_only": True}),
        ("+stages.prepare_data.options.templates_real=1", {"templates_real": 1}),
        ("+stages.prepare_data.options.templates_fake=2", {"templates_fake": 2}),
    ],
)
def test_each_switch_reaches_the_stage_argv_from_the_recipe(override, expected):
    from tests.harness.conftest import plan_for

    argv = list(plan_for("fakexplain", override).stage("prepare_data").rendered.argv)
    options = json.loads(argv[argv.index("--options") + 1])
    assert {k: options[k] for k in expected} == expected
    baseline = list(plan_for("fakexplain").stage("prepare_data").rendered.argv)
    before = json.loads(baseline[baseline.index("--options") + 1])
    assert {k: v for k, v in options.items() if k not in expected} == before


def test_the_reward_gives_a_no_bbox_run_no_grounding_term(converted):
    """002 §5.3: "when bounding boxes are unavailable, the R_G reward is disabled" -- from the rows
    data preparation writes, with the recipe's reward kwargs unchanged."""
    from rewards.fakexplain import compute_score

    fakes = [r for r in _rows(converted["no_bbox"] / "grpo.jsonl") if r["extra_info"]["label"] == "fake"]
    full = {r["extra_info"]["id"]: r for r in _rows(converted["full"] / "grpo.jsonl")}
    answers = {r["images"][0]: r["messages"][-1]["content"] for r in _rows(converted["full"] / "sft.jsonl")}
    boxed = [r for r in fakes if json.loads(full[r["extra_info"]["id"]]["solution"])["boxes"]]
    assert boxed
    for row in boxed:
        answer = answers[row["images"][0]]  # the full run's target: regions that match the annotation
        ablated = compute_score(row["data_source"], answer, row["solution"], row["extra_info"])
        with_boxes = compute_score(
            row["data_source"], answer, full[row["extra_info"]["id"]]["solution"], row["extra_info"]
        )
        assert ablated["grounding"] == 0.0 and with_boxes["grounding"] == 1.0
        assert ablated["score"] == with_boxes["score"] - with_boxes["w_iou"]
        assert (ablated["label"], ablated["format"]) == (with_boxes["label"], with_boxes["format"])
