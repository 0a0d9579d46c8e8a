"""``mlmm mla add-language`` end to end (real shards, DeepSpeed, evaluator), and the MLA recipes.

A tiny English CLIP is first taught 8 solid colours ("a red picture" <-> a red image) by a plain loop; an MLA
model with German on shared groups is exported from it; the CLI then adds French from parallel text (NLT) and
French image-caption pairs (LE). Checked: French retrieves the 8 images far above chance (12.5 %), every
German and CLIP weight in the final export is bit-identical to the base export, and German text features are
unchanged.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import mlmm
from mlmm.config import ModelConfig, RunConfig, TokenizerConfig, TowerConfig, TrainConfig, load_config
from mlmm.data.keys import IMAGE, TEXT_IDS, TEXT_MASK
from mlmm.data.text_corpus import read_corpus
from mlmm.data.writer import ShardSink
from mlmm.models.build import build_model, build_transforms
from mlmm.models.export import export_model
from mlmm.objectives import build_objective
from mlmm.settings import MLASettings
from mlmm.text.sentencepiece_train import TokenizerTrainOptions, train_tokenizer

pytestmark = pytest.mark.slow

COLOURS = {  # PIL colour: (en, de, fr)
    "red": ("red", "rotes", "rouge"),
    "green": ("green", "grünes", "vert"),
    "blue": ("blue", "blaues", "bleu"),
    "yellow": ("yellow", "gelbes", "jaune"),
    "cyan": ("cyan", "türkises", "turquoise"),
    "magenta": ("pink", "rosa", "rose"),
    "white": ("white", "weißes", "blanc"),
    "black": ("black", "schwarzes", "noir"),
}
TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}


def captions(name: str) -> dict[str, list[str]]:
    en, de, fr = COLOURS[name]
    return {"en": [f"a {en} picture"], "de": [f"ein {de} Bild"], "fr": [f"une image {fr}"]}


def png(name: str) -> bytes:
    import io

    buf = io.BytesIO()
    Image.new("RGB", (32, 32), name).save(buf, format="PNG")
    return buf.getvalue()


def write_split(folder: Path, prefix: str, repeats: int, images: bool) -> str:
    with ShardSink(folder, prefix, max_count=10_000) as sink:
        for r in range(repeats):
            for i, name in enumerate(COLOURS):
                sample = {"__key__": f"{prefix}{r:03d}{i:02d}", "json": {"captions": captions(name)}}
                if images:
                    sample["png"] = png(name)
                sink.write(sample)
    return str(folder / f"{prefix}-000000.tar")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """(tmp folder, base MLA export with German, shard specs)."""
    tmp = tmp_path_factory.mktemp("mla_cli")
    corpus = tmp / "corpus.txt"
    corpus.write_text("\n".join(c for n in COLOURS for cs in captions(n).values() for c in cs) * 4, "utf-8")
    train_tokenizer(
        read_corpus([str(corpus)]),
        tmp,
        TokenizerTrainOptions(name="colours", vocab_size=50, languages=["en", "de", "fr"]),
    )
    preset = tmp / "tiny-test-clip.json"
    preset.write_text(json.dumps(TINY_CLIP), encoding="utf-8")
    clip_dir = train_english_clip(tmp, str(preset))
    tok = TokenizerConfig(kind="sentencepiece", name=str(tmp / "colours.model"), context_length=16)
    model_cfg = ModelConfig(
        family="mla", clip=TowerConfig(name=str(preset)), towers={"text": TowerConfig(source="none", tokenizer=tok)},
        init_from=clip_dir, languages=["en", "de"], settings=MLASettings(embeddings="shared", acquirers="shared"),
    )  # fmt: skip
    base = export_model(build_model(model_cfg), RunConfig(model=model_cfg), tmp / "base")
    shards = {
        "parallel": write_split(tmp, "parallel", 16, images=False),
        "train": write_split(tmp, "train", 16, images=True),
        "test": write_split(tmp, "test", 1, images=True),
    }
    return tmp, base, shards


def train_english_clip(tmp: Path, preset: str) -> str:
    """60 Adam steps of the CLIP objective on the 8 colour pairs (English), exported."""
    torch.manual_seed(0)
    cfg = RunConfig(
        model=ModelConfig(family="clip", clip=TowerConfig(name=preset)), train=TrainConfig(objective="clip")
    )
    model = build_model(cfg.model)
    transforms = build_transforms(cfg)
    objective = build_objective(cfg, model).train()
    ids, mask = transforms.tokenizer([captions(n)["en"][0] for n in COLOURS], "en")
    batch = {
        IMAGE: torch.stack([transforms.image(Image.new("RGB", (32, 32), n)) for n in COLOURS]),
        TEXT_IDS: ids,
        TEXT_MASK: mask,
    }
    optimizer = torch.optim.Adam([p for p in objective.parameters() if p.requires_grad], lr=3e-3)
    for _ in range(60):
        loss = objective(batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return str(export_model(model, cfg, tmp / "clip"))


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """The real CLI in a fresh process (DeepSpeed's process group must not leak into the test process)."""
    return subprocess.run(
        [sys.executable, "-m", "mlmm.cli.main", *args], capture_output=True, text=True, timeout=600
    )


def test_add_language_trains_only_the_new_language(world):
    tmp, base, shards = world
    out = tmp / "added"
    steps = ["train.max_steps=25", "train.micro_batch_size=16", "train.save_every=1000",
             "train.optim.warmup_steps=3", "train.optim.lr=0.02", "data.train.shuffle_buffer=50"]  # fmt: skip
    proc = run_cli(
        "mla", "add-language", "--checkpoint", str(base), "--language", "fr", "--parallel", shards["parallel"],
        "--exposure", shards["train"], "--eval", shards["test"], "--out", str(out), *steps,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    chance = 100.0 / len(COLOURS)
    nlt = json.loads((out / "nlt" / "metrics.json").read_text())
    le = json.loads((out / "le" / "metrics.json").read_text())
    assert nlt["retrieval/add_language/fr/t2i_r1"] >= 4 * chance, nlt
    assert le["retrieval/add_language/fr/t2i_r1"] >= 4 * chance, le

    before, after = (
        load_file(str(base / "model.safetensors")),
        load_file(str(out / "model" / "model.safetensors")),
    )
    assert set(after) - set(before) and all(
        k.startswith(("embeddings.fr.", "acquirers.fr.")) for k in set(after) - set(before)
    )
    for key, value in before.items():
        assert torch.equal(after[key], value), f"{key} moved"
    old, new = mlmm.load(base), mlmm.load(out / "model")
    german = [captions(n)["de"][0] for n in COLOURS]
    assert torch.equal(new.encode_text(german, "de"), old.encode_text(german, "de"))
    assert new.model.languages == ["de", "fr"]


def test_add_language_refuses_a_known_language_or_a_clip_export(world, capsys):
    from mlmm.cli.main import main

    tmp, base, shards = world
    common = ["--parallel", shards["parallel"], "--out", str(tmp / "x")]
    assert main(["mla", "add-language", "--checkpoint", str(base), "--language", "de", *common]) == 2
    assert "already supports it" in capsys.readouterr().err
    assert main(["mla", "add-language", "--checkpoint", str(tmp / "clip"), "--language", "fr", *common]) == 2
    assert "is a 'clip' export" in capsys.readouterr().err
    assert main(["mla", "add-language", "--checkpoint", str(tmp), "--language", "fr", *common]) == 2
    assert "is not an exported mlmm model" in capsys.readouterr().err
    assert not (tmp / "x").exists()


def test_real_size_recipes_validate_and_build_without_weights(world):
    tmp, _, shards = world
    root = Path(__file__).resolve().parents[1] / "recipes" / "pretrain"
    bench = [{"name": "m30k", "task": "retrieval", "shards": [shards["test"]], "languages": ["en", "de"]}]
    overrides = [
        f"data.train.shards=[{shards['parallel']}]", f"eval.benchmarks={json.dumps(bench)}",
        "model.init_from=null", "model.clip.pretrained=null", "model.towers.text.pretrained=null",
    ]  # fmt: skip
    nlt = load_config(root / "mla_nlt_vitb32_mbert.yaml", overrides)
    le = load_config(root / "mla_le_vitb32_mbert.yaml", overrides)
    assert le.model == nlt.model, "the LE recipe documents the NLT architecture it continues"
    assert (nlt.train.objective, le.train.objective) == ("mla_nlt", "mla_le")
    model = build_model(nlt.model)
    assert model.clip.clip.transformer.width == 512 and len(model.clip.clip.transformer.resblocks) == 12
    assert model.settings.vocab_size == 119547 and model.settings.word_dim == 768
    assert sorted(model.acquirers) == ["cs", "de", "fr", "ja", "zh"] and list(model.embeddings) == ["shared"]
    trainable, total = model.parameter_counts()
    assert trainable == sum(p.numel() for n, p in model.named_parameters() if not n.startswith("clip."))
    assert 100e6 < trainable < 115e6 and total > 2 * trainable  # 92 M table + 16 M acquirers + map
    for cfg in (nlt, le):
        assert build_objective(cfg, model).model is model
