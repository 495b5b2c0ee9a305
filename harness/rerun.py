"""How a stage starts again: what a fresh attempt deletes, how an interrupted one resumes, and
how a job that a scheduler may restart on its own (Slurm `--requeue`) finds its progress.

Each stage kind (harness.kinds) names one `RerunRule`; the runner calls `RerunRule.prepare`
once per attempt, right before the stage is handed to its launcher, and never looks at the
kind itself.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from data_prep.swift_skipped_records import SKIPPED_FILE
from harness import swift_resume
from harness.finalize import SKIPPED_SUMMARY

SWIFT_OUTPUT = "output"  # ms-swift's --output_dir inside the stage folder (harness.render.swift)

# argv, stage folder -> the argv of the attempt
ArgvRule = Callable[[Sequence[str], Path], Sequence[str]]


@dataclass(frozen=True)
class RerunRule:
    """What an attempt of one stage kind does to its folder and its argv.

    resumable: an interrupted attempt (running, failed, submitted) continues instead of
        starting from an empty folder.
    clean: what a fresh attempt deletes, relative to the stage folder ("." is the folder
        itself); () deletes nothing (the output lives outside the folder, or is rewritten).
    resume: the argv of a resumed attempt.
    requeue: the argv of a job that a scheduler may restart with the argv it was submitted
        with; it must find the progress the earlier start made by itself.
    """

    resumable: bool = False
    clean: tuple[str, ...] = (".",)
    resume: ArgvRule | None = None
    requeue: ArgvRule | None = None

    def prepare(
        self, argv: Sequence[str], stage_dir: Path, *, resume: bool, requeueable: bool, verbatim: bool
    ) -> tuple[str, ...]:
        """Clean the folder (fresh attempt) or resume; returns the argv to launch.

        verbatim (as_published=true): a seed's command is submitted as printed, so it is not
        wrapped for requeues; it still resumes when the harness itself restarts it.
        """
        if not (resume and self.resumable):
            for relative in self.clean:
                target = stage_dir if relative == "." else stage_dir / relative
                if target.is_symlink() and target.is_dir():
                    # A shared stage (harness.stage_store): empty the entry, keep its link and lock.
                    for child in target.iterdir():
                        if child.name != ".lock":
                            _remove(child)
                elif target.exists() or target.is_symlink():
                    _remove(target)
        return self.attempt_argv(argv, stage_dir, resume=resume, requeueable=requeueable, verbatim=verbatim)

    def attempt_argv(
        self, argv: Sequence[str], stage_dir: Path, *, resume: bool, requeueable: bool, verbatim: bool
    ) -> tuple[str, ...]:
        """The argv `prepare` launches, touching nothing (the dry run prints it)."""
        out: Sequence[str] = argv
        if resume and self.resumable and self.resume:
            out = self.resume(out, stage_dir)
        if requeueable and self.requeue is not None and not verbatim:
            out = self.requeue(out, stage_dir)
        return tuple(out)


def _remove(path: Path) -> None:
    """Delete a file, a link or a folder (a link, never what it points to)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _swift_resume(argv: Sequence[str], stage_dir: Path) -> Sequence[str]:
    argv, _ = swift_resume.with_resume(argv, stage_dir / SWIFT_OUTPUT)
    return argv


def _swift_requeue(argv: Sequence[str], stage_dir: Path) -> Sequence[str]:
    return swift_resume.wrap(argv, str(stage_dir / SWIFT_OUTPUT))


def _verl_resume(argv: Sequence[str], stage_dir: Path) -> Sequence[str]:
    if any(a.startswith("trainer.resume_mode=") for a in argv):
        return argv
    return [*argv, "trainer.resume_mode=auto"]


# ms-swift trainers: the newest complete checkpoint-N under <stage_dir>/output, found when the
# attempt starts (harness.swift_resume), so a requeued Slurm job finds its own checkpoints.
# A fresh attempt also drops the rows an earlier attempt left out (harness.finalize); a resumed
# one keeps them, as its trainer keeps what it learnt.
SWIFT_CHECKPOINTS = RerunRule(
    resumable=True,
    clean=(SWIFT_OUTPUT, SKIPPED_FILE, SKIPPED_SUMMARY),
    resume=_swift_resume,
    requeue=_swift_requeue,
)
# verl resumes from its own checkpoints (trainer.resume_mode=auto, its default) whenever it
# starts, so a requeued job needs nothing more.
VERL_CHECKPOINTS = RerunRule(resumable=True, resume=_verl_resume)
# The evaluation skips the images whose predictions are already written (and refuses a changed
# config itself).
KEEP_PREDICTIONS = RerunRule(resumable=True)
# A partial export or data folder is not reused.
START_OVER = RerunRule()
# The output lives outside the stage folder (a download's local_dir, the run's report.md) and
# its program rewrites or completes it.
REWRITE_IN_PLACE = RerunRule(clean=())
