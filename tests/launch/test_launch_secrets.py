"""launch.secret_env: which variables are secrets, masking in text and streams."""

from pathlib import Path

import pytest
import yaml

from launch.secret_env import (
    DEFAULT_SECRET_PATTERNS,
    SecretMasker,
    leaked_secret_names,
    mask_env,
    secret_names,
    split_env,
)

CONF = Path(__file__).resolve().parents[2] / "conf" / "cluster"


@pytest.mark.parametrize(
    "name",
    [
        "WANDB_API_KEY",
        "HF_TOKEN",
        "hf_token",
        "OPENAI_API_KEY",
        "MY_API_KEY_2",
        "AWS_SECRET_ACCESS_KEY",
        "DB_PASSWORD",
        "GITHUB_TOKEN",
        "AWS_ACCESS_KEY_ID",
        "SOME_SECRET",
    ],
)
def test_secret_names_match_defaults(name):
    assert secret_names({name: "v", "PATH": "/bin"}) == {name}


@pytest.mark.parametrize("name", ["PATH", "TOKENIZERS_PARALLELISM", "MAX_PIXELS", "HF_HOME", "NNODES"])
def test_ordinary_names_are_not_secrets(name):
    assert secret_names({name: "v"}) == set()


def test_configured_patterns_replace_defaults():
    env = {"MY_CORP_CRED": "x", "HF_TOKEN": "y"}
    assert secret_names(env, ["MY_CORP_*"]) == {"MY_CORP_CRED"}


def test_mask_env_and_split_env():
    env = {"HF_TOKEN": "hf_abcdef", "A": "1"}
    assert mask_env(env) == {"HF_TOKEN": "***", "A": "1"}
    assert split_env(env) == ({"A": "1"}, {"HF_TOKEN": "hf_abcdef"})
    assert env["HF_TOKEN"] == "hf_abcdef"  # the input is not modified


def test_leaked_secret_names():
    assert leaked_secret_names(["--key", "x hf_abcdef y"], {"HF_TOKEN": "hf_abcdef"}) == ["HF_TOKEN"]
    assert leaked_secret_names(["--key", "other"], {"HF_TOKEN": "hf_abcdef"}) == []


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 64])
def test_masker_masks_values_split_across_chunks(chunk):
    secret = "sk-0123456789"
    text = f"start {secret} middle {secret}{secret} end-{secret}".encode()
    masker = SecretMasker([secret, "short"])
    out = b"".join(masker.feed(text[i : i + chunk]) for i in range(0, len(text), chunk))
    out += masker.flush()
    assert out == b"start *** middle ****** end-***"


def test_masker_ignores_short_values():
    masker = SecretMasker(["1"])
    assert masker.feed(b"a1b") + masker.flush() == b"a1b"


def test_every_composed_cluster_masks_the_default_patterns():
    """The patterns live once, in launch.secret_env (ClusterConfig's default); no cluster file restates them."""
    from harness.config import compose

    for path in sorted(CONF.glob("*.yaml")):
        assert "secret_patterns" not in yaml.safe_load(path.read_text()), path.name
        cfg = compose(["paper=fakescope", f"cluster={path.stem}"])
        assert tuple(cfg.cluster.secret_patterns) == DEFAULT_SECRET_PATTERNS


def test_mask_argv_hides_secret_flags_overrides_and_json_options() -> None:
    from launch.secret_env import argv_secret_values, mask_argv

    argv = [
        "python3",
        "--options",
        '{"api_key": "sk-abcdef123", "env": {"MY_TOKEN": "tok-123456"}, "max_new_tokens": 5}',
        "--hf-token",
        "hf_abcdefgh",
        "--api_key=sk-zzzzzzzz",
        "actor.WANDB_API_KEY=wandb-12345",
        "--learning_rate",
        "-1e-5",
        "{not json",
    ]
    assert mask_argv(argv) == [
        "python3",
        "--options",
        '{"api_key": "***", "env": {"MY_TOKEN": "***"}, "max_new_tokens": 5}',
        "--hf-token",
        "***",
        "--api_key=***",
        "actor.WANDB_API_KEY=***",
        "--learning_rate",
        "-1e-5",
        "{not json",
    ]
    assert argv_secret_values(argv) == [
        "sk-abcdef123",
        "tok-123456",
        "hf_abcdefgh",
        "sk-zzzzzzzz",
        "wandb-12345",
    ]
    assert mask_argv(["swift", "sft", "--max_new_tokens", "64"]) == ["swift", "sft", "--max_new_tokens", "64"]
