"""Refuse to start a GPU stage from an environment that cannot run it (checked before launch).

`make install` builds the CPU set (CPU torch, no vLLM); a GPU stage started from it would fail
minutes later inside the trainer. For the stages this machine runs (cluster=local or torchrun;
Slurm jobs check their own environment in the sbatch script), each stage's needs are listed and
looked up without importing anything:

- a stage on GPUs (cluster.gpus_per_node > 0) needs a CUDA build of torch;
- verl's rollout, the vLLM evaluation backend, an eval stage that starts a vLLM server and ms-swift
  GRPO with ``use_vllm`` need vllm;
- ms-swift with ``--deepspeed`` needs deepspeed;
- flash-attention (attention=flash_attention_2, or verl's default when nothing is set) needs
  flash_attn;
- a training stage needs its experiment tracker's package (tracking=, conf/tracking/: swanlab is
  not in the CPU set).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from common import gpu_env
from common.errors import Problem
from harness.plan import Plan, PlannedStage
from harness.validate.attention import needs_flash_attn


@dataclass(frozen=True)
class Requirement:
    module: str  # import name; "torch.cuda" for a CUDA build of torch
    why: str
    key: str  # the config key that asks for it


def stage_requirements(planned: PlannedStage) -> list[Requirement]:
    """What the stage imports, from its kind's GPU facts, its tracker and its attention."""
    facts = planned.stage_kind.gpu
    needs: list[Requirement] = []
    gpus = planned.ctx.gpus_per_node
    if gpus > 0 and facts.cuda:
        needs.append(Requirement("torch.cuda", f"it runs on {gpus} GPUs", "cluster.gpus_per_node"))
    packages = facts.hook("packages")
    if packages is not None:
        needs += packages(planned)
    tracking = planned.ctx.tracking
    if planned.stage_kind.tracked and tracking is not None and tracking.requires and not planned.ctx.verbatim:
        needs.append(Requirement(tracking.requires, f"the {tracking.name} tracker", "tracking"))
    flash_key = needs_flash_attn(planned)
    if flash_key:
        needs.append(Requirement("flash_attn", "flash-attention", flash_key))
    return needs


# ----- the packages of each trainer (StageKind.gpu.packages) ------------------------------------


def swift_packages(planned: PlannedStage) -> list[Requirement]:
    """ms-swift: DeepSpeed when --deepspeed is set."""
    args = planned.spec.trainer_args
    if not args.get("deepspeed"):
        return []
    return [Requirement("deepspeed", f"--deepspeed {args['deepspeed']}", f"stages.{planned.name}.deepspeed")]


def swift_rlhf_packages(planned: PlannedStage) -> list[Requirement]:
    """`swift rlhf`: as `swift sft`, and vllm for GRPO's colocated rollout (use_vllm)."""
    needs = swift_packages(planned)
    if planned.spec.trainer_args.get("use_vllm"):
        needs.append(Requirement("vllm", "ms-swift GRPO with use_vllm", f"stages.{planned.name}.use_vllm"))
    return needs


def verl_packages(planned: PlannedStage) -> list[Requirement]:
    """verl GRPO: vllm for its rollout."""
    key = f"stages.{planned.name}.actor_rollout_ref.rollout.name"
    return [Requirement("vllm", "verl's vLLM rollout", key)]


def eval_packages(planned: PlannedStage) -> list[Requirement]:
    """harness.evaluation: vllm for its vLLM backend, or for the vLLM server it starts itself."""
    name = planned.name
    options = planned.spec.get("options") or {}
    if options.get("backend") == "vllm":
        return [Requirement("vllm", "the vLLM evaluation backend", f"stages.{name}.options.backend")]
    openai = options.get("openai") or {}
    if options.get("backend") == "openai" and openai.get("launch_server"):
        if any("vllm" in str(part) for part in openai.get("server_command") or []):
            return [Requirement("vllm", "the vLLM server it starts", f"stages.{name}.options.openai")]
    return []


def check_tracker_login(
    plan: Plan, selected: Sequence[PlannedStage], environ: Mapping[str, str], home: Path
) -> list[Problem]:
    """tracking=wandb tracking.mode=online needs a key where wandb looks for one: WANDB_API_KEY in
    the environment or `wandb login`'s netrc entry ($NETRC or ~/.netrc). Without one, wandb stops
    every training stage at start-up (no TTY to ask on)."""
    tracking = next((s.ctx.tracking for s in selected if s.stage_kind.tracked and not s.skip_reason), None)
    if tracking is None or tracking.name != "wandb" or tracking.mode != "online":
        return []
    if any(s.ctx.verbatim for s in selected) or environ.get("WANDB_API_KEY"):
        return []
    netrc = Path(environ.get("NETRC") or home / ".netrc")
    try:
        if "wandb" in netrc.read_text(encoding="utf-8", errors="replace"):
            return []
    except OSError:
        pass
    return [
        Problem(
            "tracking.mode",
            "online wandb needs an API key: export WANDB_API_KEY (or run `wandb login`) before the run, "
            "or use tracking.mode=offline and `wandb sync` later",
        )
    ]


def tracking_need(need: Requirement) -> bool:
    return need.key == "tracking"


def check_environment(
    plan: Plan,
    selected: Sequence[PlannedStage],
    has_module: Callable[[str], bool] = gpu_env.has_module,
    cuda_torch: Callable[[], bool | None] = gpu_env.torch_is_cuda_build,
) -> list[Problem]:
    """One problem per stage this machine would run but this environment cannot."""
    launcher = str(plan.cfg.cluster.launcher)
    if launcher not in ("local", "torchrun"):
        return []  # Slurm: the sbatch script checks the node's environment
    problems: list[Problem] = []
    for planned in selected:
        if planned.skip_reason:
            continue
        missing = []
        for need in stage_requirements(planned):
            present = bool(cuda_torch()) if need.module == "torch.cuda" else has_module(need.module)
            if not present:
                missing.append(need)
        if not missing:
            continue
        what = "; ".join(
            f"{'a CUDA build of torch' if n.module == 'torch.cuda' else n.module} ({n.why}, {n.key})"
            for n in missing
        )
        # A missing tracker is one pip install away, not the GPU set's business.
        trackers = [n.module for n in missing if tracking_need(n)]
        fixes = [gpu_env.fix_command(plan.paper)] if len(trackers) < len(missing) else []
        if trackers:
            fixes.append(f"pip install {' '.join(trackers)} (into this environment), or tracking=tensorboard")
        if any(n.module == "flash_attn" for n in missing):
            fixes.append(
                "make install-flash-attn (builds flash-attn: CUDA toolkit needed), or attention=sdpa"
            )
        problems.append(
            Problem(
                f"stages.{planned.name}",
                f"this environment cannot run it: it lacks {what}. {gpu_env.describe()}. Fix: {'; '.join(fixes)}",
            )
        )
    return problems
