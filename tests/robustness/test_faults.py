"""Training and saving survive faults: NaN/inf losses, signals, unwritable disks, kill -9.

* A NaN or inf loss stops training with :class:`~emojiqa.errors.TrainingError`; the last good
  model stays loadable and the checkpoint resumes to the same weights as a clean run.
* SIGINT/SIGTERM write a checkpoint; ``--resume`` ends on exactly the weights of an
  uninterrupted run (CPU, fixed seeds) — in-process with real signals, and through the CLI in
  a subprocess (``slow``).
* A read-only or full output folder fails before the first training step.
* ``kill -9`` at any moment of a save never leaves a half-written model or checkpoint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from emojiqa import losses, storage
from emojiqa.datasets import load_airline
from emojiqa.emojis import EmojiSet
from emojiqa.errors import ConfigError, TrainingError
from emojiqa.ranker import EmojiRanker, RankerConfig
from emojiqa.train_ranker import train_ranker
from emojiqa.train_vae import train_vae
from emojiqa.vae import VAE, VAEConfig

VAE_CFG = VAEConfig.named("default", image_size=8, latent_dim=4, filters=(4, 8), batch_size=8,
                          kl_warmup_epochs=0.5)
VAE_EPOCHS = 3
RANKER_CFG = RankerConfig.named("default", text_tower="cnn", num_words=200, max_len=10,
                                conv_channels=8, conv_kernels=(2, 3), ngram_buckets=128,
                                ngram_dim=4, side_dim=8, shared_dims=(8, 6), batch_size=16,
                                epochs=2, patience=0, distill_teachers=0)
QUIET = dict(progress=False, log=lambda _m: None)


# --- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def vae_sets():
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (40, 8, 8, 4), dtype=np.uint8)
    es = EmojiSet([f"k{i}" for i in range(40)], imgs, style="tiny")
    return es.subset(range(32)), es.subset(range(32, 40))


@pytest.fixture(scope="module")
def vae_reference(vae_sets, tmp_path_factory) -> dict[str, torch.Tensor]:
    """Final weights of an uninterrupted tiny VAE run."""
    out = tmp_path_factory.mktemp("vae_ref")
    train_vae(VAE_CFG, *vae_sets, out, epochs=VAE_EPOCHS, images=False, **QUIET)
    return _ckpt_weights(out, "model")


@pytest.fixture(scope="module")
def ranker_data():
    return load_airline("train")[:64], load_airline("val")[:24]


@pytest.fixture(scope="module")
def ranker_vae():
    torch.manual_seed(0)
    return VAE(VAEConfig.named("default", latent_dim=4, filters=(8, 8)))


def _train_ranker(out, data, vae, **kw):
    return train_ranker(kw.pop("config", RANKER_CFG), data[0], data[1], out, vae=vae,
                        glove=False, seed=1, **QUIET, **kw)


@pytest.fixture(scope="module")
def ranker_reference(ranker_data, ranker_vae, tmp_path_factory) -> dict[str, torch.Tensor]:
    out = tmp_path_factory.mktemp("ranker_ref")
    _train_ranker(out, ranker_data, ranker_vae)
    return _ckpt_weights(out, "net")


def _ckpt_weights(out: Path, key: str) -> dict[str, torch.Tensor]:
    return torch.load(out / "checkpoint.pt", weights_only=True)[key]


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    diff = [k for k in a if not torch.equal(a[k], b[k])]
    assert not diff, f"{len(diff)} tensors differ, e.g. {diff[:3]}"


class Poison:
    """Wraps a loss function: from a trigger on, its result is multiplied by ``value``
    (NaN/inf) or the process sends itself ``signal`` once."""

    def __init__(self, real, trigger, value: float | None = None, sig: int | None = None):
        self.real, self.trigger, self.value, self.sig = real, trigger, value, sig
        self.calls = 0
        self.fired = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        out = self.real(*args, **kwargs)
        if self.trigger(self):
            self.fired += 1
            if self.sig is not None:
                if self.fired == 1:
                    os.kill(os.getpid(), self.sig)  # a real signal, handled after this step
            else:
                out = dict(out, total=out["total"] * self.value) if isinstance(out, dict) \
                    else out * self.value
        return out


def _after_first_checkpoint(out: Path):
    return lambda p: (out / "checkpoint.pt").is_file()


# --- NaN / inf in the loss -----------------------------------------------------------------------
BAD_VALUES = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}


@pytest.mark.parametrize("bad", ["nan", *(pytest.param(b, marks=pytest.mark.slow)
                                          for b in ("inf", "-inf"))])
def test_vae_bad_loss_stops_keeps_last_good_model_and_resumes(bad, vae_sets, vae_reference,
                                                              tmp_path, monkeypatch,
                                                              check_error):
    poison = Poison(VAE.loss, _after_first_checkpoint(tmp_path), value=BAD_VALUES[bad])
    monkeypatch.setattr(VAE, "loss", lambda self, *a, **k: poison(self, *a, **k))
    with pytest.raises(TrainingError) as info:
        train_vae(VAE_CFG, *vae_sets, tmp_path, epochs=VAE_EPOCHS, images=False, **QUIET)
    check_error(info.value, TrainingError, what=[r"loss became|non-finite", r"epoch 2"],
                fix=[str(tmp_path / "model"), r"last good model", r"lower the learning rate"])
    # the last good model (epoch 1) is intact and equals the epoch-1 checkpoint
    kept = VAE.from_pretrained(tmp_path / "model", device="cpu")
    _assert_same(kept.state_dict(), _ckpt_weights(tmp_path, "model"))
    assert torch.isfinite(torch.cat([p.flatten() for p in kept.parameters()])).all()
    # the fault gone, --resume ends exactly where an uninterrupted run does
    monkeypatch.undo()
    train_vae(VAE_CFG, *vae_sets, tmp_path, epochs=VAE_EPOCHS, resume=True, images=False,
              **QUIET)
    _assert_same(_ckpt_weights(tmp_path, "model"), vae_reference)


def test_vae_nan_in_validation_only(vae_sets, tmp_path, monkeypatch, check_error):
    real = VAE.loss

    def loss(self, *a, **k):
        out = real(self, *a, **k)
        if not self.training and (tmp_path / "checkpoint.pt").is_file():
            return {**out, **{k2: out[k2] * float("nan") for k2 in ("total", "recon")}}
        return out

    monkeypatch.setattr(VAE, "loss", loss)
    with pytest.raises(TrainingError) as info:
        train_vae(VAE_CFG, *vae_sets, tmp_path, epochs=VAE_EPOCHS, images=False, **QUIET)
    check_error(info.value, TrainingError, what=[r"non-finite", r"epoch 2"],
                fix=[r"last good model"])
    VAE.from_pretrained(tmp_path / "model", device="cpu")


def test_vae_nan_at_first_step_does_not_promise_a_model(vae_sets, tmp_path, monkeypatch):
    poison = Poison(VAE.loss, lambda p: True, value=float("nan"))
    monkeypatch.setattr(VAE, "loss", lambda self, *a, **k: poison(self, *a, **k))
    with pytest.raises(TrainingError) as info:
        train_vae(VAE_CFG, *vae_sets, tmp_path, epochs=VAE_EPOCHS, images=False, **QUIET)
    if "last good model is kept" in str(info.value):
        VAE.from_pretrained(tmp_path / "model", device="cpu")  # the promise must hold


@pytest.mark.parametrize("bad,ema", [("nan", 0.99), ("nan", 0.0),
                                     pytest.param("inf", 0.99, marks=pytest.mark.slow)])
def test_ranker_bad_loss_stops_keeps_last_good_model_and_resumes(
        bad, ema, ranker_data, ranker_vae, tmp_path, monkeypatch, check_error):
    cfg = dataclasses.replace(RANKER_CFG, ema=ema)
    poison = Poison(losses.ranking_loss, _after_first_checkpoint(tmp_path),
                    value=BAD_VALUES[bad])
    monkeypatch.setattr(losses, "ranking_loss", poison)
    with pytest.raises(TrainingError) as info:
        _train_ranker(tmp_path, ranker_data, ranker_vae, config=cfg)
    check_error(info.value, TrainingError, what=[r"NaN/inf", r"epoch 2"],
                fix=[str(tmp_path / "model"), r"last good model", r"lower the learning rate"])
    kept = EmojiRanker.from_pretrained(tmp_path / "model", device="cpu")
    assert np.isfinite(kept.encode_text(["lost my bag"])).all()
    # the checkpoint written at the stop holds the weights before the bad step, and the model
    # kept (with ``ema``, the weights' average at the last epoch's end) as its best
    ck = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert all(bool(torch.isfinite(v).all()) for v in ck["net"].values())
    _assert_same(ck["best_net"], dict(kept.net.state_dict()))
    if not ema:  # the bad step came first in its epoch: the trained weights are the kept ones
        _assert_same(ck["net"], dict(kept.net.state_dict()))
    monkeypatch.undo()
    resumed = _train_ranker(tmp_path, ranker_data, ranker_vae, config=cfg, resume=True)
    assert np.isfinite(resumed.encode_text(["lost my bag"])).all()


# --- signals in-process --------------------------------------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGINT, pytest.param(signal.SIGTERM,
                                                              marks=pytest.mark.slow)],
                         ids=["SIGINT", "SIGTERM"])
def test_vae_signal_checkpoints_and_resume_equals_uninterrupted(sig, vae_sets, vae_reference,
                                                                tmp_path, monkeypatch):
    poison = Poison(VAE.loss, lambda p: (tmp_path / "checkpoint.pt").is_file() and p.calls > 8,
                    sig=sig)
    monkeypatch.setattr(VAE, "loss", lambda self, *a, **k: poison(self, *a, **k))
    with pytest.raises(KeyboardInterrupt):
        train_vae(VAE_CFG, *vae_sets, tmp_path, epochs=VAE_EPOCHS, images=False, **QUIET)
    meta = torch.load(tmp_path / "checkpoint.pt", weights_only=True)["meta"]
    assert meta["epoch"] == 1 and meta["step"] >= 1, "checkpoint not written mid-epoch"
    assert signal.getsignal(sig) is not None  # handlers restored
    monkeypatch.undo()
    train_vae(VAE_CFG, *vae_sets, tmp_path, epochs=VAE_EPOCHS, resume=True, images=False,
              **QUIET)
    _assert_same(_ckpt_weights(tmp_path, "model"), vae_reference)


@pytest.mark.parametrize("sig", [pytest.param(signal.SIGINT, marks=pytest.mark.slow),
                                 signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ranker_signal_checkpoints_and_resume_equals_uninterrupted(
        sig, ranker_data, ranker_vae, ranker_reference, tmp_path, monkeypatch):
    poison = Poison(losses.ranking_loss, _after_first_checkpoint(tmp_path), sig=sig)
    monkeypatch.setattr(losses, "ranking_loss", poison)
    with pytest.raises(KeyboardInterrupt):
        _train_ranker(tmp_path, ranker_data, ranker_vae)
    monkeypatch.undo()
    _train_ranker(tmp_path, ranker_data, ranker_vae, resume=True)
    _assert_same(_ckpt_weights(tmp_path, "net"), ranker_reference)


def test_vae_resume_from_corrupt_checkpoint(vae_sets, tmp_path, check_error):
    train_vae(VAE_CFG, *vae_sets, tmp_path, epochs=1, images=False, **QUIET)
    ckpt = tmp_path / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    with pytest.raises(TrainingError) as info:
        train_vae(VAE_CFG, *vae_sets, tmp_path, epochs=2, resume=True, images=False, **QUIET)
    check_error(info.value, TrainingError, what=[r"cannot resume", "checkpoint.pt", r"corrupt"],
                fix=[r"delete it"])


def test_ranker_resume_from_corrupt_checkpoint(ranker_data, ranker_vae, tmp_path, check_error):
    buf = io.BytesIO()
    torch.save({"net": {"w": torch.zeros(1000)}}, buf)
    (tmp_path / "checkpoint.pt").write_bytes(buf.getvalue()[:1000])  # truncated
    with pytest.raises(Exception) as info:
        _train_ranker(tmp_path, ranker_data, ranker_vae, epochs=2, resume=True)
    check_error(info.value, TrainingError, what=["checkpoint.pt"], fix=[r"delete|--out"])


# --- unwritable or full output folder: fail before the first step --------------------------------
@contextlib.contextmanager
def _read_only(folder: Path, monkeypatch):
    """Make ``folder`` read-only: chmod for users, chattr +i for root.

    Where neither works (root on a file system without the immutable flag, e.g. tmpfs), the
    storage layer's probe file is refused with EACCES instead, as a read-only folder would.
    """
    folder.mkdir(parents=True, exist_ok=True)
    undo = None
    if os.geteuid() != 0:
        folder.chmod(0o555)
        undo = ["chmod", "755", str(folder)]
    elif shutil.which("chattr") and subprocess.run(
            ["chattr", "+i", str(folder)], capture_output=True).returncode == 0:
        undo = ["chattr", "-i", str(folder)]
    try:
        if undo is not None:
            with pytest.raises(OSError):
                (folder / "probe").write_text("x")
        else:
            real = storage.tempfile.mkstemp

            def refuse(*a, dir=None, **k):
                if dir is not None and Path(dir).resolve().is_relative_to(folder.resolve()):
                    raise PermissionError(13, "Permission denied", str(dir))
                return real(*a, dir=dir, **k)

            monkeypatch.setattr(storage.tempfile, "mkstemp", refuse)
            real_mkdir = Path.mkdir

            def mkdir(self, *a, **k):
                if self.resolve().is_relative_to(folder.resolve()) and self != folder:
                    raise PermissionError(13, "Permission denied", str(self))
                return real_mkdir(self, *a, **k)

            monkeypatch.setattr(Path, "mkdir", mkdir)
        yield folder
    finally:
        if undo is not None:
            subprocess.run(undo, check=False, capture_output=True)


def _forbid(monkeypatch, *targets):
    def boom(*_a, **_k):
        raise AssertionError("training started although the output folder is unusable")

    for obj, name in targets:
        monkeypatch.setattr(obj, name, boom)


@pytest.mark.parametrize("what", ["vae", "ranker"])
@pytest.mark.parametrize("place", ["folder-itself", "sub-folder"])
def test_read_only_output_fails_before_training(what, place, vae_sets, ranker_data,
                                                ranker_vae, tmp_path, monkeypatch,
                                                check_error):
    with _read_only(tmp_path / "ro", monkeypatch) as ro:
        out = ro if place == "folder-itself" else ro / "run"
        _forbid(monkeypatch, (VAE, "loss"), (losses, "ranking_loss"))
        t0 = time.perf_counter()
        with pytest.raises(TrainingError) as info:
            if what == "vae":
                train_vae(VAE_CFG, *vae_sets, out, epochs=1, images=False, **QUIET)
            else:
                _train_ranker(out, ranker_data, ranker_vae, epochs=1)
        assert time.perf_counter() - t0 < 30
        check_error(info.value, TrainingError, what=[r"cannot write", str(out)],
                    fix=[r"writable folder|permissions"])
        assert sorted(os.listdir(ro)) == []


@pytest.mark.parametrize("what", ["vae", "ranker"])
def test_full_disk_fails_before_training(what, vae_sets, ranker_data, ranker_vae, tmp_path,
                                         monkeypatch, check_error):
    real = shutil.disk_usage
    monkeypatch.setattr(storage.shutil, "disk_usage",
                        lambda p: real(p)._replace(free=3 * 2**20))
    _forbid(monkeypatch, (VAE, "loss"), (losses, "ranking_loss"))
    with pytest.raises(TrainingError) as info:
        if what == "vae":
            train_vae(VAE_CFG, *vae_sets, tmp_path / "o", epochs=1, images=False, **QUIET)
        else:
            _train_ranker(tmp_path / "o", ranker_data, ranker_vae, epochs=1)
    check_error(info.value, TrainingError, what=[r"only 3 MB free"], fix=[r"free some space"])


def test_output_path_under_a_file(vae_sets, tmp_path, check_error):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(TrainingError) as info:
        train_vae(VAE_CFG, *vae_sets, blocker / "out", epochs=1, images=False, **QUIET)
    check_error(info.value, TrainingError, what=[r"cannot write"], fix=[r"--out"])


def test_saving_never_deletes_what_is_not_a_model(vae_sets, ranker_vae, ranker_data, tmp_path,
                                                  monkeypatch, check_error):
    """A model is saved over nothing, an empty folder or another model, never over a user's
    file or folder of other things (it would be deleted); training says so before it starts."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "main.py").write_text("print('mine')\n")
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    for target in (project, notes):
        with pytest.raises(ConfigError) as info:
            ranker_vae.save_pretrained(target)
        check_error(info.value, ConfigError, what=[str(target)],
                    fix=[r"pass a new (or empty )?folder"])
    assert (project / "main.py").read_text() == "print('mine')\n" and notes.read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "project"]
    ranker_vae.save_pretrained(tmp_path / "empty")  # a new folder, then a model: both fine
    ranker_vae.save_pretrained(tmp_path / "empty")
    # a run folder whose model/ holds other things: refused before any training step
    (tmp_path / "run" / "model").mkdir(parents=True)
    (tmp_path / "run" / "model" / "keep.txt").write_text("mine")
    _forbid(monkeypatch, (VAE, "loss"), (losses, "ranking_loss"))
    for train in (lambda: train_vae(VAE_CFG, *vae_sets, tmp_path / "run", epochs=1,
                                    images=False, **QUIET),
                  lambda: _train_ranker(tmp_path / "run", ranker_data, ranker_vae, epochs=1)):
        with pytest.raises(ConfigError, match="not a model folder"):
            train()
    assert (tmp_path / "run" / "model" / "keep.txt").read_text() == "mine"


