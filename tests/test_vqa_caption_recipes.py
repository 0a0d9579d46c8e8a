"""VQA and captioning recipes validate and build (benchmark recipes on the meta device, without weights), and
the quickstart's vqa / caption stages start from the M-CLIP export and are scored by their benchmark."""

from __future__ import annotations

import json

import pytest
import torch
from quickstart_fakes import record_chain

from mlmm.config import PROJECT_ROOT, load_config

RECIPES = PROJECT_ROOT / "recipes"
ARCHITECTURE = {  # what init_from would supply (the exports do not exist here)
    "mclip": [
        "model.clip.name=ViT-B-32",
        'model.towers={"text": {"source": "hf", "name": "xlm-roberta-base"}}',
    ],
    "mlmm": [
        "model.clip.name=ViT-B-32",
        'model.towers={"text": {"source": "hf", "name": "xlm-roberta-base"}}',
    ],
    "clip": ["model.clip.name=ViT-B-32"],
    "synth": ["model.clip.name=tiny-clip", 'model.towers={"text": {"source": "hf", "name": "tiny-xlmr"}}'],
}


def _overrides(tmp_path) -> list[str]:
    shard = tmp_path / "x-000000.tar"
    shard.write_bytes(b"")
    return [f"data.train.shards={json.dumps([str(shard)])}", "eval.benchmarks=[]", "eval.primary=null",
            "model.init_from=null"]  # fmt: skip


@pytest.mark.parametrize(
    ("recipe", "architecture", "answers"),
    [("finetune/vqa_v2.yaml", "mlmm", 3129), ("finetune/vqa_xgqa.yaml", "mclip", 1842),
     ("finetune/vqa_synth.yaml", "synth", None), ("finetune/caption_coco_karpathy.yaml", "clip", 0),
     ("finetune/caption_multi30k_de.yaml", "mclip", 0), ("finetune/caption_cococn_zh.yaml", "mclip", 0),
     ("finetune/caption_synth.yaml", "synth", 0), ("finetune/caption_synth_scst.yaml", "synth", 0)],
)  # fmt: skip
def test_recipes_validate_and_build(tmp_path, recipe, architecture, answers):
    from mlmm.models.build import build_model
    from mlmm.objectives import build_objective

    extra = (
        [f"model.head.settings.answers={json.dumps([f'a{i}' for i in range(answers)])}"] if answers else []
    )
    cfg = load_config(RECIPES / recipe, [*_overrides(tmp_path), *ARCHITECTURE[architecture], *extra])
    with torch.device("meta"):
        objective = build_objective(cfg, build_model(cfg.model))
    head = objective.model.head
    if cfg.model.head.kind == "vqa":
        assert len(head.answers) == (answers or 116) and head.single_stream == (architecture == "mlmm")
        if recipe == "finetune/vqa_synth.yaml":  # conv grid features + the student fine-tuned (README)
            assert head.fusion.grid is not None and not objective.model.frozen_backbone
    else:
        assert head.decoder.output.out_features == (
            49408 if architecture == "clip" else 250002 if architecture == "mclip" else 1024
        )
        assert cfg.eval.primary is None or "captioning" in cfg.eval.primary


@pytest.mark.parametrize(("stage", "task"), [("vqa", "vqa"), ("caption", "captioning")])
def test_quickstart_stages_start_from_mclip_and_score_their_task(tmp_path, stage, task):
    configs, plan, shards = record_chain(tmp_path, ("clip", "mclip", stage), {stage: 7})
    (bench,) = configs[-1].eval.benchmarks
    assert bench.task == task and bench.shards == shards["test"] and len(bench.languages) == 6
    assert configs[-1].model.init_from == str((plan.out / "mclip" / "model").resolve())
    assert configs[-1].train.max_steps == 7 and configs[-1].model.head.kind == (
        "vqa" if task == "vqa" else task
    )
    if task == "vqa":  # the stage's override keeps the recipe's option: German references are capitalised
        from mlmm.quickstart.vqa import NORMALIZE_REFERENCES

        assert bench.options["normalize_references"] is NORMALIZE_REFERENCES is True


def test_quickstart_answer_prior_scores_references_as_the_vqa_stage_does():
    import yaml

    from mlmm.quickstart.vqa import NORMALIZE_REFERENCES, prior_accuracy

    raw = yaml.safe_load((RECIPES / "finetune" / "vqa_synth.yaml").read_text(encoding="utf-8"))
    (bench,) = raw["eval"]["benchmarks"]
    assert bool(bench.get("options", {}).get("normalize_references", False)) is NORMALIZE_REFERENCES is True
    vocab = yaml.safe_load((RECIPES / "finetune" / "include" / "vqa_synth_answers.yaml").read_text("utf-8"))
    answers = vocab["model"]["head"]["settings"]["answer_languages"]
    assert set(answers) == {"en", "de", "fr", "es", "zh", "ja"} and "yes" not in answers["ja"]
    train = [{"lang": "de", "question_type": "shape", "answers": ["Kreis"] * 10}]
    assert prior_accuracy(train, train)["accuracy"] == 100.0  # "kreis" matches the reference "Kreis"
