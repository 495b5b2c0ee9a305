"""Which environment variables are secrets, and how to keep their values out of text.

Secrets (API keys, tokens, passwords) reach processes only through the environment. Scripts,
logs and manifests carry their names at most, never their values.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence

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