# --- kill -9 during saves ------------------------------------------------------------------------
CHILD_PRELUDE = textwrap.dedent("""
    import dataclasses, os, signal, sys, torch
    from emojiqa import storage

    @dataclasses.dataclass(frozen=True)
    class Cfg:
        version: int = 0

    N = 1_000_000  # 4 MB of weights: a save takes a while
""")


@dataclasses.dataclass(frozen=True)
class Cfg:
    version: int = 0


def _child(script: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD_PRELUDE + textwrap.dedent(script),
                             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})


def _check_model(folder: Path) -> int:
    cfg, tensors = storage.read_model_folder(folder, model_type="t", config_cls=Cfg)
    w = tensors["w"]
    assert w.numel() == 1_000_000 and bool((w == cfg.version).all()), "half-written model"
    return cfg.version


SAVE_LOOP = """
    folder = sys.argv[1]
    v = int(sys.argv[2])
    while True:
        v += 1
        storage.write_model_folder(folder, model_type="t", config=Cfg(v),
                                   tensors={"w": torch.full((N,), float(v))})
        print(v, flush=True)
"""


@pytest.mark.parametrize("n_kills", [2, pytest.param(12, marks=pytest.mark.slow)])
def test_kill_9_during_model_saves_never_leaves_a_half_written_model(n_kills, tmp_path):
    folder = tmp_path / "model"
    storage.write_model_folder(folder, model_type="t", config=Cfg(0),
                               tensors={"w": torch.zeros(1_000_000)})
    rng = np.random.default_rng(0)
    version, kills = 0, 0
    for _ in range(n_kills):
        child = _child(SAVE_LOOP, str(folder), str(version))
        child.stdout.readline()  # at least one save completed in this child
        time.sleep(float(rng.uniform(0.0, 0.15)))
        child.send_signal(signal.SIGKILL)
        child.wait()
        kills += 1
        # killed between the two renames, the folder is missing and the loader finds the
        # previous one aside; in every case the model read back is complete
        new_version = _check_model(folder)
        assert new_version >= version
        version = new_version
    assert kills == n_kills and version >= n_kills


