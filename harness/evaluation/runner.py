"""The eval stage: a model and a test manifest in, ``predictions.jsonl`` and ``metrics.json`` out.

1. read the manifest (the first ``limit`` rows when set);
2. open ``predictions.jsonl`` and skip every image already there (resume);
3. for each batch of the rest: load the image, apply the robustness transform, build the prompt,
   generate, parse the answer with the response format, write the lines;
4. compute the configured metrics over the manifest's rows and write ``metrics.json``.

``metrics.json``::

    {"schema": "aigi-repro/eval-metrics/1", "manifest": path, "model": path, "n_images": int,
     "n_predictions": int, "complete": bool, "config": {...effective eval config...},
     "values": {metric key: float|null}, "counts": {key: int}, "notes": {key: str},
     "soft_scoring": {"fake_ids": [...], "real_ids": [...], "skipped_variants": [...],
                      "glued_fake_ids": [...], "glued_real_ids": [...]} | null}
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from common.atomic import write_json
from common.errors import HarnessError
from common.parse import to_mapping
from harness.evaluation.backends import build_backend
from harness.evaluation.backends.base import GenerationRequest, GenerationResult
from harness.evaluation.collaborative_decoding import AnswerBias, expert_biases, load_expert_probabilities
from harness.evaluation.config import EvalConfig
from harness.evaluation.manifest import EvalItem, read_manifest
from harness.evaluation.metrics import compute_metrics
from harness.evaluation.predictions import PredictionRow, PredictionsFile
from harness.evaluation.prompts import IMAGE_PLACEHOLDER, with_system_prompt
from harness.evaluation.response_formats import parse_answer
from harness.evaluation.robustness import apply_transform, map_boxes, scale_boxes

__all__ = ["METRICS_FILE", "EvalError", "PreparedItem", "evaluate", "prepare_item", "write_metrics"]

METRICS_FILE = "metrics.json"
ANCHORS_FILE = "soft_scoring_tokens.json"
SCHEMA = "aigi-repro/eval-metrics/1"
# Config keys that change what the model answers or how answers are read: a resumed evaluation
# must have the same values. (metrics, batch_size, limit and engine settings may change.)
_ANSWER_KEYS = (
    "backend",
    "response_format",
    "max_new_tokens",
    "dtype",
    "sampling",
    "system_prompt",
    "response_prefix",
    "robustness",
    "robustness_seed",
    "model_frame",
    "soft_scoring",
    "collaborative_decoding",
)


class EvalError(HarnessError):
    """The evaluation cannot run as configured; the message says what to change."""


class PreparedItem:
    """A manifest row ready for the model: the image it sees and the ground truth in its frame."""

    def __init__(
        self,
        item: EvalItem,
        image: Image.Image,
        image_path: str,
        frame: tuple[int, int] | None,
        gt_boxes: list[tuple[float, float, float, float]],
        gt_labels: list[str],
    ):
        self.item, self.image, self.image_path = item, image, image_path
        self.frame, self.gt_boxes, self.gt_labels = frame, gt_boxes, gt_labels


def prepare_item(item: EvalItem, config: EvalConfig, image_dir: Path) -> PreparedItem:
    """Load the image and apply ``config.robustness``; annotated boxes follow the image."""
    with Image.open(item.image) as opened:
        image = opened.convert("RGB")
    boxes, labels = list(item.boxes), list(item.region_labels)
    if config.robustness is None:
        return PreparedItem(item, image, item.image, item.frame, boxes, labels)
    original_size = image.size
    result = apply_transform(config.robustness, image, config.robustness_seed, item.id)
    new_size = result.image.size
    image_dir.mkdir(parents=True, exist_ok=True)
    path = (
        image_dir / f"{_safe_name(item.id)}.png"
    )  # PNG keeps the perturbation (e.g. JPEG artefacts) exactly
    result.image.save(path)
    frame = item.frame
    if new_size != original_size or (result.offset_x, result.offset_y) != (0.0, 0.0):
        source_frame = item.frame or original_size
        pixel_boxes = scale_boxes(boxes, source_frame, original_size)
        mapped, labels = map_boxes(pixel_boxes, labels, result)
        frame = _model_frame(new_size, config) if item.frame is not None else new_size
        boxes = scale_boxes(mapped, new_size, frame)
    return PreparedItem(item, result.image, str(path), frame, boxes, labels)


def _model_frame(size: tuple[int, int], config: EvalConfig) -> tuple[int, int]:
    if config.model_frame is None:
        raise EvalError(
            f"robustness transform {config.robustness!r} changes the image size, so the annotated boxes "
            f"must be mapped into the model's new frame: set eval.model_frame "
            f"{{factor, min_pixels, max_pixels}} to the model processor's values"
        )
    frame = config.model_frame
    if frame.normalized is not None:
        return frame.normalized, frame.normalized
    if frame.min_pixels is None or frame.max_pixels is None:
        raise EvalError(
            "eval.model_frame needs min_pixels and max_pixels (a pixel frame) or normalized (box units)"
        )
    from data_prep.model_frame import smart_resize

    height, width = smart_resize(size[1], size[0], frame.factor, frame.min_pixels, frame.max_pixels)
    return width, height


def _safe_name(item_id: str) -> str:
    """A file name for an image id; ids with other characters get a stable hash suffix (no clashes)."""
    if re.fullmatch(r"[A-Za-z0-9_.-]{1,150}", item_id):
        return item_id
    digest = hashlib.sha1(item_id.encode("utf-8")).hexdigest()[:10]
    return re.sub(r"[^A-Za-z0-9_.-]", "_", item_id)[:150] + "-" + digest


def _with_image(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Make sure the first user message references the image exactly where the manifest put it."""
    if any(IMAGE_PLACEHOLDER in str(m.get("content", "")) for m in messages):
        return messages
    out = [dict(m) for m in messages]
    for message in out:
        if message.get("role") == "user":
            message["content"] = IMAGE_PLACEHOLDER + str(message.get("content", ""))
            return out
    raise EvalError("a manifest row has no user message to attach the image to")


