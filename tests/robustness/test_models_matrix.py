"""Bad-input matrix of the model boundary: ``storage.read_model_folder`` and ``from_pretrained``.

A model folder is ``config.json`` + ``model.safetensors``. Every way it can be missing,
truncated, mixed up, from another version or unsafe must raise exactly
:class:`~emojiqa.errors.ModelLoadError` or :class:`~emojiqa.errors.ConfigError` with a message
naming the file and the fix. A pickle is never unpickled: the pickles used here would create
a marker file when unpickled, and the tests check that the marker never appears.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import pickle
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from emojiqa import storage
from emojiqa.errors import ConfigError, ModelLoadError
from emojiqa.ranker import EmojiRanker
from emojiqa.vae import VAE, VAEConfig


@dataclasses.dataclass(frozen=True)
class TinyConfig:
    """A stand-in config for the storage-level cases."""

    width: int = 3
    name: str = "tiny"


def _read_tiny(folder: Path):
    return storage.read_model_folder(folder, model_type="tiny", config_cls=TinyConfig)


def _read_vae(folder: Path):
    return VAE.from_pretrained(folder, device="cpu")


def _read_ranker(folder: Path):
    return EmojiRanker.from_pretrained(folder, device="cpu")


LOADERS: dict[str, tuple[Callable[[Path], object], str]] = {
    # name: (load function, model_type written in its config.json)
    "storage": (_read_tiny, "tiny"),
    "vae": (_read_vae, "vae"),
    "ranker": (_read_ranker, "ranker"),
}


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory, tiny_ranker_dirs) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    storage.write_model_folder(root / "storage", model_type="tiny", config=TinyConfig(),
                               tensors={"w": torch.arange(6.0).reshape(2, 3)})
    torch.manual_seed(0)
    VAE(VAEConfig.named("default", latent_dim=4, image_size=8, filters=(4, 4))
        ).save_pretrained(root / "vae")
    return {"storage": root / "storage", "vae": root / "vae",
            "ranker": tiny_ranker_dirs["bag"]}


@pytest.fixture(params=sorted(LOADERS))
def model(request, saved_models, tmp_path):
    """(load function, a fresh copy of a valid model folder of that kind)."""
    folder = tmp_path / "model"
    shutil.copytree(saved_models[request.param], folder)
    return LOADERS[request.param][0], folder


def _edit_config(folder: Path, edit: Callable[[dict], None]) -> None:
    path = folder / "config.json"
    header = json.loads(path.read_text(encoding="utf-8"))
    edit(header)
    path.write_text(json.dumps(header), encoding="utf-8")


# --- the folder itself -------------------------------------------------------------------------
def test_valid_folder_loads(model):
    load, folder = model
    load(folder)


def test_missing_folder(model, raises_clearly):
    load, folder = model
    raises_clearly(ModelLoadError, load, folder.parent / "no_such_model",
                   what=[r"not found", "no_such_model"], fix=[r"save_pretrained|train"])


def test_file_instead_of_folder(model, raises_clearly):
    load, folder = model
    raises_clearly(ModelLoadError, load, folder / "model.safetensors",
                   what=[r"is a file"], fix=[r"pass the folder"])


def test_empty_folder(model, raises_clearly):
    load, folder = model
    empty = folder.parent / "empty"
    empty.mkdir()
    raises_clearly(ModelLoadError, load, empty, what=["config.json", r"not found|does not exist"],
                   fix=[r"re-save|save_pretrained"])


# --- model.safetensors -------------------------------------------------------------------------
WEIGHT_CASES = {
    "missing": None,
    "zero-bytes": lambda data: b"",
    "truncated-half": lambda data: data[: len(data) // 2],
    "truncated-header": lambda data: data[:6],
    "truncated-last-byte": lambda data: data[:-1],
    "garbage": lambda data: b"\x13\x37" * 500,
    "json-header-broken": lambda data: data[:8] + b"[" + data[9:],
    "header-length-lies": lambda data: (10**9).to_bytes(8, "little") + data[8:],
    "text-file": lambda data: b"these are not weights\n",
}


@pytest.mark.parametrize("case", list(WEIGHT_CASES))
def test_bad_weights(model, case, raises_clearly):
    load, folder = model
    path = folder / "model.safetensors"
    if WEIGHT_CASES[case] is None:
        path.unlink()
        raises_clearly(ModelLoadError, load, folder,
                       what=["model.safetensors", r"not found|does not exist"],
                       fix=[r"save_pretrained|bundled"])
        return
    path.write_bytes(WEIGHT_CASES[case](path.read_bytes()))
    raises_clearly(ModelLoadError, load, folder,
                   what=["model.safetensors", r"truncated|corrupt|not a valid"],
                   fix=[r"re-download|re-train|restore"])


def test_weights_of_another_shape(saved_models, tmp_path, raises_clearly):
    folder = tmp_path / "vae"
    shutil.copytree(saved_models["vae"], folder)
    other = VAE(VAEConfig.named("default", latent_dim=6, image_size=8, filters=(4, 4)))
    storage.save_tensors(other.state_dict(), folder / "model.safetensors")
    raises_clearly(ModelLoadError, VAE.from_pretrained, folder,
                   what=[r"do not fit", r"wrong shape"], fix=[r"re-save"])


def test_weights_with_missing_tensor(saved_models, tmp_path, raises_clearly):
    folder = tmp_path / "vae"
    shutil.copytree(saved_models["vae"], folder)
    tensors = storage.load_tensors(folder / "model.safetensors")
    tensors.pop(sorted(tensors)[0])
    storage.save_tensors(tensors, folder / "model.safetensors")
    raises_clearly(ModelLoadError, VAE.from_pretrained, folder,
                   what=[r"do not fit", r"missing"], fix=[r"re-save"])


# --- config.json -------------------------------------------------------------------------------
CONFIG_CASES = {
    # name: (edit of the header dict, error class, what, fix)
    "unknown-field": (lambda h: h["config"].update(colour="blue"), ConfigError,
                      [r"unknown field", "colour"], [r"allowed fields"]),
    "missing-field": (lambda h: h["config"].pop("name"), ConfigError,
                      [r"missing field", "name"], [r"re-save"]),
    "no-config-entry": (lambda h: h.pop("config"), ModelLoadError,
                        [r"not an emojiqa model config"], [r"re-save"]),
    "format-version-2": (lambda h: h.update(format_version=2), ModelLoadError,
                         [r"format 2", r"reads format 1"], [r"re-train|re-save"]),
    "format-version-0": (lambda h: h.update(format_version=0), ModelLoadError,
                         [r"format 0"], [r"re-train|re-save"]),
    "format-version-missing": (lambda h: h.pop("format_version"), ModelLoadError,
                               [r"format None"], [r"re-train|re-save"]),
    "format-version-string": (lambda h: h.update(format_version="1"), ModelLoadError,
                              [r"format '1'"], [r"re-train|re-save"]),
    "other-model-type": (lambda h: h.update(model_type="gan"), ModelLoadError,
                         [r"'gan' model"], [r"check which folder"]),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_bad_config(model, case, raises_clearly):
    load, folder = model
    edit, cls, what, fix = CONFIG_CASES[case]
    _edit_config(folder, edit)
    raises_clearly(cls, load, folder, what=what, fix=fix)


@pytest.mark.parametrize("raw", [b"", b"{\"format_version\": 1, \"model", b"\xff\xfe{}",
                                 b"[1, 2, 3]", b"null"],
                         ids=["empty", "truncated", "not-utf8", "a-list", "null"])
def test_unreadable_config_json(model, raw, raises_clearly):
    load, folder = model
    (folder / "config.json").write_bytes(raw)
    raises_clearly(ModelLoadError, load, folder, what=["config.json"],
                   fix=[r"re-save"])


def test_missing_config_json(model, raises_clearly):
    load, folder = model
    (folder / "config.json").unlink()
    raises_clearly(ModelLoadError, load, folder, what=["config.json", r"not found"],
                   fix=[r"re-save"])


def test_invalid_config_value(saved_models, tmp_path, raises_clearly):
    folder = tmp_path / "vae"
    shutil.copytree(saved_models["vae"], folder)
    _edit_config(folder, lambda h: h["config"].update(latent_dim=0))
    raises_clearly(ConfigError, VAE.from_pretrained, folder, what=["latent_dim", r">= 1"])


def test_config_value_of_wrong_type(saved_models, tmp_path, raises_clearly):
    folder = tmp_path / "vae"
    shutil.copytree(saved_models["vae"], folder)
    _edit_config(folder, lambda h: h["config"].update(arch=["strided"]))
    raises_clearly(ConfigError, VAE.from_pretrained, folder, what=["arch"])


# --- pickles: refused, never unpickled -----------------------------------------------------------
class _Marker:
    """Unpickling this creates (opens for writing) the marker file: proof it was unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _pickles(marker: Path) -> dict[str, bytes]:
    payload = {"w": _Marker(marker)}
    torch_zip, torch_legacy = io.BytesIO(), io.BytesIO()
    torch.save(payload, torch_zip)  # what a .pt / .bin checkpoint looks like
    torch.save(payload, torch_legacy, _use_new_zipfile_serialization=False)  # older .pt / .bin
    return {
        "pickle-protocol-0": pickle.dumps(payload, protocol=0),
        "pickle-protocol-2": pickle.dumps(payload, protocol=2),
        "pickle-protocol-5": pickle.dumps(payload, protocol=5),
        "torch-save-zip": torch_zip.getvalue(),
        "torch-save-legacy": torch_legacy.getvalue(),
    }


