"""The report stage: the papers' tables side by side with the run's numbers.

``python -m harness.report --run-dir DIR [--run-dir DIR ...] [--config-json JSON] [--output-dir DIR]``

- ``config``: which tables to fill from which metric (``conf/results/<paper>.yaml``);
- ``run_dir``: reading a run directory's manifest, eval metrics and predictions;
- ``tables``: filling cells (paper, run mean and spread over runs, difference);
- ``training_logs``: per-step metrics from ms-swift and verl logs;
- ``plots``: training curves and ROC curves as PNG;
- ``markdown``: rendering; ``builder``: ties them together.
"""
