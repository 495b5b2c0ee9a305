"""Stage kinds: one registry entry per kind, asked by planning, validation, the runner and the report.

The proof that a kind is one entry: a kind defined in a module outside the repository (here a
line counter standing in for a new training kind) plans, validates with its own validator,
resolves `stage:<name>` to its own primary output, runs, is skipped when complete, reruns when
its output is gone, and the report reads its curves with its own reader.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.config import REPO_ROOT
from harness.kinds import KINDS, get_kind, kind_names, kinds_table
from harness.pipeline import stage_names

from .conftest import PAPERS, compose_paper, plan_for


def test_every_kind_a_paper_uses_is_registered_and_every_registered_kind_is_used() -> None:
    used = set()
    for paper in PAPERS:
        cfg = compose_paper(paper)
        variants = list(cfg.variants) if cfg.get("variants") is not None else [None]
        for variant in variants:
            plan = plan_for(paper, *([f"variant={variant}"] if variant else []))
            used |= {s.kind for s in plan.stages}
            assert [s.name for s in plan.stages] == stage_names(plan.cfg)
    assert used == set(kind_names())


def test_each_kind_is_complete_and_consistent() -> None:
    cfg = compose_paper(PAPERS[0])
    for name in kind_names():
        kind = get_kind(name)
        assert kind.name == name and callable(kind.render) and kind.command
        if kind.dialect is not None:
            assert kind.dialect in cfg.dialect, name  # a group the composed config has
        if kind.trains:
            assert kind.read_curves is not None, f"{name} trains but the report cannot read its logs"
            assert kind.rerun.resumable, f"{name} trains but an interrupted run starts over"
        if kind.uses_reward({"rlhf_type": "grpo"}):
            assert kind.trains, name


def test_an_unknown_kind_names_the_registered_ones() -> None:
    from common.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        plan_for(PAPERS[0], f"stages.{_first_stage(PAPERS[0])}.kind=swift_sfft")
    message = str(info.value)
    assert "unknown stage kind 'swift_sfft' (did you mean: swift_sft" in message
    assert f"available: {', '.join(KINDS.names())}" in message


def _first_stage(paper: str) -> str:
    return stage_names(compose_paper(paper))[0]


def test_the_docs_table_is_the_registry() -> None:
    text = (REPO_ROOT / "docs" / "architecture.md").read_text()
    begin, end = "<!-- kinds-table:begin -->\n", "\n<!-- kinds-table:end -->"
    assert begin in text and end in text, "docs/architecture.md lost its kinds table markers"
    shown = text.split(begin, 1)[1].split(end, 1)[0]
    assert shown == kinds_table(), "regenerate the table with `python -m harness.kinds`"


# ----- a new kind from outside the repository ----------------------------------------------------

PLUGIN = '''
"""A kind of stage the harness has never heard of, registered by importing this module."""
import json
from pathlib import Path

from common.errors import Problem
from harness.kinds import Output, StageKind, register_kind
from harness.render import Rendered
from harness.rerun import START_OVER

COUNT = (
    "import json, sys; n = sum(1 for _ in open(sys.argv[1])); "
    "json.dump({'lines': n}, open(sys.argv[2], 'w')); print('counted', n)"
)


def render_count_lines(ctx):
    source = str(ctx.inputs["source"])
    out = str(Path(ctx.stage_dir) / "count.json")
    return Rendered(
        argv=("python3", "-c", COUNT, source, out),
        env=dict(ctx.env),
        mode="single",
        keys={"source": f"stages.{ctx.name}.inputs.source"},
    )


def validate_count_lines(rendered, deep):
    source = rendered.argv[3]
    if source.endswith(".bad"):
        return [Problem(rendered.keys["source"], f"cannot count the lines of {source}")]
    return []


def read_counts(stage_dir, log):
    return {"lines": {1.0: float(json.loads((stage_dir / "count.json").read_text())["lines"])}}


register_kind(
    StageKind(
        name="count_lines",
        command="python3 -c <count lines>",
        render=render_count_lines,
        output=Output("count.json"),
        rerun=START_OVER,
        validate=validate_count_lines,
        trains=True,  # stands in for a new training kind: the report reads its curves
        read_curves=read_counts,
    )
)
'''

DRIVER = """
import io, json, sys
from pathlib import Path

