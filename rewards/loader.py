"""Load a verl-style reward function from a file, the way verl does, and check it before launch.

``reward.path=/path/to/reward.py reward.name=compute_score`` on the command line plugs in a user's
own reward; the harness calls :func:`load_reward_fn` before launching anything, so a missing file,
an import error, a missing function or a wrong signature stops the run with a message, not a
crash on the first GRPO step. The module is imported as verl's ``load_extern_object`` imports it
(by file path, under a generated name, not registered in ``sys.modules``), so what passes here
loads there too.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from common.errors import HarnessError

__all__ = ["RewardPluginError", "check_reward_signature", "load_reward_fn", "reward_kwargs_errors"]

# The arguments verl's reward managers pass (verl/experimental/reward_loop/reward_manager/naive.py)
# and rewards/swift_adapter.py passes too.
_CALL_ARGUMENTS = {"data_source": "", "solution_str": "", "ground_truth": "", "extra_info": {}}


class RewardPluginError(HarnessError):
    """A reward file or function that verl or ms-swift could not use; the message says why."""


def _import_file(path: Path) -> Any:
    name = "aigi_reward_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise RewardPluginError(f"reward file {path} cannot be imported as Python (is it a .py file?)")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # SyntaxError, ImportError, SystemExit from a script, ...
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        package = (getattr(exc, "name", None) or "").partition(".")[0]
        if isinstance(exc, ImportError) and package in ("rewards", "common"):
            # rewards/bootstrap.py: a by-path file of this project found no installed project.
            found = getattr(sys.modules.get("rewards"), "__file__", None)
            detail = (
                f"ImportError: {path.name} needs this project's '{package}' package"
                + (f" (the 'rewards' found, {found}, is another one)" if found else "")
                + ": install the project (pip install -e .) or put its root on PYTHONPATH"
            )
        raise RewardPluginError(f"reward file {path} failed to import: {detail}") from exc
    return module


def check_reward_signature(
    fn: Callable, *, where: str, reward_kwargs: Mapping[str, Any] | None = None
) -> None:
    """Raise RewardPluginError unless ``fn(data_source=, solution_str=, ground_truth=,
    extra_info=, **reward_kwargs)`` binds to ``fn``'s signature."""
    if not callable(fn):
        raise RewardPluginError(f"{where} is not callable (it is a {type(fn).__name__})")
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise RewardPluginError(f"{where}: cannot read its signature ({exc}); define it with def") from exc
    kwargs = dict(reward_kwargs or {})
    try:
        signature.bind(**_CALL_ARGUMENTS, **kwargs)
    except TypeError as exc:
        extra = f" plus reward kwargs {sorted(kwargs)}" if kwargs else ""
        raise RewardPluginError(
            f"{where}{signature} cannot be called as fn(data_source=..., solution_str=..., ground_truth=..., "
            f"extra_info=...){extra}: {exc}. Use verl's signature: "
            "def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs)"
        ) from None


def load_reward_fn(path: str | Path, name: str, reward_kwargs: Mapping[str, Any] | None = None) -> Callable:
    """Import ``path`` and return its function ``name``, checked to accept verl's call.

    ``reward_kwargs``, when given, must bind too (verl merges them into every call), and when the
    file defines ``check_reward_kwargs(kwargs)`` (the project's rewards do), their values are
    checked by it. Raises RewardPluginError naming the file and the function otherwise.
    """
    file, module, fn = _load(path, name)
    if reward_kwargs is not None:
        _check_kwargs(file, module, name, fn, reward_kwargs)
    return fn


def reward_kwargs_errors(
    path: str | Path, name: str, kwargs_sets: Sequence[Mapping[str, Any]]
) -> list[str | None]:
    """For each set of reward kwargs (a GRPO stage's), what ``load_reward_fn(path, name, kwargs)``
    would raise, or None; the file is imported once. RewardPluginError when the file or function
    itself cannot be used."""
    file, module, fn = _load(path, name)
    errors: list[str | None] = []
    for kwargs in kwargs_sets:
        try:
            _check_kwargs(file, module, name, fn, kwargs)
            errors.append(None)
        except RewardPluginError as exc:
            errors.append(str(exc))
    return errors


def _load(path: str | Path, name: str) -> tuple[Path, Any, Callable]:
    file = Path(path).expanduser()
    if not file.is_file():
        raise RewardPluginError(
            f"reward file {file} does not exist; set reward.path to an existing .py file "
            "(an absolute path, or relative to the directory the harness runs in)"
        )
    file = file.resolve()
    module = _import_file(file)
    if not hasattr(module, name):
        public = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        raise RewardPluginError(
            f"reward file {file} has no function {name!r}; set reward.name to one of {public}"
        )
    fn = getattr(module, name)
    check_reward_signature(fn, where=f"{name} in {file}")
    return file, module, fn


def _check_kwargs(file: Path, module: Any, name: str, fn: Callable, reward_kwargs: Mapping[str, Any]) -> None:
    check_reward_signature(fn, where=f"{name} in {file}", reward_kwargs=reward_kwargs)
    check_kwargs = getattr(module, "check_reward_kwargs", None)
    if callable(check_kwargs):
        try:
            check_kwargs(dict(reward_kwargs))
        except (TypeError, ValueError) as exc:
            raise RewardPluginError(f"reward kwargs for {name} in {file}: {exc}") from exc
