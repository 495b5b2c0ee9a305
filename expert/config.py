"""The expert stages' settings: typed, defaulted, checked before anything runs (no torch here).

The harness renders a stage's keys (everything but the harness' own, see harness.pipeline) as
one ``--config-json`` and checks them with these parsers at render time, so a typo or a bad value
is an error naming ``stages.<stage>.<key>`` before any job starts. Defaults are the authors'
values (``Baselines_AIGI`` of wyczzy/AIGI-Holmes at bae30b9; conf/paper/aigi_holmes.yaml cites
each one); a recipe states them anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from common.errors import ConfigError, Problem
from common.parse import from_mapping

__all__ = [
    "NORMALIZATIONS",
    "EvalNoise",
    "ExpertInferConfig",
    "ExpertSwapConfig",
    "ExpertTrainConfig",
    "parse_infer_config",
    "parse_swap_config",
    "parse_train_config",
]

# mean, std per channel. ImageNet: Baselines_AIGI/data/datasets.py binary_dataset
# (transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])). CLIP: what the CLIP
# image processor (and so LLaVA's) applies.
NORMALIZATIONS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "clip": ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
}
AUGMENTATIONS = ("authors", "none")
NOISE_TYPES = ("resize", "jpg", "blur")
SELECTIONS = ("best", "last")
SELECT_METRICS = ("accuracy", "ap")


@dataclass(frozen=True)
class EvalNoise:
    """A perturbation of every validation image before it is resized (Baselines_AIGI
    data/datasets.py ImageProcessor.data_augment): ``resize`` divides both sides by ``ratio``,
    ``jpg`` re-encodes at quality ``ratio``, ``blur`` is a Gaussian blur of sigma ``ratio``."""

    type: str = "resize"
    ratio: float = 2.0


@dataclass(frozen=True)
class ExpertTrainConfig:
    """``python -m expert train``; see conf/paper/aigi_holmes.yaml for where each value comes from."""

    batch_size: int = 16  # global: split over the data-parallel processes
    lora_rank: int = 4
    lora_alpha: int = 8
    lora_dropout: float = 0.0
    lora_targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "out_proj")
    head_init_std: float = 0.02
    lr: float = 1e-4
    beta1: float = 0.9
    beta2: float = 0.999
    lr_decay: float = 0.9
    lr_decay_every_epochs: int = 20
    min_lr: float = 1e-6
    epochs: int = 1000
    max_steps: int | None = None  # stop after this many optimizer steps (smoke runs)
    early_stop_patience: int | None = None  # epochs without a better validation score
    early_stop_min_delta: float = 0.0
    select_metric: str = "accuracy"  # what "better" means (mean over the validation generators)
    select: str = "best"  # which checkpoint becomes the stage's output: best | last
    load_size: int = 384
    crop_size: int = 336
    flip: bool = True
    normalize: str = "imagenet"
    augment: str = "authors"
    val_noise: EvalNoise | None = None
    seed: int = 100
    num_workers: int = 8
    val_batch_size: int = 64
    log_every_steps: int = 400
    save_every_steps: int | None = None  # besides the end of every epoch
    device: str = "auto"  # auto | cpu | cuda


@dataclass(frozen=True)
class ExpertSwapConfig:
    """``python -m expert swap``: which vision-config fields must match LLaVA's tower."""

    check_fields: tuple[str, ...] = (
        "hidden_size",
        "patch_size",
        "image_size",
        "num_hidden_layers",
        "intermediate_size",
        "num_attention_heads",
    )


@dataclass(frozen=True)
class ExpertInferConfig:
    """``python -m expert infer``: how the expert's probabilities are computed and scored."""

    batch_size: int = 64
    num_workers: int = 2
    threshold: float = 0.5  # Baselines_AIGI/validate.py: y_pred > 0.5 is fake
    metrics: tuple[str, ...] = ("accuracy", "ap", "auc")
    noise: EvalNoise | None = None
    device: str = "auto"


def _parse(cls: type, data: Mapping[str, Any] | None, where: str) -> tuple[Any, list[Problem]]:
    problems: list[Problem] = []
    config = from_mapping(cls, dict(data or {}), where, problems)
    return config, problems


def _positive(problems: list[Problem], where: str, **values: Any) -> None:
    for key, value in values.items():
        if value is not None and (not isinstance(value, (int, float)) or value <= 0):
            problems.append(Problem(f"{where}.{key}", f"must be > 0, got {value!r}"))