def test_marker_pickles_really_create_the_marker(tmp_path):
    """Control: unpickling these payloads does create the marker, so its absence is proof."""
    for name, data in _pickles(tmp_path / "marker").items():
        marker = tmp_path / "marker"
        if name.startswith("torch-save"):
            torch.load(io.BytesIO(data), weights_only=False)
        else:
            pickle.loads(data)
        assert marker.exists(), name
        marker.unlink()


@pytest.mark.parametrize("kind", ["pickle-protocol-0", "pickle-protocol-2", "pickle-protocol-5",
                                  "torch-save-zip", "torch-save-legacy"])
def test_pickle_as_weights_is_refused_and_never_unpickled(model, kind, tmp_path,
                                                          raises_clearly):
    load, folder = model
    marker = tmp_path / f"UNPICKLED-{kind}"
    (folder / "model.safetensors").write_bytes(_pickles(marker)[kind])
    what = [r"pickle|torch\.save"] if kind != "pickle-protocol-0" else [r"not a valid|pickle"]
    raises_clearly(ModelLoadError, load, folder, what=["model.safetensors", *what],
                   fix=[r"safetensors|re-train|re-download"])
    assert not marker.exists(), "the pickle was unpickled"


@pytest.mark.parametrize("name", ["model.pt", "pytorch_model.bin", "model.pkl"])
def test_pickle_file_passed_as_model_path(model, name, tmp_path, raises_clearly):
    load, folder = model
    marker = tmp_path / "UNPICKLED"
    path = tmp_path / name
    path.write_bytes(_pickles(marker)["torch-save-zip" if name != "model.pkl"
                                      else "pickle-protocol-2"])
    raises_clearly(ModelLoadError, load, path, what=[r"is a file"], fix=[r"folder"])
    assert not marker.exists()


