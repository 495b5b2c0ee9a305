"""Every user error reaches the command line as `error:` lines and exit status 2, never a traceback.

Launch errors (cluster settings, jobs) are raised while the dry run builds the launcher's command
lines; before they derived from common.errors.HarnessError they escaped the CLI as tracebacks.
"""

from __future__ import annotations

import pytest

from harness.cli import main


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (
            ["cluster=slurm", "cluster.slurm.gpu_request=gpus", "cluster.ray.port=0"],
            [
                "error: cluster.ray.port: must be a port number in 1..65535, got 0",
                "error: cluster.slurm.gpu_request: 'gpus' is not one of gpus-per-node, gres, none",
            ],
        ),
        (
            ["cluster=slurm", "+stages.sft.env.BAD-NAME=1"],
            ["error: stage 'sft': env name 'BAD-NAME' is not a valid variable name"],
        ),
        (
            ["cluster=local", "cluster.nnodes=abc"],
            None,  # a composition error: Hydra's own message, named by the key
        ),
        (["variant=lnear"], ["error: variant: unknown variant 'lnear'"]),
    ],
)
def test_launch_and_config_errors_are_error_lines(overrides, expected, capsys) -> None:
    paper = "fakexplain" if any(o.startswith("variant") for o in overrides) else "fakescope"
    code = main([f"paper={paper}", "profile=full", *overrides, "dry_run=true"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines and lines[0].startswith("error:"), err
    if expected is None:
        assert "cluster.nnodes" in err
    else:
        for line in expected:
            assert any(got.startswith(line) for got in lines), (line, err)
