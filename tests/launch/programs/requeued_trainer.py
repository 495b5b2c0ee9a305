"""A stand-in for an ms-swift trainer whose job Slurm requeues mid-run, for tests.

    python requeued_trainer.py <output_dir> <report.jsonl> [--resume_from_checkpoint DIR]

Every start appends {"argv", "restart"} to the report. A start without a checkpoint to resume
from writes a complete checkpoint-5 (trainer_state.json last, as the Trainer does) and sleeps
until the test requeues the job; a start with --resume_from_checkpoint exits 0.
"""

import json
import os
import sys
import time


def main() -> int:
    output, report = sys.argv[1], sys.argv[2]
    with open(report, "a") as f:
        f.write(
            json.dumps({"argv": sys.argv[3:], "restart": os.environ.get("SLURM_RESTART_COUNT", "0")}) + "\n"
        )
    if "--resume_from_checkpoint" in sys.argv:
        return 0
    checkpoint = os.path.join(output, "checkpoint-5")
    os.makedirs(checkpoint, exist_ok=True)
    with open(os.path.join(checkpoint, "trainer_state.json"), "w") as f:
        f.write('{"global_step": 5}')
    time.sleep(300)
    return 3


if __name__ == "__main__":
    raise SystemExit(main())
