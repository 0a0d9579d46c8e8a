"""M-CLIP: frozen teacher, student tower, teacher-learning objective, init_from, export round trip, HF errors."""

from __future__ import annotations

import json
import math

import pytest
import torch
from PIL import Image

import mlmm
from mlmm.config import ModelConfig, RunConfig, TokenizerConfig, TowerConfig, TrainConfig
from mlmm.data.keys import IMAGE, PIVOT_IDS, PIVOT_MASK, TEXT_IDS, TEXT_MASK
from mlmm.data.text_corpus import read_corpus
from mlmm.models.build import build_model, build_transforms
from mlmm.models.export import export_model
from mlmm.models.inference import InferenceModel
from mlmm.objectives import build_objective
from mlmm.text.sentencepiece_train import TokenizerTrainOptions, train_tokenizer

SENTENCES = {
    "en": ["a red cube on a table", "two blue balls", "a small green tree", "the yellow car is fast"],
    "de": [
        "ein roter Würfel auf einem Tisch",
        "zwei blaue Bälle",
        "ein kleiner grüner Baum",
        "das gelbe Auto",
    ],
}


@pytest.fixture(scope="module")
def spm_model(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("tok")
    corpus = folder / "corpus.txt"
    corpus.write_text("\n".join(s for lang in SENTENCES.values() for s in lang) * 3, encoding="utf-8")
    options = TokenizerTrainOptions(name="tinytok", vocab_size=50, languages=["en", "de"])
    train_tokenizer(read_corpus([str(corpus)]), folder, options)
    return str(folder / "tinytok.model")


@pytest.fixture(scope="module")
def clip_export(tmp_path_factory) -> str:
    torch.manual_seed(0)
    cfg = RunConfig(model=ModelConfig(family="clip", clip=TowerConfig(name="tiny-clip")))
    return str(export_model(build_model(cfg.model), cfg, tmp_path_factory.mktemp("clip") / "export"))


def mclip_cfg(spm_model: str, clip_export: str | None = None, **loss) -> RunConfig:
    tok = TokenizerConfig(kind="sentencepiece", name=spm_model, context_length=16)
    text = TowerConfig(source="hf", name="tiny-xlmr", tokenizer=tok)
    clip = TowerConfig(name="tiny-clip")  # replaced by the exported CLIP's towers when init_from is set
    model = ModelConfig(
        family="mclip", clip=clip, towers={"text": text}, init_from=clip_export, languages=["en", "de"]
    )
    cfg = RunConfig(model=model, train=TrainConfig(objective="mclip"))
    for key, value in loss.items():
        setattr(cfg.train.loss, key, value)
    return cfg


def mclip_batch(transforms, lang: str = "de", with_image: bool = False) -> dict:
    ids, mask = transforms.tokenizer(SENTENCES[lang], lang)
    pivot_ids, pivot_mask = transforms.pivot_tokenizer(SENTENCES["en"], "en")
    batch = {TEXT_IDS: ids, TEXT_MASK: mask, PIVOT_IDS: pivot_ids, PIVOT_MASK: pivot_mask}
    if with_image:
        batch[IMAGE] = torch.stack(
            [transforms.image(Image.new("RGB", (64, 64), c)) for c in "red blue green yellow".split()]
        )
    return batch


def test_teacher_is_frozen_in_eval_mode_and_outside_the_trainable_set(spm_model):
    cfg = mclip_cfg(spm_model)
    model = build_model(cfg.model)
    objective = build_objective(cfg, model).train()
    assert not any(p.requires_grad for p in model.teacher.parameters())
    assert not model.teacher.training and model.student.training
    trainable = [n for n, p in objective.named_parameters() if p.requires_grad]
    assert trainable and all(n.startswith("model.student.") for n in trainable)
    assert objective.lr_multipliers() == {"model.student.": 1.0}
    out = objective(mclip_batch(build_transforms(cfg)))
    out.loss.backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    assert model.student.proj.weight.grad is not None
    assert set(out.logs) == {"loss", "mse", "cos"} and out.logs["loss"] == pytest.approx(out.logs["mse"])


def test_all_loss_terms_train_the_student(spm_model):
    cfg = mclip_cfg(
        spm_model,
        layerwise_mse_weight=0.5,
        text_text_contrastive_weight=0.1,
        image_text_contrastive_weight=0.1,
    )
    torch.manual_seed(0)
    model = build_model(cfg.model)
    objective = build_objective(cfg, model)
    batch = mclip_batch(build_transforms(cfg), with_image=True)
    # layer-wise maps + two owned temperatures are loss parameters, trained with the student
    assert {n.split(".")[0] for n, p in objective.named_parameters() if p.requires_grad} == {
        "model", "layerwise", "text_text", "image_text"
    }  # fmt: skip
    optimizer = torch.optim.Adam([p for p in objective.parameters() if p.requires_grad], lr=3e-3)
    first = None
    for _ in range(15):
        out = objective(batch)
        first = first or out.logs
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
    assert set(first) == {"loss", "mse", "layerwise_mse", "tt_nce", "it_nce", "cos"}
    assert out.logs["mse"] < 0.5 * first["mse"] and out.logs["cos"] > first["cos"]


def test_init_from_exported_clip_then_export_and_load_round_trip(spm_model, clip_export, tmp_path):
    cfg = mclip_cfg(spm_model, clip_export)
    cfg.model.clip = TowerConfig(name="ViT-B-32")  # ignored: the exported CLIP's towers are used
    model = build_model(cfg.model)
    teacher_ref = mlmm.load(clip_export).model
    for (name, got), (_, want) in zip(model.teacher.state_dict().items(), teacher_ref.state_dict().items()):
        assert torch.equal(got, want), name
    out = export_model(model, cfg, tmp_path / "mclip")
    saved = (out / "mlmm_config.yaml").read_text(encoding="utf-8")
    assert "init_from: null" in saved and "name: tiny-clip" in saved
    identities = json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))
    assert (
        identities["tokenizer"]["kind"] == "sentencepiece"
        and identities["pivot_tokenizer"]["kind"] == "open_clip"
    )
    loaded = mlmm.load(out)
    want = InferenceModel(model, build_transforms(cfg)).encode_text(SENTENCES["de"], lang="de")
    assert torch.equal(loaded.encode_text(SENTENCES["de"], lang="de"), want)
    image = [Image.new("RGB", (64, 64), "red")]
    assert torch.equal(loaded.encode_image(image), mlmm.load(clip_export).encode_image(image))


