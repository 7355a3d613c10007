"""Files on disk: atomic writes, model folders, safetensors and versioned configs.

Every write goes to a temporary file in the destination folder and is moved into place with
``os.replace``, so a crash never leaves a half-written file where a model or checkpoint is
expected. Models are read from safetensors only; anything that looks like a pickle is refused
before a byte of it is deserialised.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load_bytes
from safetensors.torch import save as st_save_bytes

from .errors import ConfigError, ModelLoadError, TrainingError

#: Bumped whenever the layout of a model folder changes incompatibly.
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"

T = TypeVar("T")

_PICKLE_MAGIC = (b"\x80", b"PK\x03\x04")  # pickle protocol 2+ / torch.save zip archives


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file + ``os.replace``).

    The file gets the permissions of any newly created file (``0o666`` less the umask), not
    the private ``0o600`` of a temporary file.
    """
    path = Path(path)
    if path.is_dir():  # else os.replace would name the temporary file in its error
        raise IsADirectoryError(errno.EISDIR, "is a folder; give a file name", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:  # named after the file asked for, not the temporary one
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented UTF-8 JSON to ``path`` atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def save_tensors(
    tensors: Mapping[str, torch.Tensor],
    path: str | os.PathLike[str],
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Save tensors as safetensors, atomically. Tensors are made contiguous and moved to CPU."""
    flat = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    return atomic_write_bytes(path, st_save_bytes(flat, metadata=dict(metadata or {})))


def load_tensors(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Load a safetensors file, refusing pickles and naming what is wrong with a bad file.

    Raises:
        ModelLoadError: the file is missing, truncated, not safetensors, or a pickle.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(
            f"model weights not found: {path} does not exist. Pass the folder written by "
            "save_pretrained (it holds config.json and model.safetensors), or omit the path to "
            "use the bundled model."
        )
    data = path.read_bytes()
    # A safetensors file starts with an 8-byte little-endian header length and then "{"; its
    # first byte can be anything (0x80 included), so only a file that is not safetensors is
    # checked against the pickle signatures: a torch.save zip archive, or a pickle (protocol
    # 2+: 0x80, the protocol number, and either STOP "." at the end or, as the legacy
    # torch.save format starts, its magic number as a LONG1). A safetensors file cut short
    # that starts with 0x80 is reported as truncated, not as a pickle.
    looks_safetensors = len(data) >= 9 and data[8:9] == b"{"
    looks_pickle = data[:4] == _PICKLE_MAGIC[1] or (
        data[:1] == _PICKLE_MAGIC[0] and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")
        and (data.endswith(b".") or data[2:3] == b"\x8a"))
    if not looks_safetensors and looks_pickle:
        raise ModelLoadError(
            f"{path} looks like a pickle or torch.save archive; emojiqa only loads safetensors "
            "and never unpickles files (a pickle can run arbitrary code). Convert the weights "
            "with safetensors.torch.save_file in a trusted environment."
        )
    try:
        return st_load_bytes(data)
    except (SafetensorError, ValueError, RuntimeError, OSError) as exc:
        raise ModelLoadError(
            f"{path} is not a valid safetensors file ({exc}); it may be truncated or corrupt. "
            "Re-download or re-train the model, or restore it from a checkpoint."
        ) from exc


def config_to_dict(config: Any) -> dict[str, Any]:
    """A frozen config dataclass as a JSON-ready dict (tuples become lists)."""
    return dataclasses.asdict(config)


def check_field_types(config: Any) -> None:
    """Each field of a config dataclass must have the kind of value its default has: a
    ``bool`` where the default is one, a whole number where it is an ``int``, a finite number
    where it is a ``float``, text where it is a ``str``; None where the field's type allows it
    (fields defaulting to None or a tuple are checked by the config itself).

    Raises:
        ConfigError: naming the field, the value and what it needs.

    Example:
        >>> from emojiqa.ranker import RankerConfig
        >>> RankerConfig(batch_size="abc")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        emojiqa.errors.ConfigError: RankerConfig.batch_size must be a whole number, got 'abc'
    """
    import math

    name = type(config).__name__
    for f in dataclasses.fields(config):
        default, value = f.default, getattr(config, f.name)
        if value is None and "None" in str(f.type):  # an optional field left out
            continue
        if isinstance(default, bool):
            ok, need = isinstance(value, bool), "true or false"
        elif isinstance(default, int):
            ok, need = isinstance(value, int) and not isinstance(value, bool), "a whole number"
        elif isinstance(default, float):
            ok = (isinstance(value, int | float) and not isinstance(value, bool)
                  and math.isfinite(value))
            need = "a finite number"
        elif isinstance(default, str):
            ok, need = isinstance(value, str), "text"
        else:
            continue
        if not ok:
            raise ConfigError(f"{name}.{f.name} must be {need}, got {value!r}")


def config_from_dict(cls: type[T], data: Mapping[str, Any], *, source: str = "config") -> T:
    """Build the frozen config dataclass ``cls`` from ``data``, strictly.

    Unknown and missing fields are errors that name the field and the fields allowed, except
    the fields of the mapping ``cls.ADDED_FIELDS`` (if any): those were added after the first
    release, and a folder saved before them gets the value given there (how such models
    behave), so it loads as it was trained. Lists are turned back into tuples where the
    dataclass default is a tuple.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{source}: unknown field(s) {unknown} for {cls.__name__}; allowed fields are "
            f"{sorted(fields)}. Remove them or check the file comes from this emojiqa version."
        )
    added: Mapping[str, Any] = getattr(cls, "ADDED_FIELDS", {})
    data = {**{k: v for k, v in added.items() if k not in data}, **data}
    missing = sorted(set(fields) - set(data))
    if missing:
        raise ConfigError(
            f"{source}: missing field(s) {missing} for {cls.__name__}. The file is incomplete: "
            "re-save the model with save_pretrained."
        )
    kwargs = {}
    for name, value in data.items():
        if isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    try:
        return cls(**kwargs)  # type: ignore[call-arg]
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: invalid {cls.__name__}: {exc}") from exc


def write_model_folder(
    folder: str | os.PathLike[str],
    *,
    model_type: str,
    config: Any,
    tensors: Mapping[str, torch.Tensor],
    extra_json: Mapping[str, Any] | None = None,
    extra_dirs: Mapping[str, Path] | None = None,
) -> Path:
    """Write a self-contained model folder atomically.

    The folder is built next to its destination and swapped in with ``os.replace``, so a reader
    sees either the old folder or the new one, never a mix.

    Args:
        folder: destination folder.
        model_type: e.g. ``"vae"`` or ``"ranker"``; checked again on load.
        config: the frozen config dataclass of the model.
        tensors: the weights, written to ``model.safetensors``.
        extra_json: more JSON files (``{"vocab.json": {...}}``) inference needs.
        extra_dirs: sub-folders to copy in (``{"vae": path_to_vae_folder}``).
    """
    folder = Path(folder)
    check_replaceable(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    old: Path | None = None
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        from . import __version__

        header = {
            "format_version": FORMAT_VERSION,
            "model_type": model_type,
            "emojiqa_version": __version__,
            "config": config_to_dict(config),
        }
        atomic_write_json(tmp / CONFIG_NAME, header)
        save_tensors(tensors, tmp / WEIGHTS_NAME, metadata={"model_type": model_type})
        for name, obj in (extra_json or {}).items():
            atomic_write_json(tmp / name, obj)
        for name, src in (extra_dirs or {}).items():
            shutil.copytree(src, tmp / name)
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
            if old.exists():
                shutil.rmtree(old)
            os.replace(folder, old)
        os.replace(tmp, folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        # Interrupted between the two renames: put the previous model back in its place.
        if old is not None and old.exists() and not folder.exists():
            os.replace(old, folder)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def check_replaceable(folder: Path) -> None:
    """A model folder is written over only what it may replace: nothing, an empty folder, or
    another model folder (its ``config.json`` names a model type).

    Raises:
        ConfigError: ``folder`` is a file, or a folder holding something else (saving would
            delete it).
    """
    if not folder.exists():
        return
    if not folder.is_dir():
        raise ConfigError(f"{folder} is a file; a model is saved as a folder, and saving would "
                          "replace that file: pass a new folder name")
    if not any(folder.iterdir()):
        return
    try:
        header = json.loads((folder / CONFIG_NAME).read_text(encoding="utf-8"))
        is_model = isinstance(header, dict) and "model_type" in header
    except (OSError, ValueError):
        is_model = False
    if not is_model:
        shown = sorted(p.name for p in folder.iterdir())
        listed = ", ".join(shown[:5]) + (f" and {len(shown) - 5} more" if len(shown) > 5 else "")
        raise ConfigError(f"{folder} is a folder that is not a model folder (it holds "
                          f"{listed}); saving the model there would delete it: pass a new "
                          "or empty folder, or a model folder to replace")


def _previous_version(folder: Path) -> Path | None:
    """The folder a killed :func:`write_model_folder` left aside (``.NAME.old-PID``), if any."""
    olds = [p for p in folder.parent.glob(f".{folder.name}.old-*") if p.is_dir()]
    return max(olds, key=lambda p: p.stat().st_mtime) if olds else None


def read_model_folder(
    folder: str | os.PathLike[str], *, model_type: str, config_cls: type[T]
) -> tuple[T, dict[str, torch.Tensor]]:
    """Read ``config.json`` and ``model.safetensors`` of a model folder, with clear errors."""
    folder = Path(folder)
    if not folder.exists() and (prev := _previous_version(folder)) is not None:
        # a save was killed between its two renames: the previous model is intact aside
        folder = prev
    if not folder.exists():
        raise ModelLoadError(
            f"model folder not found: {folder}. Pass a folder written by save_pretrained or "
            "by `emojiqa train-*`, or omit the path to use the bundled model."
        )
    if folder.is_file():
        raise ModelLoadError(
            f"{folder} is a file, but a model is a folder holding {CONFIG_NAME} and "
            f"{WEIGHTS_NAME}. Pass the folder instead."
        )
    header = read_json(folder / CONFIG_NAME, what="model config")
    if not isinstance(header, dict) or "config" not in header:
        raise ModelLoadError(
            f"{folder / CONFIG_NAME} is not an emojiqa model config (no 'config' entry). "
            "Re-save the model with save_pretrained."
        )
    version = header.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelLoadError(
            f"{folder} was saved in model format {version!r} (emojiqa "
            f"{header.get('emojiqa_version', 'unknown')}), but this emojiqa "
            f"reads format {FORMAT_VERSION}. Re-train or re-save it with this version."
        )
    if header.get("model_type") != model_type:
        raise ModelLoadError(
            f"{folder} holds a {header.get('model_type')!r} model, not a {model_type!r} model. "
            "Check which folder you passed."
        )
    config = config_from_dict(config_cls, header["config"], source=str(folder / CONFIG_NAME))
    tensors = load_tensors(folder / WEIGHTS_NAME)
    return config, tensors


def read_json(path: str | os.PathLike[str], *, what: str = "file") -> Any:
    """Read a JSON file with a clear error when it is missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(
            f"{what} not found: {path} does not exist. The model folder is incomplete; "
            "re-save it with save_pretrained."
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(
            f"{what} {path} is not valid UTF-8 JSON ({exc}); it may be truncated. "
            "Re-save the model."
        ) from exc


def check_output_dir(folder: str | os.PathLike[str], *, min_free_mb: float = 50.0,
                     model_folder: str | None = "model") -> Path:
    """Fail early when ``folder`` cannot take the output of a training run.

    Called before training starts, so a read-only or full disk, or a ``model_folder`` inside
    it that saving the model would delete (:func:`check_replaceable`), is reported at once
    instead of after hours of work.
    """
    folder = Path(folder)
    if model_folder is not None:
        check_replaceable(folder / model_folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise TrainingError(
            f"cannot write to output folder {folder} ({exc.strerror or exc}). Choose a writable "
            "folder with --out, or fix its permissions."
        ) from exc
    free_mb = shutil.disk_usage(folder).free / 2**20
    if free_mb < min_free_mb:
        raise TrainingError(
            f"only {free_mb:.0f} MB free on the disk of {folder}; training needs at least "
            f"{min_free_mb:.0f} MB for checkpoints and the model. Free some space or choose "
            "another --out."
        )
    return folder
