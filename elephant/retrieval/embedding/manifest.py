"""``manifest.json``: what `model build` produced, with hashes, settings and parity figures."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elephant.errors import ModelError

MANIFEST_NAME = "manifest.json"
TOKENIZER_NAME = "tokenizer.json"
MANIFEST_FORMAT = 1
BUILD_HINT = "run `elephant model build`"


@dataclass(frozen=True)
class DataFile:
    """A side file holding a variant's large initializers (ONNX external data)."""

    path: Path
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class Variant:
    """One ONNX file of a built model, as the manifest describes it.

    ``data_files`` is empty for a single-file model, which is what builds before external data wrote.
    """

    name: str
    path: Path
    sha256: str
    max_batch_size: int
    allow_spinning: bool
    info: dict[str, Any]
    data_files: tuple[DataFile, ...] = ()


class Manifest:
    """A parsed manifest and the directory it describes."""

    def __init__(self, directory: Path, data: dict[str, Any]) -> None:
        self.directory = directory
        self.data = data

    @property
    def model_name(self) -> str:
        return str(self.data["model"])

    @property
    def default_variant(self) -> str:
        return str(self.data["default"])

    @property
    def variants(self) -> dict[str, dict[str, Any]]:
        return dict(self.data.get("variants", {}))

    @property
    def aliases(self) -> dict[str, str]:
        return dict(self.data.get("aliases", {}))

    @property
    def tokenizer_path(self) -> Path:
        return self.directory / str(self.data.get("tokenizer", {}).get("file", TOKENIZER_NAME))

    def resolve(self, name: str | None) -> Variant:
        """A variant by name or alias (None or "default": the default one)."""
        requested = name or "default"
        key = self.default_variant if requested == "default" else self.aliases.get(requested, requested)
        info = self.variants.get(key)
        if info is None:
            known = sorted(set(self.variants) | set(self.aliases))
            raise ModelError(
                f"variant {requested!r} is not built in {self.directory} (built: {', '.join(known) or 'none'}); "
                f"{BUILD_HINT} --variant {requested}", variant=requested, model_dir=str(self.directory))
        runtime = info.get("runtime", {})
        data_files = tuple(DataFile(path=self.directory / d["file"], sha256=d["sha256"],
                                    size_bytes=int(d["size_bytes"])) for d in info.get("data_files", []))
        return Variant(name=key, path=self.directory / info["file"], sha256=info["sha256"],
                       max_batch_size=int(runtime.get("max_batch_size", 32)),
                       allow_spinning=bool(runtime.get("allow_spinning", False)), info=info,
                       data_files=data_files)


def read_manifest(directory: str | os.PathLike[str]) -> Manifest:
    """The manifest in ``directory``, or a ModelError saying how to build one."""
    directory = Path(directory)
    path = directory / MANIFEST_NAME
    if not path.is_file():
        raise ModelError(f"no embedding model in {directory} (no {MANIFEST_NAME}); {BUILD_HINT} to create it",
                         model_dir=str(directory))
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path} is unreadable ({exc}); {BUILD_HINT} --force to rebuild it",
                         model_dir=str(directory)) from exc
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT or "variants" not in data:
        raise ModelError(f"{path} is not a manifest this version understands; {BUILD_HINT} --force",
                         model_dir=str(directory))
    return Manifest(directory, data)


def write_manifest(directory: Path, data: dict[str, Any]) -> Path:
    """Write atomically: a reader never sees a half-written manifest next to half-built files."""
    path = directory / MANIFEST_NAME
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)
    return path
