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

Archives in a download (``--unpack ARCHIVE=FOLDER``, with ``--local-dir``) are unpacked after it,
resumably and checked (``unpack_archive``): AIGI-Holmes publishes its images and test set as zips.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

__all__ = ["DownloadFailed", "download", "parse_unpack", "unpack_archive"]


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


# ---------------------------------------------------------------------------------------------------
# Unpacking published archives (AIGI-Holmes ships its images as dataset_huggingface.zip and its test
# set as TestSet.zip, 000 README "Dataset Preparation").

_MARKERS = ".unpacked"  # <local_dir>/.unpacked/<archive>.json: written when an archive is fully unpacked
_PLATFORM_CRUFT = ("__MACOSX/", ".DS_Store")


def parse_unpack(spec: str) -> tuple[str, str]:
    """``ARCHIVE=FOLDER`` (or ``ARCHIVE``: into the download folder itself) -> (archive, folder)."""
    archive, _, folder = spec.partition("=")
    archive, folder = archive.strip(), (folder.strip() or ".")
    if not archive.endswith(".zip"):
        raise ValueError(f"--unpack {spec!r}: only .zip archives are unpacked; write ARCHIVE.zip[=FOLDER]")
    for part in (archive, folder):
        if Path(part).is_absolute() or ".." in Path(part).parts:
            raise ValueError(f"--unpack {spec!r}: archive and folder are paths inside the download folder")
    return archive, folder


def _strip_prefix(names: list[str], folder: str) -> str:
    """The top folder an archive repeats (``TestSet/...`` unpacked into ``TestSet``): not doubled."""
    target = Path(folder).name
    tops = {name.split("/", 1)[0] for name in names if not name.startswith(_PLATFORM_CRUFT)}
    if folder != "." and tops == {target} and any("/" in n for n in names):
        return target + "/"
    return ""


def unpack_archive(local_dir: str | Path, spec: str) -> str:
    """Unpack one archive of a download into a folder of it; resumable and checked.

    ``spec`` is ``ARCHIVE=FOLDER``, both relative to ``local_dir``; an archive whose entries all sit
    under a top folder named like FOLDER's last part unpacks without doubling it, so
    ``TestSet.zip=TestSet`` gives ``TestSet/<generator>/...`` either way. Files already unpacked
    with the right size are kept (an interrupted unpack resumes); each written file's CRC is
    checked by zipfile; entries escaping the folder, a truncated archive or a CRC mismatch fail
    with DownloadFailed. A marker records a finished archive, so a re-run does nothing.
    Returns a one-line summary.
    """
    import json
    import os
    import shutil
    import zipfile

    archive_name, folder = parse_unpack(spec)
    root = Path(local_dir).expanduser().resolve()
    archive = root / archive_name
    if not archive.is_file():
        present = sorted(p.name for p in root.iterdir())[:20] if root.is_dir() else []
        raise DownloadFailed(
            f"--unpack: {archive} is not in the download (its files: {present}); check the name"
        )
    target = (root / folder).resolve()
    stat = archive.stat()
    marker = root / _MARKERS / f"{archive_name.replace('/', '__')}.json"
    state = {"archive": archive_name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "folder": folder}
    if marker.is_file() and json.loads(marker.read_text(encoding="utf-8")) == state:
        return f"{archive_name}: already unpacked into {target}"
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = zipped.infolist()
            prefix = _strip_prefix([m.filename for m in members], folder)
            written = kept = cruft = 0
            for member in members:
                name = member.filename
                if name.startswith(_PLATFORM_CRUFT) or Path(name).name == ".DS_Store":
                    cruft += 1
                    continue
                relative = name[len(prefix) :] if prefix and name.startswith(prefix) else name
                dest = (target / relative).resolve()
                if dest != target and target not in dest.parents:
                    raise DownloadFailed(
                        f"--unpack: {archive} entry {name!r} would land outside {target}; refused"
                    )
                if member.is_dir():
                    dest.mkdir(parents=True, exist_ok=True)
                    continue
                if dest.is_file() and dest.stat().st_size == member.file_size:
                    kept += 1
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                partial = dest.with_name(dest.name + ".partial")
                with zipped.open(member) as source, open(partial, "wb") as sink:
                    shutil.copyfileobj(source, sink, 1 << 20)  # zipfile checks the CRC at the end
                os.replace(partial, dest)
                written += 1
    except zipfile.BadZipFile as error:
        raise DownloadFailed(
            f"--unpack: {archive} is damaged ({error}); delete it and re-run the download to fetch it again"
        ) from error
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(state), encoding="utf-8")
    extra = f", {cruft} platform metadata entries (__MACOSX, .DS_Store) left out" if cruft else ""
    return f"{archive_name}: unpacked into {target}: {written} file(s) written, {kept} already there{extra}"
