"""Plugging a user's reward file in: load_reward_fn's checks, and the project's files by path."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from rewards.loader import RewardPluginError, load_reward_fn

from .conftest import REPO, fakexplain_response, ground_truth


def write(tmp_path, body, name="my_reward.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def test_loads_a_users_verl_style_function(tmp_path):
    path = write(
        tmp_path,
        """
        def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
            return {"score": len(solution_str) * kwargs.get("scale", 1.0)}
    """,
    )
    fn = load_reward_fn(str(path), "compute_score", reward_kwargs={"scale": 2.0})
    assert fn(data_source="x", solution_str="abc", ground_truth="", extra_info={}, scale=2.0) == {
        "score": 6.0
    }


def test_missing_file(tmp_path):
    with pytest.raises(RewardPluginError, match=r"reward file .*nope\.py does not exist; set reward.path"):
        load_reward_fn(tmp_path / "nope.py", "compute_score")


def test_import_error_shows_the_exception(tmp_path):
    path = write(tmp_path, "import not_a_module_anywhere\n")
    with pytest.raises(
        RewardPluginError, match=r"my_reward\.py failed to import: ModuleNotFoundError: No module named"
    ):
        load_reward_fn(path, "compute_score")


def test_syntax_error_and_exit_are_reported(tmp_path):
    with pytest.raises(RewardPluginError, match="SyntaxError"):
        load_reward_fn(write(tmp_path, "def f(:\n"), "f")
    with pytest.raises(RewardPluginError, match="SystemExit"):
        load_reward_fn(write(tmp_path, "raise SystemExit(3)\n", "exits.py"), "f")


def test_missing_function_lists_the_candidates(tmp_path):
    path = write(
        tmp_path, "def score(data_source, solution_str, ground_truth, extra_info=None):\n    return 0.0\n"
    )
    with pytest.raises(
        RewardPluginError, match=r"has no function 'compute_score'; set reward.name to one of \['score'\]"
    ):
        load_reward_fn(path, "compute_score")


@pytest.mark.parametrize(
    "definition",
    [
        "def compute_score(solution, truth):\n    return 0.0\n",
        "def compute_score(data_source, solution_str, ground_truth):\n    return 0.0\n",  # no extra_info
        "def compute_score(data_source, solution_str, ground_truth, extra_info, must_have):\n    return 0.0\n",
        "compute_score = 3\n",
    ],
)
def test_wrong_signature(tmp_path, definition):
    path = write(tmp_path, definition)
    with pytest.raises(RewardPluginError, match=r"compute_score in .*my_reward\.py"):
        load_reward_fn(path, "compute_score")


def test_reward_kwargs_must_bind(tmp_path):
    path = write(
        tmp_path,
        """
        def compute_score(data_source, solution_str, ground_truth, extra_info=None):
            return 0
    """,
    )
    load_reward_fn(path, "compute_score")
    with pytest.raises(RewardPluginError, match=r"plus reward kwargs \['w_iou'\]"):
        load_reward_fn(path, "compute_score", reward_kwargs={"w_iou": 1.0})


def test_the_projects_rewards_load_and_check_their_kwargs():
    fn = load_reward_fn(REPO / "rewards" / "fakexplain.py", "compute_score", reward_kwargs={"w_iou": 1.5})
    result = fn(
        data_source="d",
        solution_str=fakexplain_response([(0, 0, 10, 10)]),
        ground_truth=ground_truth("fake", [(0, 0, 10, 10)]),
        extra_info={},
        w_iou=1.5,
    )
    assert result["score"] == 3.5
    with pytest.raises(
        RewardPluginError,
        match=r"reward kwargs for compute_score .*reward_kwargs.wiou: unknown key \(did you mean: w_iou, w_iou_end\?\)",
    ):
        load_reward_fn(REPO / "rewards" / "fakexplain.py", "compute_score", reward_kwargs={"wiou": 1.5})
    hr1 = load_reward_fn(REPO / "rewards" / "fake_hr1.py", "compute_score", reward_kwargs={"label_pos": 1.0})
    no_think = "<think>\n\n</think>\n\nfake"
    assert hr1(data_source="d", solution_str=no_think, ground_truth="fake", label_pos=1.0)["score"] == 1.1


def test_project_reward_files_load_by_path_in_a_fresh_process(tmp_path):
    """verl and ms-swift import the reward file by path, maybe where the project is not installed:
    -I -S runs Python without site-packages (so without the editable install) and without cwd."""
    script = textwrap.dedent(f"""
        import importlib.util, sys
        try:
            import rewards
        except ImportError:
            pass
        else:
            raise SystemExit("rewards is importable without the bootstrap")
        responses = {{"fakexplain": "<think>x</think><tag></tag><verdict>real</verdict>",
                     "fake_hr1": "<think>\\n\\n</think>\\n\\nfake"}}
        truths = {{"fakexplain": '{{"label": "real", "boxes": []}}', "fake_hr1": "fake"}}
        for name in ("fakexplain", "fake_hr1"):
            path = {str(REPO)!r} + f"/rewards/{{name}}.py"
            spec = importlib.util.spec_from_file_location("custom_module_" + name, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)   # as verl's load_extern_object: not in sys.modules
            print(name, module.compute_score("d", responses[name], truths[name])["score"])
    """)
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr + result.stdout
    printed = result.stdout.split()
    assert dict(zip(printed[::2], printed[1::2])) == {"fakexplain": "3.0", "fake_hr1": "1.0"}


def test_a_runs_copy_of_the_reward_file_uses_the_installed_package(tmp_path):
    """The harness copies the reward file into <run_dir>/reward/: the copy imports the installed
    rewards package (the editable install of this checkout here)."""
    import shutil

    copies = tmp_path / "run" / "reward"
    copies.mkdir(parents=True)
    for name in ("fakexplain.py", "fake_hr1.py"):
        shutil.copy2(REPO / "rewards" / name, copies / name)
    fn = load_reward_fn(copies / "fakexplain.py", "compute_score", reward_kwargs={"w_iou": 2.0})
    result = fn(
        data_source="d",
        solution_str=fakexplain_response([(0, 0, 10, 10)]),
        ground_truth=ground_truth("fake", [(0, 0, 10, 10)]),
        extra_info=None,
        w_iou=2.0,
    )
    assert result["score"] == 4.0
    hr1 = load_reward_fn(copies / "fake_hr1.py", "compute_score")
    assert (
        hr1(data_source="d", solution_str="<think>\n\n</think>\n\nreal", ground_truth="real")["score"] == 1.0
    )


def test_a_copy_without_the_package_says_what_to_do(tmp_path):
    import shutil

    copy = tmp_path / "fakexplain.py"
    shutil.copy2(REPO / "rewards" / "fakexplain.py", copy)
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        from rewards.loader import RewardPluginError, load_reward_fn
        del sys.modules["rewards"], sys.modules["rewards.loader"]
        sys.path.remove({str(REPO)!r})
        try:
            load_reward_fn({str(copy)!r}, "compute_score")
        except RewardPluginError as exc:
            print(exc)
    """)
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script], cwd=tmp_path, capture_output=True, text=True
    )
    assert (
        "failed to import: ImportError: fakexplain.py needs this project's 'rewards' package" in result.stdout
    ), result.stdout + result.stderr
    assert "pip install -e ." in result.stdout
