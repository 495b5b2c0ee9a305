"""Stand-in for ms-swift's CLI launcher (swift/cli/main.py in ms-swift 4.6.0), for tests.

Does exactly what ms-swift does with the env contract and nothing else: when NPROC_PER_NODE
or NNODES is set it runs `python -m torch.distributed.run` with --nproc_per_node,
--master_port, --nnodes, --node_rank, --master_addr taken from the variables that are set,
otherwise it runs the worker as one plain process. The real ms-swift cannot train on this
CPU machine inside a test's time budget; the launcher's contract with it is only this.

    python fake_swift.py <worker.py> <args...>
"""

import os
import subprocess
import sys


def main() -> int:
    worker, argv = sys.argv[1], sys.argv[2:]
    torchrun = []
    if os.getenv("NPROC_PER_NODE") is not None or os.getenv("NNODES") is not None:
        for key in ("NPROC_PER_NODE", "MASTER_PORT", "NNODES", "NODE_RANK", "MASTER_ADDR"):
            value = os.getenv(key)
            if value is not None:
                torchrun += [f"--{key.lower()}", value]
    if torchrun:
        cmd = [sys.executable, "-m", "torch.distributed.run", *torchrun, worker, *argv]
    else:
        cmd = [sys.executable, worker, *argv]
    print(f"run sh: `{' '.join(cmd)}`", flush=True)
    return subprocess.run(cmd).returncode


if __name__ == "__main__":
    sys.exit(main())
