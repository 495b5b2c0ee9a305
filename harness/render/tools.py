"""The project's own stage programs: data preparation, downloads, evaluation, report.

They are Python modules run as `python3 -m <module> <subcommand> --flag value ...`; a stage's
`options:` mapping travels as one JSON argument so nested settings need no flag of their own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from harness.render import Rendered, StageContext
from harness.render.values import cli_value


def render_data_prep(ctx: StageContext) -> Rendered:
    args = dict(ctx.args)
    command = str(args.pop("command", "convert"))
    return _render_tool(ctx, ("data_prep", command), args, output_flag="--output-dir", output=ctx.stage_dir)


def render_download(ctx: StageContext) -> Rendered:
    return _render_tool(ctx, ("data_prep", "download"), dict(ctx.args), output_flag=None, output=None)


def render_eval(ctx: StageContext) -> Rendered:
    return _render_tool(
        ctx,
        ("harness.evaluation",),
        dict(ctx.args),
        output_flag="--output-dir",
        output=ctx.stage_dir,
        options_flag="--config-json",
    )


def render_report(ctx: StageContext) -> Rendered:
    args = dict(ctx.args)
    return _render_tool(
        ctx,
        ("harness.report",),
        args,
        output_flag="--run-dir",
        output=ctx.run_dir,
        options_flag="--config-json",
    )


def _render_tool(
    ctx: StageContext,
    module_and_command: tuple[str, ...],
    args: Mapping[str, Any],
    output_flag: str | None,
    output: str | None,
    options_flag: str = "--options",
) -> Rendered:
    module, *subcommand = module_and_command
    argv: list[str] = ["python3", "-m", module, *subcommand]
    keys: dict[str, str] = {}
    for name, value in ctx.inputs.items():
        if value is None:
            continue
        flag = "--" + name.replace("_", "-")
        for item in value if isinstance(value, list) else [value]:
            argv += [flag, str(item)]
        keys[flag] = f"stages.{ctx.name}.inputs.{name}"
    for name, value in args.items():
        flag = "--" + name.replace("_", "-")
        keys[flag] = f"stages.{ctx.name}.{name}"
        if value is None or value is False:
            continue
        if value is True:
            argv.append(flag)
        elif isinstance(value, list):
            for item in value:
                argv += [flag, cli_value(item)]
        else:
            argv += [flag, cli_value(value)]
    if output_flag and output is not None:
        argv += [output_flag, output]
    if ctx.options:
        argv += [options_flag, json.dumps(ctx.options, sort_keys=True)]
        keys[options_flag] = f"stages.{ctx.name}.options"
    return Rendered(argv=tuple(argv), env=dict(ctx.env), mode="single", keys=keys)
