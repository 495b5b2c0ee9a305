"""Manifest images as a torch Dataset, and a sampler that resumes inside an epoch.

The expert reads the evaluation manifest shape every data_prep source writes (``eval.jsonl``:
``id``, ``image``, ``label`` real|fake, ``generator``): AIGI-Holmes' ``0_real``/``1_fake``
folders become one through ``data_prep convert --source testset_folders`` (1 = fake, as the
authors' ImageFolder reads them).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Dataset, Sampler

from expert.images import ImageTransform, sample_rng
from harness.evaluation.manifest import EvalItem

__all__ = ["ManifestImages", "SkipSampler"]


class ManifestImages(Dataset):
    """(pixels, label 1.0 = fake, index); training draws come from (seed, epoch, index)."""

    def __init__(self, items: Sequence[EvalItem], transform: ImageTransform, seed: int) -> None:
        self.items = list(items)
        self.transform = transform
        self.seed = seed
        self.epoch = 0  # set before each epoch's iterator is created (workers copy it then)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        item = self.items[index]
        rng = sample_rng(self.seed, self.epoch, index) if self.transform.train else None
        pixels = self.transform(item.image, rng)
        return pixels, torch.tensor(1.0 if item.label == "fake" else 0.0), index


class SkipSampler(Sampler[int]):
    """The indices of ``base`` after the first ``skip`` (the batches a resumed epoch already did)."""

    def __init__(self, base: Sampler[int], skip: int) -> None:
        self.base = base
        self.skip = skip

    def __iter__(self) -> Iterator[int]:
        for position, index in enumerate(self.base):
            if position >= self.skip:
                yield index

    def __len__(self) -> int:
        return max(0, len(self.base) - self.skip)  # type: ignore[arg-type]
