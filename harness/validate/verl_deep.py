"""Run verl's own config checks on a list of overrides (stdin: JSON list; stdout: JSON problems).

Separate process because importing verl costs ~10 s and pulls in torch and ray.
"""

from __future__ import annotations

import json
import re
import sys


def deep_problems(overrides: list[str]) -> list[dict[str, str]]:
    from hydra.errors import ConfigCompositionException

    from harness.validate.verl_overrides import compose_verl

    try:
        cfg = compose_verl(overrides)
    except ConfigCompositionException as exc:
        match = re.search(r"Could not (?:override|append to config)[^']*'([^']+)'", str(exc))
        return [{"key": match.group(1) if match else "", "message": f"verl's Hydra rejects it: {exc}"}]
    from verl.trainer.main_ppo import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    try:
        validate_config(
            config=cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg)
        )
    except (ValueError, AssertionError, TypeError) as exc:
        return [{"key": "", "message": f"verl's validate_config: {exc}"}]
    return []


def main() -> int:
    overrides = json.loads(sys.stdin.read())
    print(json.dumps(deep_problems(overrides)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
