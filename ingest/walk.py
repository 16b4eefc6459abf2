"""Finding the files under the paths given to ``elephant ingest``: symlink loops, broken links and
special files are reported, never followed forever."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class FoundFile:
    rel: str  # POSIX path relative to the root
    abs: Path
    size: int


@dataclass
class WalkResult:
    root: Path
    files: list[FoundFile] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (rel path, reason)


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def walk(target: Path) -> WalkResult:
    """Files under ``target`` (a folder, or a single file whose parent becomes the root), sorted.

    Hidden entries (``.git``, ``.elephant``...) are ignored. Symlinked folders are followed once:
    a link back into a folder already being walked is reported as a symlink loop.
    """
    target = Path(os.path.abspath(target))
    if not target.is_dir():
        root = target.parent
        result = WalkResult(root=root)
        _add_file(result, root, target)
        return result
    result = WalkResult(root=target)
    visited: set[str] = {os.path.realpath(target)}
    for dirpath, dirnames, filenames in os.walk(target, followlinks=True, onerror=None):
        current = Path(dirpath)
        keep: list[str] = []
        # Real folders before symlinks, so a tree's own paths win over an alias of the same folder.
        for name in sorted(dirnames, key=lambda n: (os.path.islink(current / n), n)):
            if name.startswith("."):
                continue
            sub = current / name
            real = os.path.realpath(sub)
            if real in visited:
                inside = os.path.realpath(current) == real or os.path.realpath(current).startswith(real + os.sep)
                reason = (f"symlink loop: points back to {real}" if inside
                          else f"symlink to a folder already walked ({real})")
                result.skipped.append((_rel(target, sub), reason))
                continue
            if not os.access(sub, os.R_OK | os.X_OK):
                result.skipped.append((_rel(target, sub), "folder not readable"))
                continue
            visited.add(real)
            keep.append(name)
        dirnames[:] = keep
        for name in sorted(filenames):
            if not name.startswith("."):
                _add_file(result, target, current / name)
    result.files.sort(key=lambda f: f.rel)
    return result


def _add_file(result: WalkResult, root: Path, path: Path) -> None:
    rel = _rel(root, path)
    try:
        info = path.stat()
    except OSError as exc:
        if exc.errno == 40:  # ELOOP: a symlink that resolves to itself
            result.skipped.append((rel, "symlink loop"))
        elif path.is_symlink():
            result.skipped.append((rel, "broken symlink"))
        else:
            result.skipped.append((rel, f"cannot read: {exc.strerror or exc}"))
        return
    if stat.S_ISDIR(info.st_mode):
        return
    if not stat.S_ISREG(info.st_mode):
        result.skipped.append((rel, "not a regular file"))
        return
    result.files.append(FoundFile(rel=rel, abs=path, size=info.st_size))
