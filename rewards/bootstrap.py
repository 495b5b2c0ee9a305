"""What a file of this package needs when a trainer loads it by path instead of importing it.

verl loads ``reward.custom_reward_function.path`` with ``spec_from_file_location`` (not as
``rewards.<name>``, not in ``sys.modules``), ms-swift imports ``--external_plugins`` files the same
way after putting the file's folder first on ``sys.path``, and the harness copies the reward file
into the run directory, whose copy is loaded by path too. Such a file then imports the rest of the
``rewards`` package from the installed project or, in a checkout that is not installed, from the
checkout it sits in. Each by-path entry file starts with the same few lines::

    if __package__ != "rewards":  # loaded by file path (verl, ms-swift, a run's copy): rewards/bootstrap.py
        try:
            import rewards.bootstrap  # the installed project, or its root already on sys.path
        except ImportError:  # a checkout that is not installed: its root is this file's grandparent
            sys.path.append(str(Path(__file__).resolve().parents[1]))
            import rewards.bootstrap  # still missing: pip install -e . (the project), or its root on PYTHONPATH
        rewards.bootstrap.loaded_by_path(__file__)

The fallback must stay in the file (nothing of the package is importable before it runs); the
rest is here.
"""

from __future__ import annotations

import os
import sys

__all__ = ["loaded_by_path"]

_PACKAGE_DIR = os.path.realpath(os.path.dirname(os.path.abspath(__file__)))


def loaded_by_path(file: str) -> None:
    """Called by a by-path entry file once ``rewards`` is importable.

    ms-swift's importer (``swift/utils/utils.py`` ``import_external_file``) puts the plugin file's
    folder first on ``sys.path``; when that folder is this package's, its modules (``tags.py``,
    ``loader.py``, ``registry.py``, ...) would shadow any top-level module of the same name in the
    trainer. The folder is taken off ``sys.path``: the modules here are imported as ``rewards.*``.
    """
    folder = os.path.realpath(os.path.dirname(os.path.abspath(file)))
    if folder == _PACKAGE_DIR:
        sys.path[:] = [p for p in sys.path if os.path.realpath(os.path.abspath(p or ".")) != folder]
