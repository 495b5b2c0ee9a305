"""Every config file in conf/ composes, and every paper renders and validates on the pinned trainers."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from harness.config import CONF_DIR
from harness.pipeline import stage_names
from harness.validate import validate_plan

from .conftest import PAPERS, compose_paper, plan_for

# Folders of conf/ that hold data files other code reads directly (data_prep's vocabularies and
# chat templates), not Hydra config groups; their own tests load them.
DATA_FOLDERS = {"data_prep"}
GROUPS = sorted(
    {p.parent.relative_to(CONF_DIR).as_posix() for p in CONF_DIR.rglob("*.yaml")} - {"."} - DATA_FOLDERS
)


def test_every_paper_config_is_found_and_names_itself() -> None:
    assert PAPERS
    for paper in PAPERS:
        assert compose_paper(paper).paper.name == paper


def _variants(paper: str) -> list[str | None]:
    cfg = compose_paper(paper)
    return list(cfg.variants) if cfg.get("variants") is not None else [None]


@pytest.mark.parametrize("paper", PAPERS)
def test_every_variant_renders_and_passes_fast_validation(paper: str) -> None:
    for variant in _variants(paper):
        overrides = [f"variant={variant}"] if variant else []
        plan = plan_for(paper, *overrides)
        assert [s.name for s in plan.stages] == stage_names(plan.cfg)
        problems = validate_plan(plan, check_paths=False)
        assert problems == [], f"{paper} {variant}: {problems}"


def _group_cases() -> list[tuple[str, str, list[str]]]:
    """(paper, node to resolve, overrides) composing each option of each group once."""
    cases = []
    for group in GROUPS:
        for option in sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml")):
            if group == "paper":
                cases.append((option, "stages", []))
            elif group == "profile_paper":
                profile, _, paper = option.partition("_")
                cases.append((paper, "stages", [f"profile={profile}"]))
            elif group == "model":
                # A backbone composes with the paper that trains that family.
                paper = {"llava1_6": "aigi_holmes", "llava1_5": "fakescope"}.get(option[:8], "fakexplain")
                cases.append((paper, group, [f"{group}={option}"]))
            else:
                paper = option if option in PAPERS else "fakexplain"
                cases.append((paper, group.replace("/", "."), [f"{group}={option}"]))
    return cases


@pytest.mark.parametrize(
    "paper,node,overrides", _group_cases(), ids=lambda v: v if isinstance(v, str) else "-".join(v)
)
def test_every_option_of_every_group_composes(paper: str, node: str, overrides: list[str]) -> None:
    assert paper in PAPERS, f"{overrides}: names no paper"
    cfg = compose_paper(paper, *overrides)
    resolved = OmegaConf.to_container(OmegaConf.select(cfg, node), resolve=True)
    assert resolved is not None
    plan_for(paper, *overrides)
