"""One hand-started node, for tests: build the torchrun launcher and run a pipeline.

    NODE_RANK=k NNODES=n MASTER_ADDR=... MASTER_PORT=... python node_main.py <spec.json> <out.json>

spec: {"cluster": {...}, "jobs": [Job keyword arguments, ...], "observe": [paths]}. After
each job it records the exit code, the time, and which `observe` paths exist, so a test can
tell whether this node waited for rank 0. It stops at the first failing job, as the harness
does.
"""

import json
import os
import sys
import time

from launch import Job, make_launcher


def main() -> int:
    spec = json.load(open(sys.argv[1]))
    launcher = make_launcher(spec["cluster"])
    results = []
    for kwargs in spec["jobs"]:
        job = Job(**kwargs)
        rc = launcher.run(job)
        results.append(
            {
                "name": job.name,
                "rc": rc,
                "time": time.time(),
                "exists": {p: os.path.exists(p) for p in spec.get("observe", [])},
            }
        )
        if rc != 0:
            break
    with open(sys.argv[2], "w") as f:
        json.dump(results, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
