"""What a launcher runs: one stage's command, its environment and the shape of the run.

A `Job` is the whole contract between the harness and a launcher. The harness renders the
trainer's argv and env; the launcher decides where and how many times it runs. Launchers
know nothing about papers or trainers beyond `mode`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from common.errors import HarnessError

# single:   one process on the first node (data prep, LoRA merge, eval, report).
# torchrun: ms-swift's env contract (NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT,
#           NPROC_PER_NODE) on every node; ms-swift starts torchrun itself.
# ray:      a Ray cluster over the nodes; argv runs once on the head after every node joined.
MODES = ("single", "torchrun", "ray")

# The allocation values a launcher can substitute into argv (Job.alloc_args values).
ALLOC_FIELDS = ("nnodes", "gpus_per_node")

# Stage names become file names and Slurm job names; keep them to a portable alphabet.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class JobError(HarnessError):
    """A Job that no launcher can run; the message names the field to change."""


@dataclass(frozen=True)
class Job:
    """One stage, ready to launch.

    Fields:
        name: stage name; logs go to `<log_dir>/<name>.node<k>.log`.
        argv: the command, one item per argument (never a shell string).
        env: non-secret stage variables, merged over the inherited environment. A variable
            whose name matches a secret pattern still reaches the process, but only through
            the environment, never through a script or log.
        mode: one of MODES.
        nnodes: nodes the stage spans. A "single" stage always runs on the first node only,
            whatever nnodes says (the harness may pass the cluster's size for every stage).
        gpus_per_node: GPUs used on each node; 0 runs on CPU.
        workdir: working directory of every process.
        log_dir: directory of the per-node logs (shared by all nodes).
        alloc_args: argv keys whose values the launcher derives from the allocation, e.g.
            {"trainer.nnodes": "nnodes", "trainer.n_gpus_per_node": "gpus_per_node"}; the
            `key=value` item is rewritten (appended when absent) so it cannot disagree with
            the nodes and GPUs the stage really has.
        post_argv: commands run on the first node after the main command succeeded, with the
            same env and cwd (for example recording the stage's last checkpoint).
        requires: import names the interpreter running the stage must have, besides a CUDA build
            of torch (`python -m common.gpu_env check`); empty: no environment check.
        env_build: the command that builds that environment when the check fails (run under a
            lock in the workdir, then checked again); empty: the job stops with the check's message.
    """

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    mode: str = "single"
    nnodes: int = 1
    gpus_per_node: int = 0
    workdir: str = "."
    log_dir: str = "logs"
    alloc_args: Mapping[str, str] = field(default_factory=dict)
    post_argv: tuple[tuple[str, ...], ...] = ()
    requires: tuple[str, ...] = ()
    env_build: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Accept lists from callers but store immutable tuples (the dataclass is frozen).
        object.__setattr__(self, "argv", tuple(self.argv))
        object.__setattr__(self, "post_argv", tuple(tuple(cmd) for cmd in self.post_argv))
        object.__setattr__(self, "requires", tuple(self.requires))
        object.__setattr__(self, "env_build", tuple(self.env_build))
        object.__setattr__(self, "env", dict(self.env))
        object.__setattr__(self, "alloc_args", dict(self.alloc_args))
        object.__setattr__(self, "workdir", str(self.workdir))
        object.__setattr__(self, "log_dir", str(self.log_dir))
        self._validate()

    def _validate(self) -> None:
        where = f"stage {self.name!r}"
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise JobError(
                f"stage name {self.name!r} must match {_NAME.pattern} "
                "(it names log files and Slurm jobs); rename the stage"
            )
        if self.mode not in MODES:
            raise JobError(f"{where}: mode {self.mode!r} is not one of {', '.join(MODES)}")
        _check_argv(self.argv, f"{where}: argv")
        for i, cmd in enumerate(self.post_argv):
            _check_argv(cmd, f"{where}: post_argv[{i}]")
        if self.env_build:
            _check_argv(self.env_build, f"{where}: env_build")
        for module in self.requires:
            if not isinstance(module, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", module):
                raise JobError(f"{where}: requires holds {module!r}, which is not an import name")
        if not isinstance(self.nnodes, int) or self.nnodes < 1:
            raise JobError(f"{where}: nnodes must be an integer >= 1, got {self.nnodes!r}")
        if not isinstance(self.gpus_per_node, int) or self.gpus_per_node < 0:
            raise JobError(f"{where}: gpus_per_node must be an integer >= 0, got {self.gpus_per_node!r}")
        for key, value in self.env.items():
            if not isinstance(key, str) or not _ENV_NAME.fullmatch(key):
                raise JobError(f"{where}: env name {key!r} is not a valid variable name")
            if not isinstance(value, str):
                raise JobError(
                    f"{where}: env {key} must be a string, got {type(value).__name__}; "
                    "convert it when rendering the stage"
                )
            if "\0" in value:
                raise JobError(f"{where}: env {key} contains a NUL byte")
        for key, what in self.alloc_args.items():
            if what not in ALLOC_FIELDS:
                raise JobError(
                    f"{where}: alloc_args[{key!r}] = {what!r}; expected one of {', '.join(ALLOC_FIELDS)}"
                )
        if not self.workdir:
            raise JobError(f"{where}: workdir is empty")
        if not self.log_dir:
            raise JobError(f"{where}: log_dir is empty")

    @property
    def nodes_used(self) -> int:
        """Nodes the stage really occupies: 1 for mode "single", else nnodes."""
        return 1 if self.mode == "single" else self.nnodes

    def log_file(self, node_rank: int, suffix: str = "") -> str:
        """Path of this stage's log for one node, e.g. `<log_dir>/sft.node1.log`."""
        return f"{self.log_dir}/{self.name}.node{node_rank}{suffix}.log"


@dataclass(frozen=True)
class AllocRef:
    """Placeholder for an argv item whose value comes from the allocation."""

    key: str
    field: str

    def resolve(self, values: Mapping[str, object]) -> str:
        return f"{self.key}={values[self.field]}"


def alloc_argv(job: Job) -> list[str | AllocRef]:
    """The job's argv with its alloc_args items replaced by AllocRef placeholders.

    An item `key=anything` for a key in alloc_args becomes AllocRef(key, field); keys absent
    from argv are appended, so the trainer always receives the allocation's value.
    """
    out: list[str | AllocRef] = []
    seen: set[str] = set()
    for item in job.argv:
        key = item.split("=", 1)[0] if "=" in item else None
        if key is not None and key in job.alloc_args:
            out.append(AllocRef(key, job.alloc_args[key]))
            seen.add(key)
        else:
            out.append(item)
    for key, what in job.alloc_args.items():
        if key not in seen:
            out.append(AllocRef(key, what))
    return out


def resolved_argv(job: Job, nnodes: int, gpus_per_node: int) -> tuple[str, ...]:
    """The job's argv with alloc_args set from the given topology."""
    values = {"nnodes": nnodes, "gpus_per_node": gpus_per_node}
    return tuple(item.resolve(values) if isinstance(item, AllocRef) else item for item in alloc_argv(job))


def _check_argv(argv: Sequence[str], where: str) -> None:
    if not argv:
        raise JobError(f"{where} is empty")
    for i, item in enumerate(argv):
        if not isinstance(item, str):
            raise JobError(f"{where}[{i}] is {type(item).__name__} {item!r}; every argument must be a string")
        if "\0" in item:
            raise JobError(f"{where}[{i}] contains a NUL byte, which no process can receive")
