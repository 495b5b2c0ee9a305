"""Download a model or dataset with the hub's own client (Hugging Face or ModelScope), resumable.

Resuming: re-run the same command. Files already in the cache are not fetched again. Within a
run, huggingface_hub 1.x retries a broken transfer with an HTTP range request from the last
complete 10 MiB chunk; across runs it restarts an interrupted file (its partial file is unique to
the process and deleted on failure). ModelScope's client (modelscope_hub 0.5) also skips finished
files and continues a broken transfer with a range request from the exact byte it had.
Mirrors: ``HF_ENDPOINT`` (or ``endpoint=``) for Hugging Face, ``MODELSCOPE_DOMAIN`` / ``endpoint=``
for ModelScope. Credentials come from the clients' usual places (``HF_TOKEN``,
``MODELSCOPE_API_TOKEN``); this module never reads or prints them.

What is public where (seed 000 README, conf/model/*.yaml): the AIGI-Holmes dataset
(``zzy0123/AIGI-Holmes-Dataset``, Hugging Face, repo type dataset), Qwen2.5-VL and LLaVA weights
(Hugging Face and ModelScope). FakeXplained is an archive, not a hub repo: see
``python -m data_prep check --source fakexplained``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

__all__ = ["DownloadFailed", "download"]


class DownloadFailed(RuntimeError):
    """The hub client could not fetch the repo; the message says what to try."""


def _hf(repo_id: str, cache_dir: Path, revision: str | None, repo_type: str, local_dir: Path | None,
        allow_patterns: Sequence[str] | None, endpoint: str | None) -> str:  # fmt: skip
    from huggingface_hub import snapshot_download

    return snapshot_download(
        repo_id,
        repo_type=repo_type,
        revision=revision,
        cache_dir=str(cache_dir),
        local_dir=str(local_dir) if local_dir else None,
        allow_patterns=list(allow_patterns) if allow_patterns else None,
        endpoint=endpoint,
    )


def _modelscope(repo_id: str, cache_dir: Path, revision: str | None, repo_type: str, local_dir: Path | None,
                allow_patterns: Sequence[str] | None, endpoint: str | None) -> str:  # fmt: skip
    from modelscope.hub.snapshot_download import snapshot_download

    return snapshot_download(
        repo_id=repo_id,
        repo_type=repo_type,
        revision=revision,
        cache_dir=str(cache_dir),
        local_dir=str(local_dir) if local_dir else None,
        allow_patterns=list(allow_patterns) if allow_patterns else None,
        endpoint=endpoint,
    )


def download(
    hub: Literal["hf", "modelscope"],
    repo_id: str,
    cache_dir: str | Path,
    *,
    revision: str | None = None,
    repo_type: Literal["model", "dataset"] = "model",
    local_dir: str | Path | None = None,
    allow_patterns: Sequence[str] | None = None,
    endpoint: str | None = None,
) -> Path:
    """Fetch ``repo_id`` into ``cache_dir`` (and ``local_dir`` if given); return the folder with its files."""
    if hub not in ("hf", "modelscope"):
        raise ValueError(f"hub must be 'hf' or 'modelscope', got {hub!r}")
    if repo_type not in ("model", "dataset"):
        raise ValueError(f"repo_type must be 'model' or 'dataset', got {repo_type!r}")
    cache = Path(cache_dir).expanduser().resolve()
    cache.mkdir(parents=True, exist_ok=True)
    local = Path(local_dir).expanduser().resolve() if local_dir else None
    fetch = _hf if hub == "hf" else _modelscope
    try:
        path = fetch(repo_id, cache, revision, repo_type, local, allow_patterns, endpoint)
    except Exception as error:  # the clients raise many types (HTTP, offline, not found, gated)
        where = "HF_ENDPOINT" if hub == "hf" else "MODELSCOPE_DOMAIN"
        raise DownloadFailed(
            f"could not download {repo_type} {repo_id!r} (revision {revision or 'default'}) from {hub} into {cache}: "
            f"{type(error).__name__}: {error}. Re-run the same command to resume; check the repo id, network access "
            f"or a mirror ({where}), and a token for gated repos."
        ) from error
    return Path(path)
