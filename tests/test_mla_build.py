"""MLA family: build from config / init_from, NLT and LE objectives, optimizer exclusion, export + mlmm.load,
continuing an MLA export with a new language."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from PIL import Image

import mlmm
from mlmm.config import (
    ConfigError,
    ModelConfig,
    OptimConfig,
    RunConfig,
    TokenizerConfig,
    TowerConfig,
    TrainConfig,
    from_dict,
)
from mlmm.data.keys import IMAGE, LANG, PIVOT_IDS, PIVOT_MASK, TEXT_IDS, TEXT_MASK
from mlmm.data.text_corpus import read_corpus
from mlmm.engine.optim import build_optimizer
from mlmm.models.build import build_model, build_transforms
from mlmm.models.export import export_model
from mlmm.models.inference import InferenceModel
from mlmm.models.mla import MLA
from mlmm.objectives import build_objective
from mlmm.settings import ImageTextLoss, MLASettings
from mlmm.text.sentencepiece_train import TokenizerTrainOptions, train_tokenizer

SENTENCES = {
    "en": ["a red cube on a table", "two blue balls", "a small green tree", "the yellow car is fast"],
    "de": [
        "ein roter Würfel auf einem Tisch",
        "zwei blaue Bälle",
        "ein kleiner grüner Baum",
        "das gelbe Auto",
    ],
    "fr": ["un cube rouge sur une table", "deux balles bleues", "un petit arbre vert", "la voiture jaune"],
}
COLOURS = ["red", "blue", "green", "yellow"]


@pytest.fixture(scope="module")
def spm_model(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("tok")
    corpus = folder / "corpus.txt"
    corpus.write_text("\n".join(s for lang in SENTENCES.values() for s in lang) * 3, encoding="utf-8")
    train_tokenizer(
        read_corpus([str(corpus)]),
        folder,
        TokenizerTrainOptions(name="tinytok", vocab_size=60, languages=["en", "de", "fr"]),
    )
    return str(folder / "tinytok.model")


@pytest.fixture(scope="module")
def clip_export(tmp_path_factory) -> str:
    torch.manual_seed(0)
    cfg = RunConfig(model=ModelConfig(family="clip", clip=TowerConfig(name="tiny-clip")))
    return str(export_model(build_model(cfg.model), cfg, tmp_path_factory.mktemp("clip") / "export"))


def mla_cfg(
    spm_model: str, init_from: str | None, languages=("en", "de"), objective="mla_nlt", **extra
) -> RunConfig:
    tok = TokenizerConfig(kind="sentencepiece", name=spm_model, context_length=16)
    model = ModelConfig(
        family="mla", clip=TowerConfig(name="tiny-clip"), towers={"text": TowerConfig(source="none", tokenizer=tok)},
        init_from=init_from, languages=list(languages), settings=MLASettings(**extra),
    )  # fmt: skip
    return RunConfig(
        model=model, train=TrainConfig(objective=objective, optim=OptimConfig(lr=1e-2, warmup_steps=0))
    )


def batch_for(transforms, lang: str) -> dict:
    ids, mask = transforms.tokenizer(SENTENCES[lang], lang)
    pivot_ids, pivot_mask = transforms.pivot_tokenizer(SENTENCES["en"], "en")
    images = [transforms.image(Image.new("RGB", (64, 64), c)) for c in COLOURS]
    return {
        TEXT_IDS: ids, TEXT_MASK: mask, LANG: [lang] * len(ids), PIVOT_IDS: pivot_ids, PIVOT_MASK: pivot_mask,
        IMAGE: torch.stack(images),
    }  # fmt: skip


def train_steps(cfg: RunConfig, model: MLA, lang: str, steps: int = 3) -> dict:
    """A few AdamW steps through the engine's optimizer builder (frozen parameters excluded there)."""
    objective = build_objective(cfg, model).train()
    optimizer = build_optimizer(objective, cfg.train.optim, objective.lr_multipliers())
    batch = batch_for(build_transforms(cfg), lang)
    for _ in range(steps):
        out = objective(batch)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
    return {"optimizer": optimizer, "objective": objective, "logs": out.logs}


def test_frozen_clip_is_absent_from_the_optimizer_and_gets_no_gradient(spm_model, clip_export):
    cfg = mla_cfg(spm_model, clip_export)
    cfg.train.loss.layerwise_mse_weight = 1.0
    cfg.train.loss.text_text_contrastive_weight = 0.5
    model = build_model(cfg.model)
    clip_before = {k: v.clone() for k, v in model.clip.state_dict().items()}
    run = train_steps(cfg, model, "de")
    in_optimizer = {id(p) for group in run["optimizer"].param_groups for p in group["params"]}
    assert not any(id(p) in in_optimizer for p in model.clip.parameters())
    assert all(p.grad is None for p in model.clip.parameters())
    assert set(run["logs"]) == {"loss", "mse", "layerwise_mse", "tt_nce", "cos"}
    for key, value in model.clip.state_dict().items():
        assert torch.equal(value, clip_before[key]), key
    mla_params = {id(p) for p in model.embeddings.parameters()} | {
        id(p) for p in model.acquirers.parameters()
    }
    assert in_optimizer <= mla_params | {id(p) for p in run["objective"].text_text.parameters()}