def test_pickle_through_load_tensors(tmp_path, raises_clearly):
    marker = tmp_path / "UNPICKLED"
    path = tmp_path / "weights.safetensors"
    path.write_bytes(_pickles(marker)["pickle-protocol-5"])
    raises_clearly(ModelLoadError, storage.load_tensors, path,
                   what=[r"pickle"], fix=[r"never unpickles|safetensors"])
    assert not marker.exists()


# --- the ranker's own files: vocabulary, answer table, its VAE ---------------------------------
RANKER_FILES = {
    # name: (edit of the folder, what, fix)
    "vocab-missing": (lambda f: (f / "vocab.json").unlink(), ["vocab.json", r"not found"],
                      [r"re-save"]),
    "vocab-truncated": (lambda f: (f / "vocab.json").write_text('{"num_words": 5, "wo'),
                        ["vocab.json", r"not valid"], [r"re-save"]),
    "vocab-incomplete": (lambda f: (f / "vocab.json").write_text('{"num_words": 5}'),
                         ["vocab.json", r"incomplete|malformed"], [r"re-save"]),
    "answers-missing": (lambda f: (f / "answers.json").unlink(), ["answers.json", r"not found"],
                        [r"re-save"]),
    "answers-malformed": (lambda f: (f / "answers.json").write_text("[1, 2]"),
                          ["answers.json", r"malformed"], []),
    "answers-stored-without-drawings": (
        lambda f: (f / "answers.json").write_text(json.dumps(
            {**json.loads((f / "answers.json").read_text()),
             "stored": json.loads((f / "answers.json").read_text())["keys"][:1]})),
        ["answers.json", r"stored", r"stored_answer_images"], [r"re-save"]),
    "vae-folder-missing": (lambda f: shutil.rmtree(f / "vae"), [r"no vae/ folder"],
                           [r"re-save"]),
    "vae-weights-truncated": (lambda f: (f / "vae" / "model.safetensors").write_bytes(
        (f / "vae" / "model.safetensors").read_bytes()[:100]),
        [r"vae", "model.safetensors", r"truncated|corrupt"], [r"re-train|re-download|restore"]),
}


@pytest.mark.parametrize("case", list(RANKER_FILES))
def test_bad_ranker_files(case, saved_models, tmp_path, raises_clearly):
    folder = tmp_path / "ranker"
    shutil.copytree(saved_models["ranker"], folder)
    edit, what, fix = RANKER_FILES[case]
    edit(folder)
    raises_clearly(ModelLoadError, _read_ranker, folder, what=what, fix=fix)


def test_pickle_as_the_rankers_vae_is_never_unpickled(saved_models, tmp_path, raises_clearly):
    folder = tmp_path / "ranker"
    shutil.copytree(saved_models["ranker"], folder)
    marker = tmp_path / "UNPICKLED"
    (folder / "vae" / "model.safetensors").write_bytes(_pickles(marker)["pickle-protocol-5"])
    raises_clearly(ModelLoadError, _read_ranker, folder, what=[r"pickle"])
    assert not marker.exists()


# --- what a written folder looks like ------------------------------------------------------------
def test_write_leaves_no_temporary_files(saved_models, tmp_path):
    folder = tmp_path / "vae"
    model = VAE.from_pretrained(saved_models["vae"], device="cpu")
    model.save_pretrained(folder)
    model.save_pretrained(folder)  # overwrite in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vae"]
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_written_model_is_readable_like_any_file(saved_models, tmp_path):
    folder = tmp_path / "vae"
    VAE.from_pretrained(saved_models["vae"], device="cpu").save_pretrained(folder)
    want_file = 0o666 & ~_umask()
    want_dir = 0o777 & ~_umask()
    assert stat.S_IMODE(folder.stat().st_mode) == want_dir
    for f in folder.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == want_file, f.name
