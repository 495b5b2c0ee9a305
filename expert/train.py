"""``python -m expert train``: the visual expert's training loop (AIGI-Holmes stage 1).

Baselines_AIGI/train_with_config.py ``UnifiedTrainer.train`` (wyczzy/AIGI-Holmes bae30b9), per
epoch: every batch one Adam step on BCE-with-logits; after epoch ``e`` (counted from 0) with
``e % delr_freq == 0 and e != 0`` the learning rate is multiplied by 0.9; then the model is
tested and a checkpoint named after the mean accuracy and AP is saved. Here:

- the learning rate is a ``torch.optim.lr_scheduler.LambdaLR`` stepped once per epoch with the
  same factor 0.9 ** ((epochs done - 1) // every), never below ``min_lr`` (the authors'
  ``adjust_learning_rate(min_lr=1e-6)`` reports the floor but train_with_config.py ignores it and
  keeps multiplying: the two differ only after epoch 880 of their 1000);
- ``early_stop_patience`` (the authors' ``earlystop_epoch`` option, 15, which their loop never
  reads) stops after that many epochs without a better validation score; null trains all epochs;
- every epoch's validation (accuracy, AP, real and fake accuracy, per generator and their mean
  over generators) goes to ``metrics.jsonl``; ``select`` picks the checkpoint that becomes the
  stage's output ``final/`` (best by ``select_metric`` averaged over generators, or last);
- checkpoints (adapter + head tensors, optimizer, scheduler, counters; ``state.json`` written last,
  the folder renamed into place) are written at every epoch end and every ``save_every_steps``;
  a restarted run continues from the newest complete one, mid-epoch included (the epoch's order
  and each image's augmentation are functions of seed, epoch and index), and refuses a changed
  config.

Outputs in ``--output-dir``: ``checkpoints/step-<N>/``, ``log.jsonl`` (loss and lr every
``log_every_steps`` steps), ``metrics.jsonl`` (one line per epoch), ``final/`` (PEFT adapter
folder + ``head.safetensors`` + ``expert.json``).
"""

from __future__ import annotations

import dataclasses
import json
import random
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from common.atomic import atomic_folder
from common.errors import ConfigError, HarnessError, Problem
from common.parse import to_mapping
from expert.config import ExpertTrainConfig
from expert.data import ManifestImages, SkipSampler
from expert.distributed import DistContext
from expert.images import ImageTransform
from expert.model import META_FILE, ExpertClassifier, build_trainable, save_head
from expert.scoring import score
from harness.evaluation.manifest import EvalItem, read_manifest

__all__ = ["CHECKPOINTS", "FINAL", "latest_checkpoint", "lr_factor", "train"]

CHECKPOINTS = "checkpoints"
FINAL = "final"
STATE_FILE = "state.json"
TRAINABLE_FILE = "trainable.safetensors"
OPTIMIZER_FILE = "optimizer.pt"
# Keys that may change between a run and its resume (they do not change what is learned so far).
RESUMABLE_CHANGES = {"epochs", "max_steps", "early_stop_patience", "early_stop_min_delta", "num_workers",
                     "val_batch_size", "log_every_steps", "save_every_steps", "device", "select"}  # fmt: skip


class ExpertTrainingError(HarnessError):
    """The expert cannot train as asked; the message says what to change."""


def lr_factor(epochs_done: int, config: ExpertTrainConfig) -> float:
    """The learning-rate multiplier once ``epochs_done`` epochs are complete."""
    decays = max(epochs_done - 1, 0) // config.lr_decay_every_epochs
    return max(config.lr_decay**decays, config.min_lr / config.lr)