def test_nlt_lowers_the_mse_and_le_runs_with_a_fixed_temperature(spm_model, clip_export):
    cfg = mla_cfg(spm_model, clip_export)
    model = build_model(cfg.model)
    objective = build_objective(cfg, model)
    batch = batch_for(build_transforms(cfg), "de")
    first = objective(batch).logs["mse"]
    train_steps(cfg, model, "de", steps=20)
    assert objective(batch).logs["mse"] < 0.5 * first
    loss = ImageTextLoss(learn_temperature=False, init_temperature=0.05)  # the loss settings of mla_le
    le = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, objective="mla_le", loss=loss))
    logs = train_steps(le, model, "de", steps=1)["logs"]
    assert set(logs) == {"loss", "it_nce", "logit_scale", "acc"} and logs["logit_scale"] == pytest.approx(
        20.0
    )
    with pytest.raises(TypeError, match="needs model.family=mla"):
        build_objective(le, build_model(ModelConfig(family="clip", clip=TowerConfig(name="tiny-clip"))))
    english = batch_for(build_transforms(cfg), "de") | {LANG: ["en"] * 4}
    with pytest.raises(ValueError, match="remove 'en' from data.train.languages"):
        objective(english)


def test_export_load_round_trip_routes_english_to_clip(spm_model, clip_export, tmp_path):
    cfg = mla_cfg(spm_model, clip_export, languages=("en", "de", "fr"))
    model = build_model(cfg.model)
    train_steps(cfg, model, "de", steps=2)
    out = export_model(model, cfg, tmp_path / "mla")
    loaded = mlmm.load(out)
    assert isinstance(loaded.model, MLA) and loaded.model.languages == ["de", "fr"]
    # Same code path on both sides (InferenceModel: eval, no grad, parameters frozen), so equality is exact
    # by construction on any CPU; the raw model's trainable groups would pick other matmul kernels.
    expected = InferenceModel(model, build_transforms(cfg)).encode_text(SENTENCES["de"], "de")
    assert torch.equal(loaded.encode_text(SENTENCES["de"], "de"), expected)
    clip = mlmm.load(clip_export)
    assert torch.equal(loaded.encode_text(SENTENCES["en"], "en"), clip.encode_text(SENTENCES["en"], "en"))
    image = [Image.new("RGB", (64, 64), "red")]
    assert torch.equal(loaded.encode_image(image), clip.encode_image(image))


def test_adding_a_language_moves_nothing_an_old_language_uses(spm_model, clip_export, tmp_path):
    base_cfg = mla_cfg(
        spm_model, clip_export, languages=("en", "de"), acquirers="shared", embeddings="shared"
    )
    base = build_model(base_cfg.model)
    train_steps(base_cfg, base, "de", steps=2)
    base_dir = export_model(base, base_cfg, tmp_path / "base")

    add_cfg = mla_cfg(spm_model, str(base_dir), languages=("fr",))
    added = build_model(add_cfg.model)
    assert added.languages == ["de", "fr"] and added.settings.own_languages == ["fr"]
    before = {k: v.clone() for k, v in added.state_dict().items()}
    train_steps(add_cfg, added, "fr", steps=3)
    moved = {k for k, v in added.state_dict().items() if not torch.equal(v, before[k])}
    assert moved and all(k.startswith(("embeddings.fr.", "acquirers.fr.")) for k in moved)
    german = [InferenceModel(m, build_transforms(c)).encode_text(SENTENCES["de"], "de")
              for m, c in ((added, add_cfg), (base, base_cfg))]  # fmt: skip
    assert torch.equal(*german)


def test_config_errors_name_the_problem(spm_model, clip_export):
    with pytest.raises(ConfigError, match="'sometimes' is not one of.*chosen by family='mla'"):
        from_dict({"family": "mla", "settings": {"acquirers": "sometimes"}}, "recipe.yaml", ModelConfig)
    with pytest.raises(ConfigError, match="unknown key 'settings.acquirer' in recipe recipe.yaml"):
        from_dict({"family": "mla", "settings": {"acquirer": "shared"}}, "recipe.yaml", ModelConfig)
    cfg = mla_cfg(spm_model, None)
    cfg.model.text.tokenizer.context_length = 64
    with pytest.raises(ConfigError, match="exceeds CLIP's context length 32"):
        build_transforms(cfg)
    no_text = cfg.model.with_tower("text", None)
    with pytest.raises(ConfigError, match="needs model.towers.text"):
        build_model(no_text)