@pytest.mark.parametrize("fault", ["ctrl-c", "kill-9"])
def test_interrupted_swap_keeps_the_old_model(fault, tmp_path):
    """The worst moment: between moving the old folder aside and moving the new one in."""
    folder = tmp_path / "model"
    storage.write_model_folder(folder, model_type="t", config=Cfg(1),
                               tensors={"w": torch.ones(1_000_000)})
    if fault == "kill-9":
        child = _child("""
            real = os.replace
            def replace(src, dst):
                if os.path.basename(str(dst)) == "model" and ".tmp" in str(src):
                    os.kill(os.getpid(), signal.SIGKILL)  # between the two replaces
                return real(src, dst)
            storage.os.replace = replace
            storage.write_model_folder(sys.argv[1], model_type="t", config=Cfg(2),
                                       tensors={"w": torch.full((N,), 2.0)})
        """, str(folder))
        child.wait(timeout=120)
        assert child.returncode == -signal.SIGKILL
    else:
        real = os.replace

        def replace(src, dst):
            if Path(dst) == folder and ".tmp" in str(src):
                raise KeyboardInterrupt
            return real(src, dst)

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(storage.os, "replace", replace)
            with pytest.raises(KeyboardInterrupt):
                storage.write_model_folder(folder, model_type="t", config=Cfg(2),
                                           tensors={"w": torch.full((1_000_000,), 2.0)})
    assert _check_model(folder) in (1, 2)