@dataclasses.dataclass
class TrainState:
    epoch: int = 0  # the epoch in progress (or next to start)
    step: int = 0  # optimizer steps done
    batch_in_epoch: int = 0  # batches of `epoch` already done
    best: float | None = None
    best_step: int | None = None
    best_epoch: int | None = None
    epochs_without_improvement: int = 0
    stopped: str | None = None  # why training ended early (early stop, max_steps)
    config: dict[str, Any] = dataclasses.field(default_factory=dict)


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest checkpoint whose state.json exists (written last, so it is complete)."""
    root = Path(output_dir) / CHECKPOINTS
    if not root.is_dir():
        return None
    done = [p for p in root.glob("step-*") if (p / STATE_FILE).is_file()]
    return max(done, key=lambda p: int(p.name.split("-", 1)[1])) if done else None


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _append_jsonl(path: Path, record: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, allow_nan=False) + "\n")


class _Trainer:
    def __init__(
        self,
        ctx: DistContext,
        config: ExpertTrainConfig,
        base_model: str,
        train_items: list[EvalItem],
        val_items: list[EvalItem],
        output_dir: Path,
        log: Any,
    ) -> None:
        self.ctx, self.config, self.base_model = ctx, config, base_model
        self.train_items, self.val_items = train_items, val_items
        self.out, self.log = output_dir, log
        if config.batch_size % ctx.world_size:
            raise ConfigError(
                Problem(
                    "batch_size",
                    f"the global batch {config.batch_size} does not split over {ctx.world_size} processes",
                )
            )
        self.per_device = config.batch_size // ctx.world_size
        _seed_everything(config.seed)
        self.model: ExpertClassifier = build_trainable(
            base_model,
            rank=config.lora_rank,
            alpha=config.lora_alpha,
            dropout=config.lora_dropout,
            targets=config.lora_targets,
            head_init_std=config.head_init_std,
        )
        image_size = int(self.model.backbone.config.image_size)
        if image_size != config.crop_size:
            raise ConfigError(
                Problem(
                    "crop_size",
                    f"{config.crop_size} differs from the CLIP model's image_size {image_size} "
                    f"({base_model}/config.json): the position embeddings fit only that size",
                )
            )
        self.model.to(ctx.device)
        self.trainable = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
        self.wrapped: nn.Module = self.model
        if ctx.world_size > 1:
            ids = [ctx.device.index] if ctx.device.type == "cuda" else None
            self.wrapped = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        self.optimizer = torch.optim.Adam(
            [p for _, p in self.trainable], lr=config.lr, betas=(config.beta1, config.beta2)
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda epochs_done: lr_factor(epochs_done, config)
        )
        self.loss_fn = nn.BCEWithLogitsLoss()
        self.state = TrainState(config=to_mapping(config))
        self.train_set = ManifestImages(
            train_items,
            ImageTransform(
                load_size=config.load_size,
                crop_size=config.crop_size,
                normalize=config.normalize,
                train=True,
                augment=config.augment,
                flip=config.flip,
            ),
            config.seed,
        )
        self.val_set = ManifestImages(
            val_items,
            ImageTransform(
                load_size=config.load_size,
                crop_size=config.crop_size,
                normalize=config.normalize,
                train=False,
                noise=config.val_noise,
            ),
            config.seed,
        )

    # ----- checkpoints ---------------------------------------------------------------------------

    def resume(self) -> None:
        checkpoint = latest_checkpoint(self.out)
        if checkpoint is None:
            return
        from safetensors.torch import load_file

        state = json.loads((checkpoint / STATE_FILE).read_text(encoding="utf-8"))
        saved, now = state.get("config", {}), to_mapping(self.config)
        changed = sorted(
            k for k in set(saved) | set(now) if k not in RESUMABLE_CHANGES and saved.get(k) != now.get(k)
        )
        if changed:
            raise ExpertTrainingError(
                f"{checkpoint} was trained with another config; changed: "
                + "; ".join(f"{k} ({saved.get(k)!r} -> {now.get(k)!r})" for k in changed)
                + ". Rerun the stage from scratch (from_stage=<stage>) or restore the values"
            )
        tensors = load_file(str(checkpoint / TRAINABLE_FILE), device=str(self.ctx.device))
        params = dict(self.trainable)
        missing = sorted(set(params) ^ set(tensors))
        if missing:
            raise ExpertTrainingError(f"{checkpoint}: tensors do not match the model: {missing[:5]}")
        with torch.no_grad():
            for name, parameter in params.items():
                parameter.copy_(tensors[name])
        extra = torch.load(checkpoint / OPTIMIZER_FILE, map_location=self.ctx.device, weights_only=False)
        self.optimizer.load_state_dict(extra["optimizer"])
        self.scheduler.load_state_dict(extra["scheduler"])
        torch.set_rng_state(extra["torch_rng"])
        fields = {f.name for f in dataclasses.fields(TrainState)}
        self.state = TrainState(**{k: v for k, v in state.items() if k in fields})
        self.state.config = now
        self.log(
            f"expert: resumed from {checkpoint} (epoch {self.state.epoch}, "
            f"{self.state.batch_in_epoch} batches into it, step {self.state.step})"
        )

    def save(self) -> None:
        """Rank 0 writes checkpoints/step-<N>; older ones (but the best) are removed after."""
        if self.ctx.is_main:
            from safetensors.torch import save_file

            root = self.out / CHECKPOINTS
            root.mkdir(parents=True, exist_ok=True)
            final = root / f"step-{self.state.step}"
            with atomic_folder(final, sole_writer=True) as tmp:
                save_file(
                    {n: p.detach().to("cpu").contiguous() for n, p in self.trainable},
                    str(tmp / TRAINABLE_FILE),
                )
                torch.save(
                    {
                        "optimizer": self.optimizer.state_dict(),
                        "scheduler": self.scheduler.state_dict(),
                        "torch_rng": torch.get_rng_state(),
                    },
                    tmp / OPTIMIZER_FILE,
                )
                (tmp / STATE_FILE).write_text(
                    json.dumps(dataclasses.asdict(self.state), indent=2), encoding="utf-8"
                )
            keep = {final.name, f"step-{self.state.best_step}"}
            for old in root.glob("step-*"):
                if old.name not in keep:
                    shutil.rmtree(old, ignore_errors=True)
        self.ctx.barrier()

    # ----- the loop ------------------------------------------------------------------------------

    def _loader(self, dataset: ManifestImages, shuffle: bool, batch: int, skip: int) -> DataLoader:
        sampler = DistributedSampler(
            dataset,
            num_replicas=self.ctx.world_size,
            rank=self.ctx.rank,
            shuffle=shuffle,
            seed=self.config.seed,
            drop_last=False,
        )
        sampler.set_epoch(self.state.epoch)
        return DataLoader(
            dataset,
            batch_size=batch,
            sampler=SkipSampler(sampler, skip * batch),
            num_workers=self.config.num_workers,
            pin_memory=self.ctx.device.type == "cuda",
            drop_last=False,
        )

    def run(self) -> TrainState:
        config, state = self.config, self.state
        logs = self.out / "log.jsonl"
        while state.stopped is None and state.epoch < config.epochs:
            self.train_set.epoch = state.epoch
            loader = self._loader(self.train_set, True, self.per_device, state.batch_in_epoch)
            self.wrapped.train()
            running, count, started = 0.0, 0, time.monotonic()
            for pixels, labels, _ in loader:
                pixels = pixels.to(self.ctx.device, non_blocking=True)
                labels = labels.to(self.ctx.device, non_blocking=True)
                loss = self.loss_fn(self.wrapped(pixels), labels)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                state.step += 1
                state.batch_in_epoch += 1
                running, count = running + float(loss.detach()), count + 1
                if state.step % config.log_every_steps == 0 and self.ctx.is_main:
                    record = {
                        "step": state.step,
                        "epoch": state.epoch,
                        "loss": running / count,
                        "lr": self.optimizer.param_groups[0]["lr"],
                        "images_per_s": count * config.batch_size / max(time.monotonic() - started, 1e-9),
                    }
                    _append_jsonl(logs, record)
                    self.log(json.dumps(record))
                    running, count, started = 0.0, 0, time.monotonic()
                if config.max_steps is not None and state.step >= config.max_steps:
                    state.stopped = f"max_steps {config.max_steps} reached"
                    break
                if config.save_every_steps and state.step % config.save_every_steps == 0:
                    self.save()
            self._end_of_epoch()
        return state

    def _end_of_epoch(self) -> None:
        config, state = self.config, self.state
        metrics = self.validate() if self.val_items else None
        state.epoch += 1
        state.batch_in_epoch = 0
        self.scheduler.step()
        record: dict[str, Any] = {"epoch": state.epoch - 1, "step": state.step,
                                  "lr_next": self.optimizer.param_groups[0]["lr"]}  # fmt: skip
        if metrics is not None:
            values = metrics["values"]
            key = f"{config.select_metric}/generator_macro"
            value = values.get(key)
            if value is None:
                value = values.get(config.select_metric)
            record["val"] = values
            record["val_score"] = value
            if value is not None and (state.best is None or value > state.best + config.early_stop_min_delta):
                state.best, state.best_step, state.best_epoch = value, state.step, state.epoch - 1
                state.epochs_without_improvement = 0
            else:
                state.epochs_without_improvement += 1
            patience = config.early_stop_patience
            if (
                patience is not None
                and state.epochs_without_improvement >= patience
                and state.stopped is None
            ):
                state.stopped = f"early stop: no better {key} for {patience} epochs"
        if self.ctx.is_main:
            _append_jsonl(self.out / "metrics.jsonl", record)
            self.log(
                f"expert: epoch {record['epoch']} done at step {state.step}; "
                + (
                    f"val {config.select_metric} {record.get('val_score')}"
                    if metrics
                    else "no validation set"
                )
            )
        self.save()

    @torch.no_grad()
    def probabilities(self, dataset: ManifestImages) -> list[float]:
        """p(fake) for every image of ``dataset`` (sharded over ranks, gathered in order)."""
        self.model.eval()
        loader = self._loader(dataset, False, self.config.val_batch_size, 0)
        local: list[tuple[int, float]] = []
        for pixels, _, indices in loader:
            logits = self.model(pixels.to(self.ctx.device))
            local += [(int(i), float(p)) for i, p in zip(indices, torch.sigmoid(logits).cpu())]
        merged: dict[int, float] = {}
        for part in self.ctx.gather(local):
            merged.update(part)  # DistributedSampler pads with repeats: the same index, the same value
        self.model.train()
        return [merged[i] for i in range(len(dataset))]

    def validate(self) -> dict[str, Any]:
        probabilities = self.probabilities(self.val_set)
        return score(self.val_items, probabilities, 0.5, ("accuracy", "ap"))

    # ----- the output ----------------------------------------------------------------------------

    def finalize(self) -> Path:
        """Write final/: the selected checkpoint as a PEFT adapter folder + head + expert.json."""
        config, state = self.config, self.state
        chosen = latest_checkpoint(self.out)
        if config.select == "best" and state.best_step is not None:
            chosen = self.out / CHECKPOINTS / f"step-{state.best_step}"
        if chosen is None or not (chosen / STATE_FILE).is_file():
            raise ExpertTrainingError(f"no complete checkpoint to select in {self.out / CHECKPOINTS}")
        final = self.out / FINAL
        if self.ctx.is_main:
            from safetensors.torch import load_file

            tensors = load_file(str(chosen / TRAINABLE_FILE))
            with torch.no_grad():
                for name, parameter in self.trainable:
                    parameter.copy_(tensors[name].to(parameter.device))
            with atomic_folder(final, sole_writer=True) as tmp:
                self.model.backbone.save_pretrained(str(tmp))
                save_head(self.model.head, tmp)
                chosen_state = json.loads((chosen / STATE_FILE).read_text(encoding="utf-8"))
                meta = {
                    "base_model": str(Path(self.base_model).resolve()),
                    "preprocess": {
                        "load_size": config.load_size,
                        "crop_size": config.crop_size,
                        "normalize": config.normalize,
                    },
                    "checkpoint": chosen.name,
                    "selected": config.select
                    if config.select == "last" or state.best_step is not None
                    else "last",
                    "epoch": chosen_state["epoch"] - 1,
                    "step": chosen_state["step"],
                    "val_score": state.best if chosen.name == f"step-{state.best_step}" else None,
                    "select_metric": config.select_metric,
                    "stopped": state.stopped,
                    "config": to_mapping(config),
                }
                (tmp / META_FILE).write_text(
                    json.dumps(meta, indent=2, allow_nan=False) + "\n", encoding="utf-8"
                )
            self.log(f"expert: wrote {final} from {chosen.name}")
        self.ctx.barrier()
        return final


def train(
    train_manifest: str,
    val_manifest: str | None,
    base_model: str,
    output_dir: str,
    config: ExpertTrainConfig,
    log: Any = print,
) -> Path:
    """Train (or resume) and write ``<output_dir>/final``; returns its path."""
    if config.select == "best" and not val_manifest:
        raise ConfigError(Problem("select", "best needs a validation manifest (--val-manifest); or use last"))
    ctx = DistContext.setup(config.device)
    try:
        out = Path(output_dir)
        if ctx.is_main:
            out.mkdir(parents=True, exist_ok=True)
        ctx.barrier()
        train_items = read_manifest(train_manifest)
        if not train_items:
            raise ExpertTrainingError(f"{train_manifest} holds no image")
        labels = {item.label for item in train_items}
        if labels != {"real", "fake"}:
            raise ExpertTrainingError(
                f"{train_manifest} has only {sorted(labels)} images; the expert needs both"
            )
        val_items = read_manifest(val_manifest) if val_manifest else []
        trainer = _Trainer(ctx, config, base_model, train_items, val_items, out, log)
        trainer.resume()
        if ctx.is_main:
            log(
                f"expert: {len(train_items)} training images, {len(val_items)} validation images, "
                f"{ctx.world_size} process(es) x batch {trainer.per_device} on {ctx.device}"
            )
        state = trainer.run()
        if state.stopped and ctx.is_main:
            log(f"expert: stopped: {state.stopped}")
        return trainer.finalize()
    finally:
        ctx.close()