def _answer_bias_factory(
    config: EvalConfig, tokenizer: Any, probabilities: dict[str, float]
) -> Callable[[str], AnswerBias | None]:
    collab = config.collaborative_decoding
    if collab is None:
        return lambda item_id: None
    if tokenizer is None:
        raise EvalError(
            f"collaborative decoding needs the model's tokenizer (token ids of "
            f"{collab.target_text!r}, {collab.real_word!r}, {collab.fake_word!r}); backend "
            f"{config.backend!r} has none: point --model at the model folder"
        )
    target_ids = tuple(tokenizer.encode(collab.target_text, add_special_tokens=False))
    real_id = _next_token_id(tokenizer, collab.target_text, collab.real_word)
    fake_id = _next_token_id(tokenizer, collab.target_text, collab.fake_word)

    def bias_for(item_id: str) -> AnswerBias | None:
        if item_id not in probabilities:
            if collab.on_missing == "error":
                raise EvalError(
                    f"{collab.expert_probs} has no expert probability for image {item_id!r} "
                    f"(set collaborative_decoding.on_missing=unbiased to decode it without the expert)"
                )
            return None
        bias_real, bias_fake = expert_biases(probabilities[item_id], collab.weight)
        return AnswerBias(
            target_ids=target_ids,
            real_id=real_id,
            fake_id=fake_id,
            bias_real=bias_real,
            bias_fake=bias_fake,
            force_prefix=collab.force_prefix,
        )

    return bias_for


def _next_token_id(tokenizer: Any, target_text: str, word: str) -> int:
    """The id of the first token of ``word`` as it follows ``target_text`` (leading space included)."""
    target = tokenizer.encode(target_text, add_special_tokens=False)
    full = tokenizer.encode(f"{target_text} {word}", add_special_tokens=False)
    if full[: len(target)] == target and len(full) > len(target):
        return int(full[len(target)])
    return int(tokenizer.encode(" " + word, add_special_tokens=False)[0])


def _prediction(
    prepared: PreparedItem, result: GenerationResult, config: EvalConfig, seconds: float, expert: float | None
) -> PredictionRow:
    item = prepared.item
    response = config.response_prefix + result.text
    parsed = parse_answer(config.response_format, response, prepared.frame)
    score = result.soft_score
    return PredictionRow(
        id=item.id,
        image=prepared.image_path,
        label=item.label,
        generator=item.generator,
        family=item.family,
        response=response,
        parse_ok=parsed.ok,
        parse_error=parsed.error,
        verdict=parsed.verdict,
        boxes=[list(b) for b in parsed.boxes],
        region_labels=list(parsed.region_labels),
        tags=list(parsed.tags),
        thinking=parsed.thinking,
        p_fake=score.p_fake if score else None,
        p_fake_logsumexp=score.p_fake_logsumexp if score else None,
        soft_score_note=score.note if score else None,
        gt_boxes=[list(b) for b in prepared.gt_boxes],
        gt_region_labels=list(prepared.gt_labels),
        frame=list(prepared.frame) if prepared.frame else None,
        robustness=config.robustness,
        expert_p_fake=expert,
        num_generated_tokens=result.num_generated_tokens,
        seconds=round(seconds, 4),
    )


