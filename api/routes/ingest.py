"""``POST /v1/ingest``: upload files or a tar/zip archive, parsed like ``elephant ingest``.

The upload is unpacked under ``$ELEPHANT_HOME/uploads/<root>`` (default root ``upload``), so that
repeated uploads of the same tree are the same source root: unchanged files are skipped, changed
files become new versions and ``prune`` retires records of files that left the tree. Archives are
unpacked member by member with every path checked: no absolute paths, no ``..``, no links or
devices, and caps on member count and unpacked bytes (zip bombs).
"""

from __future__ import annotations

import re
import shutil
import stat
import tarfile
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Annotated, Any

from fastapi import APIRouter, Depends, File, Form, UploadFile
from starlette.concurrency import run_in_threadpool

from elephant.api.deps import author_for, get_db, get_principal, get_settings_dep
from elephant.api.responses import IngestOut
from elephant.errors import FieldProblem, InvalidRecord, UsageError
from elephant.facade import Elephant, IngestResult
from elephant.settings import Settings
from elephant.storage.apikeys import ApiKey

router = APIRouter(tags=["ingest"])

MAX_MEMBERS = 20_000
MAX_UNPACKED_BYTES = 512 * 1024 * 1024
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
MAX_NAME_BYTES = 255  # what file systems allow for one name
MAX_PATH_CHARS = 1000  # below the 1,024 a record's source.path may hold
_ROOT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_root_locks: dict[str, threading.Lock] = {}
_root_locks_guard = threading.Lock()


def safe_relative(name: str, *, what: str) -> PurePosixPath:
    """A member or file name as a relative path that stays inside the upload root, or InvalidRecord."""
    text = name.replace("\\", "/")
    if "\x00" in text or text.startswith("/") or re.match(r"^[A-Za-z]:", text):
        raise _bad(what, name, "absolute paths are not allowed")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if not parts:
        raise _bad(what, name, "empty path")
    if any(p == ".." for p in parts):
        raise _bad(what, name, "'..' is not allowed in paths")
    if any(len(p.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES for p in parts):
        raise _bad(what, name, f"a path segment is longer than {MAX_NAME_BYTES} bytes")
    if len("/".join(parts)) > MAX_PATH_CHARS:
        raise _bad(what, name, f"the path is longer than {MAX_PATH_CHARS} characters")
    return PurePosixPath(*parts)


def _bad(what: str, name: str, message: str) -> InvalidRecord:
    return InvalidRecord(FieldProblem(field="files", file=f"{what} {name[:200]!r}", message=message))


class _Budget:
    def __init__(self) -> None:
        self.members = 0
        self.bytes = 0

    def add_member(self, name: str) -> None:
        self.members += 1
        if self.members > MAX_MEMBERS:
            raise _bad("upload", name, f"more than {MAX_MEMBERS} files")

    def add_bytes(self, size: int, name: str) -> None:
        # Counted while copying, not from headers: a zip's declared sizes can lie.
        self.bytes += size
        if self.bytes > MAX_UNPACKED_BYTES:
            raise _bad("upload", name, f"unpacks to more than {MAX_UNPACKED_BYTES} bytes")


def _write(root: Path, rel: PurePosixPath, source: IO[bytes], budget: _Budget, name: str) -> None:
    target = root.joinpath(*rel.parts)
    if not target.resolve().is_relative_to(root.resolve()):
        raise _bad("upload", name, "escapes the upload directory")
    if target.exists():
        raise _bad("upload", name, "appears twice in the upload (or names a folder another file is in)")
    budget.add_member(name)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        out = target.open("wb")
    except (FileExistsError, NotADirectoryError):
        raise _bad("upload", name, "is inside a path that another uploaded file already uses as a file") from None
    except OSError as exc:
        raise _bad("upload", name, f"cannot be stored: {exc.strerror or type(exc).__name__}") from None
    with out:
        while chunk := source.read(1 << 20):
            budget.add_bytes(len(chunk), name)
            out.write(chunk)


def _zip_members(archive: zipfile.ZipFile, label: str) -> Iterator[tuple[PurePosixPath, zipfile.ZipInfo]]:
    for info in archive.infolist():
        if info.is_dir():
            continue
        # Unix mode bits, when the archiver wrote any; a missing file type means a plain file.
        file_type = stat.S_IFMT(info.external_attr >> 16)
        if file_type and file_type != stat.S_IFREG:
            raise _bad(f"{label} member", info.filename, "only regular files are allowed (no links or devices)")
        yield safe_relative(info.filename, what=f"{label} member"), info


def unpack_zip(data: IO[bytes], root: Path, budget: _Budget, label: str) -> None:
    try:
        with zipfile.ZipFile(data) as archive:
            for rel, info in _zip_members(archive, label):
                with archive.open(info) as member:
                    _write(root, rel, member, budget, info.filename)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError) as exc:
        raise _bad("archive", label, f"not a readable zip file: {exc}") from None


