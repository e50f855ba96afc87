"""The demo's folders: made with a mark inside, and wiped only when that mark says the demo made them.

`retail-hub demo --data-dir DIR` starts afresh each time, so it deletes what a previous demo left
in DIR (and in the Tryton template beside it). A folder it did not make is never deleted: a
non-empty DIR without the mark is refused before anything starts.
"""

import shutil
from pathlib import Path

MARK = ".retail-hub-demo"
MARK_TEXT = "Made by `retail-hub demo`, which deletes and remakes this folder on each run.\n"


class NotTheDemos(Exception):
    """`folder` holds something the demo did not make, so the demo will not delete it."""

    def __init__(self, folder: Path, what: str) -> None:
        super().__init__(f"{folder} {what} and was not made by the demo (no {MARK} in it); it is "
                         "left as it is. Give --data-dir a new or empty folder, or delete this one "
                         "yourself if an older demo made it")
        self.folder = folder


def check(folder: Path, marks: tuple[str, ...] = (MARK,)) -> None:
    """Raise NotTheDemos unless `folder` is missing, empty, or has one of `marks` in it."""
    if not folder.exists():
        return
    if not folder.is_dir():
        raise NotTheDemos(folder, "is not a folder")
    if not any((folder / mark).is_file() for mark in marks) and any(folder.iterdir()):
        raise NotTheDemos(folder, "is not empty")


def remake(folder: Path, marks: tuple[str, ...] = (MARK,)) -> None:
    """Delete `folder` (once `check` agrees) and make it again, empty but for the mark."""
    check(folder, marks)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / MARK).write_text(MARK_TEXT)