def answer_config_record(config: EvalConfig, manifest: str, model: str) -> dict[str, Any]:
    data = to_mapping(config)
    record = {key: data[key] for key in _ANSWER_KEYS}
    record["manifest"] = str(Path(manifest).resolve())
    record["model"] = str(Path(model).resolve()) if Path(model).exists() else model
    return record


def evaluate(
    manifest: str, model: str, output_dir: str, config: EvalConfig, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Run (or resume) the evaluation; returns the metrics document it wrote."""
    items = read_manifest(manifest, config.limit)
    out = Path(output_dir)
    predictions = PredictionsFile(out, answer_config_record(config, manifest, model))
    pending = [item for item in items if item.id not in predictions.done]
    log(
        f"evaluation: {len(items)} images, {len(items) - len(pending)} already in {predictions.path}, "
        f"{len(pending)} to go"
    )
    anchors_info: dict[str, Any] | None = None
    if pending:
        backend = build_backend(config.backend, model, config)
        try:
            anchors = getattr(backend, "anchors", None)
            if anchors is not None:
                anchors_info = {
                    "fake_ids": list(anchors.fake_ids),
                    "real_ids": list(anchors.real_ids),
                    "skipped_variants": list(anchors.skipped),
                    # a verdict glued to answer_after's last character (">fake"), compared with its rivals
                    "glued_fake_ids": list(anchors.glued_fake_ids),
                    "glued_real_ids": list(anchors.glued_real_ids),
                }
                write_json(out / ANCHORS_FILE, anchors_info, indent=None)
            collab = config.collaborative_decoding
            if collab is not None and not collab.expert_probs:
                raise EvalError(
                    "eval.collaborative_decoding.expert_probs names no file of the expert's probabilities "
                    "(jsonl id/p_fake or csv; or --expert-probs); set weight 0 to decode without the expert"
                )
            experts = load_expert_probabilities(collab.expert_probs) if collab else {}
            bias_for = _answer_bias_factory(config, backend.tokenizer, experts)
            image_dir = out / "images" / (config.robustness or "original")
            for start in range(0, len(pending), config.batch_size):
                batch = pending[start : start + config.batch_size]
                prepared = [prepare_item(item, config, image_dir) for item in batch]
                requests = [
                    GenerationRequest(
                        id=p.item.id,
                        image=p.image,
                        answer_bias=bias_for(p.item.id),
                        messages=_with_image(with_system_prompt(p.item.messages, config.system_prompt)),
                    )
                    for p in prepared
                ]
                began = time.monotonic()
                results = backend.generate(requests)
                per_image = (time.monotonic() - began) / len(batch)
                predictions.append(
                    _prediction(p, r, config, per_image, experts.get(p.item.id))
                    for p, r in zip(prepared, results)
                )
                log(f"evaluation: {start + len(batch)}/{len(pending)} done ({per_image:.2f} s/image)")
        finally:
            backend.close()
    if anchors_info is None and (out / ANCHORS_FILE).exists():  # resumed with nothing left to generate
        anchors_info = json.loads((out / ANCHORS_FILE).read_text(encoding="utf-8"))
    rows = list(predictions.rows(item.id for item in items))
    document = write_metrics(
        out, rows, config, manifest, model, n_images=len(items), soft_scoring=anchors_info
    )
    return document


def write_metrics(
    out: Path,
    rows: Sequence[PredictionRow],
    config: EvalConfig,
    manifest: str,
    model: str,
    n_images: int,
    soft_scoring: dict[str, Any] | None = None,
) -> dict[str, Any]:
    metrics = compute_metrics(rows, config.metrics)
    document = {
        "schema": SCHEMA,
        "manifest": str(manifest),
        "model": str(model),
        "n_images": n_images,
        "n_predictions": len(rows),
        "complete": len(rows) == n_images,
        "config": to_mapping(config),
        **metrics,
        "soft_scoring": soft_scoring,
    }
    path = out / METRICS_FILE
    write_json(path, document, allow_nan=False)
    return document
