"""GRPO rewards with verl's ``compute_score`` signature, and their ms-swift adapter.

- ``rewards/fakexplain.py``: FakeXplain's progressive grounded reward (seeds 002, 004) and its
  response format for evaluation (``think_tag_verdict``);
- ``rewards/fake_hr1.py``: Fake-HR1's answer-and-format reward (seed 001's setting) and its
  response format (``think_answer``);
- ``rewards/swift_adapter.py``: any verl-style reward as an ms-swift GRPO reward function;
- ``rewards/loader.py``: load and check a (user's) reward file before launch;
- ``rewards/registry.py``: rewards by name (``@grpo_reward``; ``path: ${reward_file:<name>}``);
- ``rewards/bootstrap.py``: what a reward file loaded by path (verl, ms-swift, a run's copy) needs;
- ``rewards/geometry.py``: exact box IoUs, shared with the evaluation.

Importing this package imports nothing heavy (standard library only, no trainer).
"""
