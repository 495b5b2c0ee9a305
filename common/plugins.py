"""A user's own Python package, imported so that its sources, layouts, formats and rewards register.

A paper that lives outside this repository brings its configs (found through Hydra's search path,
``hydra.searchpath=[file:///path/to/conf]``) and, when it needs code, a Python package whose
modules declare what they add (``@data_source``, ``@synth_layout``, ``@response_format``,
``@grpo_reward``). The package is named

- in the paper's config, ``plugins: [my_package]`` (the harness imports it after composing), and
- in the environment, ``AIGI_PLUGINS=my_package[,other]``: the harness sets it to the config's
  ``plugins`` for every stage it renders (replacing one inherited from your shell), so the stages'
  own processes (data preparation, evaluation, the trainers) import the same modules; set it
  yourself to run ``python -m data_prep`` or ``python -m harness.evaluation`` by hand.

The package must be importable where the stages run: install it (``pip install -e .``) or put
its folder on ``PYTHONPATH``.
"""

from __future__ import annotations

import importlib
import os
import traceback
from collections.abc import Iterable

from common.errors import HarnessError

__all__ = ["PLUGINS_ENV", "PluginError", "load_plugins", "loaded_plugins", "plugins_from_env"]

PLUGINS_ENV = "AIGI_PLUGINS"

_loaded: list[str] = []


class PluginError(HarnessError):
    """A plugin module that cannot be imported; the message names it and what to do."""


def plugins_from_env() -> list[str]:
    return [name.strip() for name in os.environ.get(PLUGINS_ENV, "").split(",") if name.strip()]


def load_plugins(names: Iterable[str] = (), *, where: str = "plugins") -> list[str]:
    """Import ``$AIGI_PLUGINS`` and ``names`` (each once); return every plugin loaded so far.

    ``where`` names the config key ``names`` came from, for the error message.
    """
    wanted = [(name, PLUGINS_ENV) for name in plugins_from_env()]
    wanted += [(str(name).strip(), where) for name in names]
    for name, source in wanted:
        if not name or name in _loaded:
            continue
        if not all(part.isidentifier() for part in name.split(".")):
            raise PluginError(f"{source}: {name!r} is not a Python module name (e.g. my_package.plugin)")
        _loaded.append(name)  # before importing: a plugin's own registry look-ups must not recurse
        try:
            importlib.import_module(name)
        except Exception as exc:
            _loaded.remove(name)
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            raise PluginError(
                f"{source}: cannot import plugin module '{name}': {detail}. Make its package importable "
                "where the harness and its stages run (pip install -e <your package>, or add its folder "
                "to PYTHONPATH)"
            ) from exc
    return list(_loaded)


def loaded_plugins() -> list[str]:
    return list(_loaded)