def test_student_from_local_hf_directory_and_offline_hub_name(spm_model, tmp_path, monkeypatch):
    cfg = mclip_cfg(spm_model)
    model = build_model(cfg.model)
    model.student.encoder.save_pretrained(tmp_path / "xlmr")
    cfg.model.text.name = str(tmp_path / "xlmr")  # architecture from a local transformers folder...
    cfg.model.text.pretrained = str(tmp_path / "xlmr")  # ... and its weights, as an explicit step
    again = build_model(cfg.model)
    for (name, got), (_, want) in zip(
        again.student.encoder.state_dict().items(), model.student.encoder.state_dict().items()
    ):
        assert torch.equal(got, want), name
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg.model.text.name, cfg.model.text.pretrained = "xlm-roberta-large", None
    with pytest.raises(OSError, match=r"'xlm-roberta-large' from the Hugging Face hub.*pass the local path"):
        build_model(cfg.model)


def test_tokenizer_must_fit_the_student_vocabulary_and_padding(spm_model, tmp_path):
    preset = json.loads((mlmm_preset_dir() / "tiny-xlmr.json").read_text(encoding="utf-8"))
    for field, value, message in (
        ("vocab_size", 40, "has 50 ids but .* embeds only 40"),
        ("pad_token_id", 1, "has pad_token_id 1"),
    ):
        bad = json.loads(json.dumps(preset))
        bad["hf_config"][field] = value
        path = tmp_path / f"bad-{field}.json"
        path.write_text(json.dumps(bad), encoding="utf-8")
        cfg = mclip_cfg(spm_model)
        cfg.model.text.name = str(path)
        with pytest.raises(ValueError, match=message):
            build_transforms(cfg)
    cfg = mclip_cfg(spm_model)
    cfg.model.towers.pop("text")
    with pytest.raises(ValueError, match="needs model.towers.text"):
        build_model(cfg.model)


def mlmm_preset_dir():
    from mlmm.models.towers.openclip import PRESET_DIR

    return PRESET_DIR


def test_real_size_vit_b32_xlmr_base_builds_from_config_only():
    """ViT-B-32 + xlm-roberta-base (429M parameters) constructed on the meta device: the whole build path runs
    (presets, open_clip/transformers constructors, projection to 512) without allocating or downloading."""
    cfg = ModelConfig(
        family="mclip",
        clip=TowerConfig(name="ViT-B-32"),
        towers={"text": TowerConfig(source="hf", name="xlm-roberta-base")},
    )
    with torch.device("meta"):
        model = build_model(cfg)
        # (transformers' attention-mask helper reads a value, impossible on meta: run the teacher's towers)
        text = model.teacher.encode_text(torch.ones(2, 77, dtype=torch.long))
        image = model.encode_image(torch.zeros(2, 3, 224, 224))
    assert text.shape == image.shape == (2, 512) and model.student.proj.out_features == 512
    teacher = sum(p.numel() for p in model.teacher.parameters())
    student = sum(p.numel() for p in model.student.parameters())
    assert math.isclose(teacher, 151_277_313) and student == 277_453_056 + 768 * 512 + 512
    assert model.student.encoder.config.vocab_size == 250_002 and model.student.num_layers == 12


def test_tiny_xlmr_preset_matches_the_shipped_tokenizer():
    """The quickstart student: tiny-xlmr's vocabulary and padding are those of tokenizers/mlmm-synth-6l-cjk."""
    cfg = RunConfig(
        model=ModelConfig(
            family="mclip",
            clip=TowerConfig(name="tiny-clip"),
            towers={"text": TowerConfig(source="hf", name="tiny-xlmr")},
        )
    )
    transforms = build_transforms(cfg)
    assert (
        transforms.tokenizer.identity["name"] == "mlmm-synth-6l-cjk"
        and transforms.tokenizer.context_length == 48
    )
    preset = json.loads((mlmm_preset_dir() / "tiny-xlmr.json").read_text(encoding="utf-8"))["hf_config"]
    assert transforms.tokenizer.vocab_size == preset["vocab_size"]
    assert transforms.tokenizer.pad_id == preset["pad_token_id"]
    assert (
        transforms.pivot_tokenizer.identity["kind"] == "open_clip"
        and transforms.pivot_tokenizer.context_length == 32
    )
    ids, mask = transforms.tokenizer(["ein roter Würfel", "一个红色的立方体"], "de")
    assert ids.shape == (2, 48) and int(ids.max()) < preset["vocab_size"]
