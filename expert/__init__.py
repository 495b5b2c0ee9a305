"""The visual expert: a binary real/fake classifier on a CLIP vision tower (AIGI-Holmes stage 1).

A CLIP vision model with its visual projection (transformers ``CLIPVisionModelWithProjection``),
LoRA adapters on every attention block (PEFT) and a linear head on the projected image embedding,
trained with BCE-with-logits. Three programs, each a stage kind of the harness:

- ``python -m expert train``: train the LoRA and the head (torch DataLoader with workers; plain
  DDP when started under torchrun, which it does itself like ms-swift when the launcher sets
  ``NPROC_PER_NODE``/``NNODES``); resumable checkpoints; per-epoch validation (accuracy, AP,
  real and fake accuracy, per generator).
- ``python -m expert swap``: merge the LoRA into the CLIP weights, keep the head, and write a
  LLaVA folder whose vision tower is the merged expert (every other tensor unchanged).
- ``python -m expert infer``: the expert's probability of ``fake`` for every image of an
  evaluation manifest, in the file collaborative decoding reads, plus its own metrics.

``expert.config`` and ``expert.stage_kinds`` import neither torch nor transformers (the harness
renders the stages without them).
"""
