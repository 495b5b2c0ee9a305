"""GRPO rewards with verl's ``compute_score`` signature, and their ms-swift adapter.

- ``rewards/fakexplain.py``: FakeXplain's progressive grounded reward (seeds 002, 004);
- ``rewards/fake_hr1.py``: Fake-HR1's answer-and-format reward (seed 001's setting);
- ``rewards/swift_adapter.py``: any verl-style reward as an ms-swift GRPO reward function;
- ``rewards/loader.py``: load and check a (user's) reward file before launch;
- ``rewards/geometry.py``: exact box IoUs, shared with the evaluation.

Importing this package imports nothing heavy (standard library only, no trainer).
"""
