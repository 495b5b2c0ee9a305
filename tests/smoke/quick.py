"""Overrides for smoke tests that need the FakeXplain pipeline's wiring, not a model that learns.

The FakeXplain smoke profile's SFT is sized to learn (conf/profile_paper/smoke_fakexplain.yaml,
about 5 minutes on 2 cores; tests/smoke/test_smoke_fakexplain.py proves it does); a test of
resuming, signals or a region syntax trains a few small steps instead.
"""

QUICK_SFT = ("stages.sft.max_steps=4", "stages.sft.save_steps=2", "stages.sft.global_batch_size=2")
