"""rewards/swift_adapter.py with ms-swift 4.6's real ORM registry (imports ms-swift: slow).

The trainer state is a stand-in here (a real `swift rlhf` run is in test_swift_grpo.py); the
ms-swift classes, the registry and the importer of --external_plugins are the real ones.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest

from rewards.fakexplain import compute_score
from rewards.loader import RewardPluginError

from .conftest import REPO, fakexplain_response, ground_truth, load_reward_conf

pytestmark = pytest.mark.slow

ADAPTER = REPO / "rewards" / "swift_adapter.py"
GT_BOXES = [(4, 4, 30, 30)]


@pytest.fixture(scope="module")
def adapter_module():
    from swift.utils.utils import import_external_file

    return import_external_file(str(ADAPTER))  # what --external_plugins does


def make_orm(
    monkeypatch, tmp_path, path=REPO / "rewards" / "fakexplain.py", name="compute_score", kwargs=None
):
    from swift.rewards import orms

    monkeypatch.setenv("AIGI_REWARD", json.dumps({"path": str(path), "name": name, "kwargs": kwargs or {}}))
    monkeypatch.setenv("AIGI_REWARD_LOG", str(tmp_path / "calls.jsonl"))
    return orms["aigi_reward"](args=None)


def test_registered_as_an_ms_swift_orm(adapter_module):
    from swift.rewards import ORM, orms

    assert orms["aigi_reward"] is adapter_module.AigiReward
    assert issubclass(adapter_module.AigiReward, ORM)
    assert str(REPO / "rewards") not in sys.path  # the importer's insertion was taken out again


def test_scores_with_the_same_code_and_the_training_step(adapter_module, monkeypatch, tmp_path):
    linear = {**load_reward_conf("fakexplain")["schedules"]["linear"]}  # total_steps null: from max_steps
    orm = make_orm(monkeypatch, tmp_path, kwargs=linear)
    completions = [fakexplain_response(GT_BOXES), fakexplain_response(GT_BOXES, verdict="real"), "garbage"]
    gt = ground_truth("fake", GT_BOXES)
    columns = dict(
        solution=[gt] * 3,
        data_source=["fakexplain"] * 3,
        extra_info=[{"width": 56, "height": 56, "index": 0}, json.dumps({"width": 56, "height": 56}), None],
        messages=[[]] * 3,
        images=[[]] * 3,
    )
    scores = orm(completions, trainer_state=SimpleNamespace(global_step=3, max_steps=6), **columns)
    expected = [
        compute_score(
            "fakexplain", c, gt, {"global_steps": 3, "total_steps": 6, "width": 56, "height": 56}, **linear
        )["score"]
        for c in completions
    ]
    assert scores == pytest.approx(expected)
    assert scores == pytest.approx([0.75 + 2.0, 0.75, -2.0])
    line = json.loads((tmp_path / "calls.jsonl").read_text().splitlines()[-1])
    assert (line["global_step"], line["max_steps"]) == (3, 6)
    assert [p["w_iou"] for p in line["parts"]] == [0.75] * 3
    assert line["extra_infos"][0] == {
        "width": 56,
        "height": 56,
        "index": 0,
        "global_steps": 3,
        "total_steps": 6,
    }
    assert line["ground_truths"] == [gt] * 3


def test_parts_file_holds_the_mean_score_and_parts_per_call(adapter_module, monkeypatch, tmp_path):
    parts_file = tmp_path / "reward_parts.jsonl"
    monkeypatch.setenv("AIGI_REWARD_PARTS", str(parts_file))
    orm = make_orm(monkeypatch, tmp_path, kwargs={"w_iou": 1.0})
    gt = ground_truth("fake", GT_BOXES)
    completions = [fakexplain_response(GT_BOXES), "garbage"]
    columns = dict(solution=[gt] * 2, extra_info=[{"width": 56, "height": 56}] * 2)
    scores = orm(completions, trainer_state=SimpleNamespace(global_step=0, max_steps=2), **columns)
    orm(
        completions[:1],
        trainer_state=SimpleNamespace(global_step=1, max_steps=2),
        **{k: v[:1] for k, v in columns.items()},
    )
    first, second = (json.loads(line) for line in parts_file.read_text().splitlines())
    assert (first["step"], first["n"], second["step"], second["n"]) == (1, 2, 2, 1)  # ms-swift's step numbers
    assert first["mean"]["score"] == pytest.approx(sum(scores) / 2)
    assert first["mean"]["format"] == pytest.approx(0.0)  # +1 and -1: the parts are averaged too
    assert first["mean"]["acc"] == pytest.approx(0.5) and first["mean"]["iou"] == pytest.approx(0.5)
    assert second["mean"]["score"] == pytest.approx(scores[0])


def test_wraps_a_users_reward_file_sync_or_async(adapter_module, monkeypatch, tmp_path):
    user = tmp_path / "user_reward.py"
    user.write_text(
        textwrap.dedent("""
        async def score_async(data_source, solution_str, ground_truth, extra_info=None, bonus=0.0, **kwargs):
            return float(solution_str == ground_truth) + bonus + extra_info["global_steps"]

        def score_sync(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
            return {"score": len(solution_str), "steps": extra_info.get("total_steps")}
    """)
    )
    state = SimpleNamespace(global_step=0, max_steps=4)
    orm = make_orm(monkeypatch, tmp_path, path=user, name="score_async", kwargs={"bonus": 0.5})
    assert orm(["a", "b"], solution=["a", "a"], trainer_state=state) == [1.5, 0.5]
    orm = make_orm(monkeypatch, tmp_path, path=user, name="score_sync")
    assert orm(["abc"], solution=["x"], trainer_state=state) == [3.0]


def test_configuration_errors_are_clear(adapter_module, monkeypatch, tmp_path):
    from swift.rewards import orms

    monkeypatch.delenv("AIGI_REWARD", raising=False)
    with pytest.raises(RewardPluginError, match="AIGI_REWARD is not set"):
        orms["aigi_reward"]()
    monkeypatch.setenv("AIGI_REWARD", "{path: nope}")
    with pytest.raises(RewardPluginError, match="not valid JSON"):
        orms["aigi_reward"]()
    with pytest.raises(RewardPluginError, match="does not exist"):
        make_orm(monkeypatch, tmp_path, path=tmp_path / "missing.py")
    with pytest.raises(
        RewardPluginError, match=r"reward_kwargs.w_iou_typo: unknown key \(did you mean: w_iou"
    ):
        make_orm(monkeypatch, tmp_path, kwargs={"w_iou_typo": 1})
    orm = make_orm(monkeypatch, tmp_path)
    with pytest.raises(RewardPluginError, match="no 'solution' column"):
        orm(["x"], messages=[[]], trainer_state=SimpleNamespace(global_step=0, max_steps=1))


def test_plugin_file_imports_where_rewards_is_not_importable(tmp_path):
    """ms-swift imports the file by path in processes that may not have the project installed."""
    script = textwrap.dedent(f"""
        import sys
        sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")]
        try:
            import rewards
        except ImportError:
            pass
        else:
            raise SystemExit("rewards importable without the bootstrap: " + rewards.__file__)
        from swift.utils.utils import import_external_file
        import_external_file({str(ADAPTER)!r})
        from swift.rewards import orms
        print(orms["aigi_reward"].__name__)
    """)
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-1] == "AigiReward"
