"""Tokenizer speed: captions/s of each tokenizer kind on synthetic captions, per language (prints a table).

    python benchmarks/tokenizer_speed.py [--samples 200] [--batch-size 256] [--context-length 32] [--repeats 3]

Captions come from ``mlmm.data.synthetic.synthesize`` (train split, captions only). Rows: the shipped
sentencepiece model through mlmm's ``SentencePieceTokenizer`` (``<s> <2xx> ... </s>`` + padding), the same model
as a transformers fast tokenizer (``hf_tokenizer()``, padding/truncation to the context), and open_clip's CLIP
BPE (``ViT-B-32``, no language tags). Each cell is the best of ``--repeats`` passes over all captions of that
language in batches of ``--batch-size``; the tokens column is the mean unpadded length (specials included).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable

import torch

LANGUAGES = ("en", "de", "fr", "es", "zh", "ja")


def _captions(samples: int) -> dict[str, list[str]]:
    from mlmm.data.synthetic import synthesize
    from mlmm.data.text_corpus import read_corpus

    with tempfile.TemporaryDirectory() as tmp:
        synthesize(tmp, samples, LANGUAGES, seed=0, parallel_samples=0, shard_size=samples)
        shard = f"{tmp}/train-000000.tar"
        return {lang: read_corpus([shard], [lang], include_qa=False).sentences for lang in LANGUAGES}


def _best_rate(
    encode: Callable[[list[str], str], torch.Tensor], texts: list[str], lang: str, batch: int, repeats: int
):
    best, mask_sum = float("inf"), 0
    for _ in range(repeats):
        start, mask_sum = time.perf_counter(), 0
        for i in range(0, len(texts), batch):
            mask_sum += int(encode(texts[i : i + batch], lang).sum())
        best = min(best, time.perf_counter() - start)
    return len(texts) / best, mask_sum / len(texts)


def _encoders(context_length: int) -> dict[str, Callable[[list[str], str], torch.Tensor]]:
    """name -> f(texts, lang) returning the attention mask [B, L] (so every encoder does the full job)."""
    from mlmm.config import TokenizerConfig
    from mlmm.text import build_tokenizer

    spm_tok = build_tokenizer(TokenizerConfig("sentencepiece", "mlmm-synth-6l-cjk", context_length))
    hf = spm_tok.hf_tokenizer()
    clip = build_tokenizer(TokenizerConfig("open_clip", "ViT-B-32", context_length))

    def hf_encode(texts: list[str], lang: str) -> torch.Tensor:
        tagged = [f"<2{lang}>{t}" for t in texts]
        out = hf(
            tagged, padding="max_length", truncation=True, max_length=context_length, return_tensors="pt"
        )
        return out["attention_mask"]

    return {
        "sentencepiece (mlmm)": lambda texts, lang: spm_tok(texts, lang)[1],
        "hf fast (same model)": hf_encode,
        "open_clip ViT-B-32": lambda texts, lang: clip(texts)[1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200, help="synthetic samples (80%% go to train)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--context-length", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    captions = _captions(args.samples)
    print(
        f"captions per language: {len(captions['en'])}; batch {args.batch_size}; context {args.context_length}"
    )
    print(f"{'tokenizer':22s} {'lang':4s} {'captions/s':>11s} {'tokens':>7s}")
    for name, encode in _encoders(args.context_length).items():
        for lang in LANGUAGES:
            rate, tokens = _best_rate(encode, captions[lang], lang, args.batch_size, args.repeats)
            print(f"{name:22s} {lang:4s} {rate:11.0f} {tokens:7.1f}")


if __name__ == "__main__":
    main()
