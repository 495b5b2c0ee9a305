"""Data preparation: converters for every paper's data, synthetic data, tiny models, downloads.

Command line: ``python -m data_prep convert|synth|tiny-model|download|check`` (data_prep/__main__.py).

Modules (one concern each):

- ``conversion``         the stage runner: streams records through worker processes into the
                         output files, ``rejects.jsonl`` and ``stats.json``; ``run_conversion()``.
- ``sources/<name>``     one module per source format, selected by ``--source``; each declares itself
                         (``@data_source``; ``sources/__init__.py`` holds the registry, a plugin's
                         package adds its own).
- ``synth_layouts/``     synthetic datasets in the sources' raw layouts (``@synth_layout``).
- ``check``              ``check --source NAME``: is a dataset in place usable (every source).
- ``source_api``         what a source module provides (``Options``, ``prepare``, ``convert``).
- ``records``            ``RecordRejected`` and the reject reasons; ``Converted`` rows.
- ``readers`` / ``writers``  streaming jsonl / JSON-array input, jsonl / parquet output.
- ``model_frame``        Qwen2.5-VL's resize rule and box mapping into the model frame.
- ``fakexplain_format``  the ``<think>/<tag>/<verdict>`` response and the ground truth.
- ``chat_templates``     chat templates from a YAML file and their seeded choice (FakeXplain's nine).
- ``cv_folds``           002's four-fold cross-validation split.
- ``eval_manifest``      the evaluation manifest row (``eval.jsonl``).
- ``image_check``        image existence / decoding checks.
- ``synth_fakexplained`` a synthetic FakeXplained-shaped dataset.
- ``tiny_model``         tiny random-weight Qwen2.5-VL and LLaVA-1.6 folders; ``tiny_corpus`` the
                         tokenizer's corpus, from the registered response formats and layouts.
- ``hub_download``       Hugging Face / ModelScope downloads with the hubs' own clients.
- ``cpu_compat``         CPU-only patches for transformers 5.10 / qwen_vl_utils without torchvision;
                         also an ms-swift ``--external_plugins`` file.
- ``conf_data``          where ``conf/data_prep/*.yaml`` is read from.

Nothing here imports ``launch/``. Heavy libraries (torch, transformers, ms-swift) are imported
only by ``tiny_model`` and ``cpu_compat``, never by the conversion path.
"""
