"""The eval stage: a checkpoint and a test manifest in, the papers' metrics out.

``python -m harness.evaluation --manifest eval.jsonl --model DIR --output-dir DIR --config-json JSON``

Modules, one concern each:

- ``config``: the options (``conf/eval/<paper>.yaml``), typed and checked;
- ``manifest``: the test rows data preparation wrote;
- ``backends``: inference (transformers on CPU, vLLM offline, an OpenAI-compatible server, which
  ``backends.server_process`` can start and stop);
- ``prompts``: the manifest's messages in each backend's shape;
- ``response_formats``, ``free_text``: answers -> verdict, boxes, region texts;
- ``soft_scoring``: probability of ``fake`` from answer-token logits (seed 003 eq. 2);
- ``collaborative_decoding``, ``vllm_logits_processor``: a visual expert's probability mixed into
  the answer logits (AIGI-Holmes);
- ``robustness``: the test-set perturbations of seed 002 Table 5;
- ``predictions``: the resumable ``predictions.jsonl``;
- ``metrics``: accuracy, IoU, BLEU-2, ROUGE-L, AP, AUC, ... registered by name;
- ``runner``: the loop that ties them together and writes ``metrics.json``.
"""