import count_kind  # noqa: F401  (registers the kind)
from omegaconf import OmegaConf

from harness.config import compose
from harness.plan import build_plan
from harness.report.run_dir import load_run, read_stage_curves
from harness.runner import run_plan
from harness.validate import validate_plan

runs, source, paper = Path(sys.argv[1]), sys.argv[2], sys.argv[3]


def plan(source):
    cfg = compose([f"paper={paper}", "profile=smoke", f"paths.runs={runs}", "run_name=k"])
    OmegaConf.set_struct(cfg, False)
    cfg.stages.count = {"kind": "count_lines", "inputs": {"source": source}}
    cfg.stages.recount = {"kind": "count_lines", "inputs": {"source": "stage:count"}}
    if cfg.get("variants") is not None:
        cfg.variants[cfg.variant] = ["count", "recount"]
    else:
        cfg.pipeline = ["count", "recount"]
    return build_plan(cfg)


def run(p):
    out = io.StringIO()
    code = run_plan(p, out=out)
    return code, out.getvalue()


result = {}
bad = plan(source + ".bad")
result["problems"] = [str(x) for x in validate_plan(bad, check_paths=False)]
good = plan(source)
result["argv"] = list(good.stage("recount").rendered.argv)
result["problems_good"] = [str(x) for x in validate_plan(good, check_paths=True)]
result["first"] = run(good)
result["again"] = run(plan(source))
(good.run_dir / "count" / "count.json").unlink()
result["gone"] = run(plan(source))
info = load_run(good.run_dir)
result["training"] = [s.name for s in info.training_stages()]
result["curves"] = {s.name: read_stage_curves(s) for s in info.training_stages()}
result["outputs"] = {s["name"]: s["outputs"]["primary"] for s in info.manifest["stages"]}
print(json.dumps(result))
"""


def test_a_kind_defined_outside_the_repository_plans_validates_runs_and_reports(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "count_kind.py").write_text(textwrap.dedent(PLUGIN))
    (plugins / "driver.py").write_text(textwrap.dedent(DRIVER))
    source = tmp_path / "lines.jsonl"
    source.write_text("".join(f'{{"i": {i}}}\n' for i in range(7)))
    runs = tmp_path / "runs"
    proc = subprocess.run(
        [sys.executable, str(plugins / "driver.py"), str(runs), str(source), PAPERS[0]],
        cwd=REPO_ROOT,
        env={**_env(), "PYTHONPATH": str(plugins)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    run_dir = runs / PAPERS[0] / "k"
    # Its own validator, naming the config key.
    assert result["problems"] == [f"stages.count.inputs.source: cannot count the lines of {source}.bad"]
    assert result["problems_good"] == []
    # `stage:count` is the kind's primary output.
    assert result["argv"][3] == str(run_dir / "count" / "count.json")
    assert result["outputs"] == {
        "count": str(run_dir / "count" / "count.json"),
        "recount": str(run_dir / "recount" / "count.json"),
    }
    code, out = result["first"]
    assert code == 0 and "[1/2] count: completed" in out and "[2/2] recount: completed" in out, out
    code, out = result["again"]
    assert code == 0 and "count: already completed" in out and "recount: already completed" in out, out
    code, out = result["gone"]
    assert code == 0 and "[1/2] count: running (its outputs are gone)" in out, out
    # The report finds it through the registry: a training stage with its own log reader.
    assert result["training"] == ["count", "recount"]
    assert result["curves"] == {"count": {"lines": {"1.0": 7.0}}, "recount": {"lines": {"1.0": 1.0}}}


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
