"""One configuration object for the library and every adapter, read from ``ELEPHANT_*`` variables."""

from __future__ import annotations

import getpass
import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_author() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"


class Settings(BaseSettings):
    """Elephant's configuration; CLI options mirror these names."""

    model_config = SettingsConfigDict(env_prefix="ELEPHANT_", extra="ignore")

    home: Path | None = Field(default=None, description="where the database, index and models live; default: "
                              "the nearest `.elephant` from the working directory up, else the per-user home")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite in home")
    chroma_url: str | None = Field(default=None, description="Chroma server URL; default embedded in home")
    model: str = Field(default="int8", description="embedding variant: int8, fp32 or a model directory")
    model_dir: Path | None = Field(default=None, description="where built models live; default home/models when "
                                   "built there, else ~/.cache/elephant/models")
    embed_threads: int | None = Field(default=None, description="onnxruntime intra-op threads; default cores")
    author: str = Field(default_factory=_default_author, description="author written on each version")
    regression_threshold_pct: float = Field(default=10.0, description="worse p95/p99/throughput that is a regression")
    api_body_limit_bytes: int = Field(default=16 * 1024 * 1024, description="largest accepted request body")
    allowed_hosts: str = Field(default="", description="comma-separated Host names a keyless server on loopback "
                               "answers besides localhost, 127.0.0.1 and [::1] (DNS-rebinding guard)")
    search_cache: int = Field(default=1024, ge=0,
                              description="search responses kept while the store is unchanged; 0 turns it off")
    shared_vectors: bool = Field(default=True, description="keep the chunk vectors in files under home/vectors that "
                                 "every process on the host maps (one copy per host); false: a private matrix "
                                 "per process")
    mlflow_uri: str | None = Field(default=None, description="MLflow tracking server `elephant ingest` reads "
                                   "when no PATH is given")

    @property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve() if self.home is not None else discover_home()

    @property
    def home_source(self) -> str:
        """How the home was chosen: "ELEPHANT_HOME/--home", "found from the working directory", "per-user default"."""
        if self.home is not None:
            return "set by ELEPHANT_HOME or --home"
        return "found from the working directory" if find_local_home() else "per-user default"

    @property
    def resolved_model_dir(self) -> Path:
        """``model_dir`` when set; else ``home/models`` when a model was built there; else the per-user
        model cache (``$XDG_CACHE_HOME/elephant/models``), which `elephant model build` fills by default,
        so one build serves every home of the user."""
        if self.model_dir is not None:
            return self.model_dir.expanduser().resolve()
        in_home = self.resolved_home / "models"
        if (in_home / "manifest.json").is_file():
            return in_home
        return user_model_dir()

    @property
    def resolved_database_url(self) -> str:
        return normalise_database_url(self.database_url) if self.database_url else (
            f"sqlite:///{self.resolved_home / 'elephant.db'}"
        )

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")


HOME_DIR_NAME = ".elephant"


def find_local_home(start: Path | None = None) -> Path | None:
    """The nearest ``.elephant`` directory in ``start`` (the working directory) or a folder above it, as git
    finds ``.git`` (docs/design.md §5: one home holds the database, the vector index and the models)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / HOME_DIR_NAME
        if candidate.is_dir():
            return candidate
    return None


def user_home() -> Path:
    """The per-user home: ``$XDG_DATA_HOME/elephant``, by default ``~/.local/share/elephant``."""
    data = os.environ.get("XDG_DATA_HOME", "").strip()
    base = Path(data) if data and Path(data).is_absolute() else Path.home() / ".local" / "share"
    return (base / "elephant").resolve()


def user_model_dir() -> Path:
    """Where `elephant model build` puts the model when no ELEPHANT_MODEL_DIR is set:
    ``$XDG_CACHE_HOME/elephant/models``, by default ``~/.cache/elephant/models``."""
    cache = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(cache) if cache and Path(cache).is_absolute() else Path.home() / ".cache"
    return (base / "elephant" / "models").resolve()


def discover_home(start: Path | None = None) -> Path:
    """The home used when none is set: the nearest ``.elephant`` walking up, else the per-user home.

    Nothing is created here; reading never makes a ``.elephant`` in the working directory (``elephant
    init`` does)."""
    return find_local_home(start) or user_home()


def normalise_database_url(url: str) -> str:
    """Map plain ``postgresql://`` URLs onto the psycopg 3 driver that Elephant installs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once from the environment."""
    return Settings()


def settings_for(home: str | os.PathLike[str] | None = None, **overrides: object) -> Settings:
    """Settings from the environment with ``home`` and other fields overridden (None leaves a field alone)."""
    values = {k: v for k, v in overrides.items() if v is not None}
    if home is not None:
        values["home"] = Path(home)
    return Settings(**values)  # type: ignore[arg-type]
