"""Renderers: pure functions from a resolved stage to the real command (argv, env).

Each stage kind names one renderer (`harness.kinds`). A renderer reads nothing but its
`StageContext` (no environment, no files, no clock) and returns a `Rendered` command; launching
it is `launch/`'s job. `Rendered.keys` maps every rendered flag or override back to the config key
it came from, so validation errors can name the key the user has to change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.render.tracking import Tracking


@dataclass(frozen=True)
class StageContext:
    """Everything a renderer may read: one stage's resolved config and where it runs."""

    name: str
    kind: str
    args: Mapping[str, Any]  # trainer arguments (the stage config minus harness keys)
    inputs: Mapping[str, Any]  # input name -> resolved path (or list of paths)
    stage_dir: str
    run_dir: str
    repo: str
    nnodes: int
    gpus_per_node: int
    dialect: Mapping[str, Any]  # the trainer's dialect (conf/dialect/<trainer>/)
    env: Mapping[str, str] = field(default_factory=dict)
    global_batch_size: int | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    reward_fn: Mapping[str, Any] | None = None  # ms-swift GRPO reward: {path, name, kwargs}
    # as_published=true: add nothing the recipe does not state, so a seed's own command comes
    # out verbatim (harness conveniences such as checkpoint symlinks are left out).
    verbatim: bool = False
    # The experiment tracker of training stages (conf/tracking/); None: the renderer adds none.
    tracking: Tracking | None = None


@dataclass(frozen=True)
class Rendered:
    argv: tuple[str, ...]
    env: Mapping[str, str]
    mode: str  # launch mode: single | torchrun | ray
    keys: Mapping[str, str] = field(default_factory=dict)  # flag/override key -> config key
    alloc_args: Mapping[str, str] = field(default_factory=dict)
    post_argv: tuple[tuple[str, ...], ...] = ()
    warnings: tuple[str, ...] = ()


Renderer = Callable[[StageContext], Rendered]