BYTES_LOOP = """
    path = sys.argv[1]
    v = 0
    while True:
        v = v % 250 + 1
        storage.atomic_write_bytes(path, bytes([v]) * (8 * 2**20))
        print(v, flush=True)
"""


@pytest.mark.parametrize("n_kills", [2, pytest.param(12, marks=pytest.mark.slow)])
def test_kill_9_during_checkpoint_writes_never_leaves_a_partial_file(n_kills, tmp_path):
    path = tmp_path / "checkpoint.pt"
    rng = np.random.default_rng(1)
    for _ in range(n_kills):
        child = _child(BYTES_LOOP, str(path))
        child.stdout.readline()
        time.sleep(float(rng.uniform(0.0, 0.2)))
        child.send_signal(signal.SIGKILL)
        child.wait()
        data = path.read_bytes()
        assert len(data) == 8 * 2**20 and data.count(data[:1]) == len(data), "partial file"
    # leftovers are hidden temporary files, never the checkpoint name itself
    assert all(p.name.startswith(".checkpoint.pt.") for p in tmp_path.iterdir()
               if p.name != "checkpoint.pt")


# --- the CLI in a subprocess, interrupted by a real signal ----------------------------------------
def _cli(out: Path, images: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "emojiqa", "train-vae", "--style", str(images), "--epochs", "3",
           "--out", str(out), "--threads", "1", "--no-progress", "--seed", "3", *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"})


@pytest.fixture(scope="module")
def cli_images(tmp_path_factory) -> Path:
    from PIL import Image

    folder = tmp_path_factory.mktemp("cli_images")
    rng = np.random.default_rng(0)
    for i in range(100):
        Image.fromarray(rng.integers(0, 256, (36, 36, 4), dtype=np.uint8), "RGBA").save(
            folder / f"e{i:03d}.png")
    return folder


@pytest.fixture(scope="module")
def cli_reference(cli_images, tmp_path_factory) -> dict[str, torch.Tensor]:
    out = tmp_path_factory.mktemp("cli_ref")
    proc = _cli(out, cli_images)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return storage.load_tensors(out / "model" / "model.safetensors")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_cli_train_vae_signal_then_resume(sig, cli_images, cli_reference, tmp_path):
    out = tmp_path / "run"
    proc = _cli(out, cli_images)
    deadline = time.monotonic() + 300
    while not (out / "checkpoint.pt").is_file():  # after the first epoch
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130, (proc.returncode, stderr)
    assert "checkpoint written" in stdout + stderr and "--resume" in stdout + stderr
    assert "Traceback" not in stderr
    meta = torch.load(out / "checkpoint.pt", weights_only=True)["meta"]
    assert meta["epoch"] < 3
    proc = _cli(out, cli_images, "--resume")
    _, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    _assert_same(storage.load_tensors(out / "model" / "model.safetensors"), cli_reference)
