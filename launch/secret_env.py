"""Which environment variables are secrets, and how to keep their values out of text.

Secrets (API keys, tokens, passwords) reach processes only through the environment. Scripts,
logs and manifests carry their names at most, never their values.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# Matched case-insensitively against variable names. `cluster.secret_patterns` replaces this
# list (its default: launch.config.ClusterConfig, which every composed cluster config starts from).
DEFAULT_SECRET_PATTERNS: tuple[str, ...] = (
    "*_TOKEN",
    "*_API_KEY",
    "*API_KEY*",
    "*_SECRET*",
    "*SECRET_KEY*",
    "*PASSWORD*",
    "*_ACCESS_KEY*",
    "WANDB_API_KEY",
    "HF_TOKEN",
)

MASK = "***"

# Values shorter than this are not searched for in text: masking "1" or "true" everywhere
# would mangle logs without protecting anything.
MIN_MASKED_LENGTH = 6


def is_secret_name(name: str, patterns: Sequence[str] = DEFAULT_SECRET_PATTERNS) -> bool:
    """True when `name` matches one of `patterns` (fnmatch, case-insensitive)."""
    upper = name.upper()
    return any(fnmatch.fnmatchcase(upper, p.upper()) for p in patterns)


def secret_names(env: Mapping[str, str], patterns: Sequence[str] = DEFAULT_SECRET_PATTERNS) -> set[str]:
    """Names in `env` that are secrets under `patterns`."""
    return {name for name in env if is_secret_name(name, patterns)}


def mask_env(env: Mapping[str, str], patterns: Sequence[str] = DEFAULT_SECRET_PATTERNS) -> dict[str, str]:
    """A copy of `env` with every secret's value replaced by `***` (for manifests, dry runs)."""
    return {k: (MASK if is_secret_name(k, patterns) else v) for k, v in env.items()}


def mask_argv(argv: Sequence[str], patterns: Sequence[str] = DEFAULT_SECRET_PATTERNS) -> list[str]:
    """A copy of `argv` with secrets masked (for manifests): the value after a secret-named flag
    (`--api_key V`, `--api-key=V`), of a secret-named `key=V` override, and under a secret-named
    key anywhere inside a JSON argument (a stage's `options`)."""
    return _walk_argv(argv, patterns)[0]


def argv_secret_values(argv: Sequence[str], patterns: Sequence[str] = DEFAULT_SECRET_PATTERNS) -> list[str]:
    """The values `mask_argv` hides, long enough to be searched for in text (a log's command line)."""
    return [v for v in _walk_argv(argv, patterns)[1] if len(v) >= MIN_MASKED_LENGTH]


def log_secret_values(
    env: Mapping[str, str], argv: Sequence[str], patterns: Sequence[str] = DEFAULT_SECRET_PATTERNS
) -> list[str]:
    """What a stage's log must never show: the secret env values and those inside its argv (the
    command line written at the log's top)."""
    return [*secret_values(env, patterns).values(), *argv_secret_values(argv, patterns)]


def _walk_argv(argv: Sequence[str], patterns: Sequence[str]) -> tuple[list[str], list[str]]:
    masked: list[str] = []
    found: list[str] = []
    hide_next = False
    for item in argv:
        if hide_next:
            hide_next = False
            found.append(item)
            masked.append(MASK)
            continue
        if item.startswith("-") and len(item) > 1 and not item[1:2].isdigit():
            flag, eq, value = item.partition("=")
            if is_secret_name(flag.lstrip("-").replace("-", "_"), patterns):
                if eq:
                    found.append(value)
                    masked.append(f"{flag}={MASK}")
                else:
                    hide_next = True
                    masked.append(item)
                continue
        key, eq, value = item.partition("=")
        if (
            eq
            and not item.startswith("-")
            and " " not in key
            and is_secret_name(key.rsplit(".", 1)[-1], patterns)
        ):
            found.append(value)
            masked.append(f"{key}={MASK}")
            continue
        if item[:1] in "{[":
            try:
                data = json.loads(item)
            except ValueError:
                data = None
            hidden: list[str] = []
            clean = _mask_json(data, patterns, hidden)
            if hidden:
                found += hidden
                masked.append(json.dumps(clean, sort_keys=True))
                continue
        masked.append(item)
    return masked, found


def _mask_json(value: Any, patterns: Sequence[str], hidden: list[str]) -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if v is not None and not isinstance(v, (dict, list)) and is_secret_name(str(k), patterns):
                hidden.append(str(v))
                out[k] = MASK
            else:
                out[k] = _mask_json(v, patterns, hidden)
        return out
    if isinstance(value, list):
        return [_mask_json(v, patterns, hidden) for v in value]
    return value


def split_env(
    env: Mapping[str, str], patterns: Sequence[str] = DEFAULT_SECRET_PATTERNS
) -> tuple[dict[str, str], dict[str, str]]:
    """(public, secret) parts of `env`: public may be written down, secret may not."""
    public: dict[str, str] = {}
    secret: dict[str, str] = {}
    for k, v in env.items():
        (secret if is_secret_name(k, patterns) else public)[k] = v
    return public, secret


def secret_values(
    env: Mapping[str, str], patterns: Sequence[str] = DEFAULT_SECRET_PATTERNS
) -> dict[str, str]:
    """{name: value} of the secrets in `env` long enough to be searched for in text."""
    return {k: v for k, v in env.items() if is_secret_name(k, patterns) and len(v) >= MIN_MASKED_LENGTH}


def leaked_secret_names(texts: Iterable[str], secrets: Mapping[str, str]) -> list[str]:
    """Names of the `secrets` whose value occurs in any of `texts` (sorted)."""
    found = set()
    for text in texts:
        for name, value in secrets.items():
            if value and value in text:
                found.add(name)
    return sorted(found)


class SecretMasker:
    """Replaces secret values in a byte stream that arrives in arbitrary chunks.

    A value split across two chunks is still masked: the last `longest - 1` bytes are held
    back until the next chunk (or `flush`).
    """

    def __init__(self, values: Iterable[str]) -> None:
        encoded = {v.encode() for v in values if len(v) >= MIN_MASKED_LENGTH}
        # Longest first, so a secret that contains another is masked whole.
        self._values = sorted(encoded, key=len, reverse=True)
        self._hold = max((len(v) for v in self._values), default=1) - 1
        self._pending = b""

    def feed(self, chunk: bytes) -> bytes:
        if not self._values:
            return chunk
        data = self._mask(self._pending + chunk)
        if self._hold == 0:
            self._pending = b""
            return data
        self._pending = data[-self._hold :]
        return data[: -self._hold]

    def flush(self) -> bytes:
        data, self._pending = self._mask(self._pending), b""
        return data

    def _mask(self, data: bytes) -> bytes:
        for value in self._values:
            data = data.replace(value, MASK.encode())
        return data