def _choice(problems: list[Problem], where: str, key: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        problems.append(Problem(f"{where}.{key}", f"must be one of {', '.join(allowed)}, got {value!r}"))


def _check_noise(problems: list[Problem], where: str, noise: EvalNoise | None) -> None:
    if noise is not None:
        _choice(problems, where, "type", noise.type, NOISE_TYPES)
        _positive(problems, where, ratio=noise.ratio)


def parse_train_config(data: Mapping[str, Any] | None, where: str = "expert") -> ExpertTrainConfig:
    """An ExpertTrainConfig; raises ConfigError listing every problem, keys prefixed by ``where``."""
    config, problems = _parse(ExpertTrainConfig, data, where)
    if not problems:
        c: ExpertTrainConfig = config
        _positive(
            problems,
            where,
            batch_size=c.batch_size,
            lora_rank=c.lora_rank,
            lora_alpha=c.lora_alpha,
            lr=c.lr,
            min_lr=c.min_lr,
            lr_decay_every_epochs=c.lr_decay_every_epochs,
            epochs=c.epochs,
            max_steps=c.max_steps,
            early_stop_patience=c.early_stop_patience,
            load_size=c.load_size,
            crop_size=c.crop_size,
            val_batch_size=c.val_batch_size,
            log_every_steps=c.log_every_steps,
            save_every_steps=c.save_every_steps,
            head_init_std=c.head_init_std,
        )
        if not 0 < c.lr_decay <= 1:
            problems.append(Problem(f"{where}.lr_decay", f"must lie in (0, 1], got {c.lr_decay!r}"))
        if not (0 <= c.beta1 < 1 and 0 <= c.beta2 < 1):
            problems.append(Problem(f"{where}.beta1", "beta1 and beta2 must lie in [0, 1)"))
        if not 0 <= c.lora_dropout < 1:
            problems.append(Problem(f"{where}.lora_dropout", f"must lie in [0, 1), got {c.lora_dropout!r}"))
        if c.num_workers < 0:
            problems.append(Problem(f"{where}.num_workers", "must be >= 0 (0 loads in the training process)"))
        if c.crop_size > c.load_size:
            problems.append(
                Problem(f"{where}.crop_size", f"{c.crop_size} is larger than load_size {c.load_size}")
            )
        if not c.lora_targets:
            problems.append(Problem(f"{where}.lora_targets", "names no module: LoRA would train nothing"))
        _choice(problems, where, "normalize", c.normalize, tuple(NORMALIZATIONS))
        _choice(problems, where, "augment", c.augment, AUGMENTATIONS)
        _choice(problems, where, "select", c.select, SELECTIONS)
        _choice(problems, where, "select_metric", c.select_metric, SELECT_METRICS)
        _choice(problems, where, "device", c.device, ("auto", "cpu", "cuda"))
        _check_noise(problems, f"{where}.val_noise", c.val_noise)
    if problems:
        raise ConfigError(problems)
    return config


def parse_swap_config(data: Mapping[str, Any] | None, where: str = "expert") -> ExpertSwapConfig:
    config, problems = _parse(ExpertSwapConfig, data, where)
    if not problems and not config.check_fields:
        problems.append(Problem(f"{where}.check_fields", "must name at least one vision-config field"))
    if problems:
        raise ConfigError(problems)
    return config


def parse_infer_config(data: Mapping[str, Any] | None, where: str = "expert") -> ExpertInferConfig:
    config, problems = _parse(ExpertInferConfig, data, where)
    if not problems:
        _positive(problems, where, batch_size=config.batch_size)
        if config.num_workers < 0:
            problems.append(Problem(f"{where}.num_workers", "must be >= 0"))
        if not 0 < config.threshold < 1:
            problems.append(Problem(f"{where}.threshold", f"must lie in (0, 1), got {config.threshold!r}"))
        _choice(problems, where, "device", config.device, ("auto", "cpu", "cuda"))
        _check_noise(problems, f"{where}.noise", config.noise)
        from_metrics = {"accuracy", "ap", "auc"}
        for i, name in enumerate(config.metrics):
            if name not in from_metrics:
                problems.append(
                    Problem(f"{where}.metrics[{i}]", f"must be one of {sorted(from_metrics)}, got {name!r}")
                )
    if problems:
        raise ConfigError(problems)
    return config
