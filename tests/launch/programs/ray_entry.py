"""A verl-style driver for tests: attach to the running Ray cluster and report it.

    python ray_entry.py <out.json> <args...>

verl's main_ppo calls ray.init() without an address, which joins the cluster named by
RAY_ADDRESS; this does the same, then records how many nodes were alive (and their
resources) at the moment the command started, plus its argv. verl itself cannot run on a
CPU (its rollout needs vLLM/SGLang on a GPU), so this stands in for it.
"""

import json
import os
import sys

import ray


def main() -> int:
    out, args = sys.argv[1], sys.argv[2:]
    ray.init(logging_level="ERROR", log_to_driver=False)
    nodes = [n for n in ray.nodes() if n["Alive"]]
    report = {
        "alive_nodes": len(nodes),
        "launch_nodes": sum(1 for n in nodes if n["Resources"].get("launch_node")),
        "cpus": sum(n["Resources"].get("CPU", 0) for n in nodes),
        "ray_address": os.environ.get("RAY_ADDRESS"),
        "argv": args,
    }
    ray.shutdown()
    with open(out + ".tmp", "w") as f:
        json.dump(report, f)
    os.replace(out + ".tmp", out)
    print(f"ray entry saw {report['alive_nodes']} nodes", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