def unpack_tar(data: IO[bytes], root: Path, budget: _Budget, label: str) -> None:
    try:
        with tarfile.open(fileobj=data, mode="r:*") as archive:
            for member in archive:
                if member.isdir():
                    continue
                if not member.isfile():
                    raise _bad(f"{label} member", member.name, "only regular files are allowed (no links or devices)")
                rel = safe_relative(member.name, what=f"{label} member")
                extracted = archive.extractfile(member)
                if extracted is None:
                    continue
                with extracted:
                    _write(root, rel, extracted, budget, member.name)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise _bad("archive", label, f"not a readable tar archive: {exc}") from None


def is_archive(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def unpack_upload(files: list[tuple[str, IO[bytes]]], root: Path) -> None:
    """Write uploaded files (and the contents of uploaded archives) under ``root``."""
    budget = _Budget()
    for name, data in files:
        if is_archive(name):
            if name.lower().endswith(".zip"):
                unpack_zip(data, root, budget, name)
            else:
                unpack_tar(data, root, budget, name)
        else:
            _write(root, safe_relative(name, what="file"), data, budget, name)


def _lock_for(root_name: str) -> threading.Lock:
    with _root_locks_guard:
        return _root_locks.setdefault(root_name, threading.Lock())


def ingest_upload(db: Elephant, files: list[tuple[str, IO[bytes]]], *, root_name: str, dry_run: bool,
                  prune: bool, author: str) -> IngestResult:
    """Unpack into a fresh directory, swap it in as the root, then ingest it (one upload per root at a time)."""
    uploads = db.home / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    with _lock_for(root_name):
        staging = Path(tempfile.mkdtemp(prefix=f".{root_name}-", dir=uploads))
        try:
            unpack_upload(files, staging)
            root = uploads / root_name
            if root.exists():
                shutil.rmtree(root)
            staging.rename(root)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return db.ingest([root], dry_run=dry_run, prune=prune, author=author)


@router.post("/ingest", response_model=IngestOut)
async def ingest(
    db: Annotated[Elephant, Depends(get_db)],
    principal: Annotated[ApiKey | None, Depends(get_principal)],
    settings: Annotated[Settings, Depends(get_settings_dep)],
    files: Annotated[list[UploadFile], File(description="record files, artifacts, or .zip/.tar(.gz) archives")],
    root: Annotated[str, Form(description="name of the source root these files replace")] = "upload",
    dry_run: Annotated[bool, Form()] = False,
    prune: Annotated[bool, Form(description="retire records whose files left this root")] = False,
) -> dict[str, Any]:
    """Parse uploaded artifacts into records, with the same report as ``elephant ingest --json``."""
    if not _ROOT_NAME.match(root):
        raise UsageError("root must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    if not files:
        raise UsageError("upload at least one file")
    named: list[tuple[str, IO[bytes]]] = [(f.filename or f"file{i}", f.file) for i, f in enumerate(files)]
    report = await run_in_threadpool(ingest_upload, db, named, root_name=root, dry_run=dry_run, prune=prune,
                                     author=author_for(principal, settings))
    return report.to_dict()
