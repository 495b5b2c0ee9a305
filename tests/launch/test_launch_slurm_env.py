"""An sbatch job checks (or builds) the environment it runs in before its stage starts.

A login node without GPUs submits from the CPU install; the job runs the repository's GPU install
on the compute node. The rendered script is run here with bash, with `scontrol` and `srun`
replaced by stand-ins (the real cluster tests run jobs without GPU stages) and a stand-in
interpreter that answers the environment check as a GPU install would (none exists here).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from launch import Job, make_launcher

REAL_PYTHON = sys.executable


def _executable(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def _stand_ins(tmp: Path) -> Path:
    bin_dir = tmp / "slurm-bin"
    _executable(bin_dir / "scontrol", "#!/bin/bash\necho n1\n")
    # srun [options] command...: drop the options (and -w's value), run the command here.
    _executable(
        bin_dir / "srun",
        '#!/bin/bash\nwhile [[ "$1" == -* ]]; do if [[ "$1" == -w ]]; then shift; fi; shift; done\nexec "$@"\n',
    )
    return bin_dir


GPU_INSTALL = f"""#!/bin/bash
# A stand-in GPU install: passes the environment check, runs everything else with the real Python.
if [[ "$1 $2 $3" == "-m common.gpu_env check" ]]; then exit 0; fi
exec {REAL_PYTHON} "$@"
"""


def _run(tmp: Path, job: Job, python: Path) -> subprocess.CompletedProcess:
    launcher = make_launcher({"launcher": "slurm", "python": str(python), "gpus_per_node": 1})
    script = tmp / "job.sbatch"
    script.write_text(launcher.render_script(job))
    env = {
        **os.environ,
        "PATH": f"{_stand_ins(tmp)}:{os.environ['PATH']}",
        "SLURM_JOB_NODELIST": "n1",
        "SLURM_JOB_NUM_NODES": "1",
        "SLURM_JOB_ID": "7",
    }
    return subprocess.run(
        ["bash", str(script)], cwd=tmp, env=env, capture_output=True, text=True, timeout=120
    )


def _job(tmp: Path, env_build: tuple[str, ...]) -> Job:
    # `python` on PATH must be the job's interpreter: the script puts its bin directory first.
    return Job(
        "eval",
        ("python", "-c", "import sys; print('stage ran with', sys.argv[0] or 'python')"),
        mode="single",
        gpus_per_node=1,
        workdir=str(tmp),
        log_dir=str(tmp / "logs"),
        requires=("vllm", "deepspeed"),
        env_build=env_build,
    )


def test_a_missing_environment_is_built_under_a_lock_then_checked(tmp_path: Path) -> None:
    python = tmp_path / "venv-gpu" / "bin" / "python"
    build_script = tmp_path / "build.sh"
    _executable(
        build_script,
        f"#!/bin/bash\nmkdir -p {python.parent}\ncat > {python} <<'X'\n{GPU_INSTALL}X\nchmod +x {python}\n",
    )
    # The script's text: the check names what the stage needs; the build runs under flock.
    proc = _run(tmp_path, _job(tmp_path, ("bash", str(build_script))), python)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    script = (tmp_path / "job.sbatch").read_text()
    assert "-m common.gpu_env check vllm deepspeed" in script
    assert f"flock {tmp_path}/.env-build.lock bash {build_script}" in script
    assert "building the environment" in proc.stdout
    assert "stage ran with" in proc.stdout  # the stand-in srun writes the stage's output here
    assert python.is_file()


def test_a_failed_build_stops_the_job(tmp_path: Path) -> None:
    proc = _run(tmp_path, _job(tmp_path, ("false",)), tmp_path / "nowhere" / "python")
    assert proc.returncode == 1
    assert "[launch] error: building the environment failed" in proc.stderr
    assert "stage ran" not in proc.stdout  # the stage never started


def test_without_a_build_the_job_says_what_to_do(tmp_path: Path) -> None:
    # The real interpreter of this machine: a CPU install, so the check fails and names what is missing.
    proc = _run(tmp_path, _job(tmp_path, ()), Path(REAL_PYTHON))
    assert proc.returncode == 1
    assert "lacks vllm, a CUDA build of torch" in proc.stderr  # deepspeed: installed for the tests
    assert "build the gpu environment (make install-gpu) or set cluster.python" in proc.stderr
    assert "stage ran" not in proc.stdout
