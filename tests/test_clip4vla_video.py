"""CLIP4VLA video: the synthetic video split, frames into VIDEO, the temporal head, text-video InfoNCE,
t2v / v2t metrics, the export's ``encode_video`` and the real-size video recipes."""

from __future__ import annotations

import dataclasses
import io
import json
import math

import numpy as np
import pytest
import torch
from data_factory import image_bytes, make_transforms
from PIL import Image
from test_clip4vla import _nce

from mlmm.config import DatasetConfig, ModelConfig, RunConfig, TowerConfig, TrainConfig
from mlmm.data.keys import TEXT_IDS, TEXT_MASK, VIDEO
from mlmm.data.pipeline import build_loader
from mlmm.data.writer import ShardSink
from mlmm.losses.trimodal import TriModalLoss
from mlmm.models.build import build_model
from mlmm.models.towers.video import TemporalPool
from mlmm.settings import Clip4VLALoss, Clip4VLASettings, Clip4VLAVideoSettings

VIDEO_MODEL = ModelConfig(
    family="clip4vla",
    clip=TowerConfig(name="tiny-clip"),
    settings=Clip4VLASettings(video=Clip4VLAVideoSettings(pooling="transformer", num_frames=3, heads=2)),
)


@pytest.fixture(scope="module")
def video_corpus(tmp_path_factory):
    from mlmm.data.synthetic import synthesize

    out = tmp_path_factory.mktemp("video")
    manifest = synthesize(out, samples=40, seed=3, video_frames=4, parallel_samples=0, questions_per_sample=0)
    return out, manifest


def _members(shard: str) -> dict[str, dict[str, bytes]]:
    import tarfile

    samples: dict[str, dict[str, bytes]] = {}
    with tarfile.open(shard) as tar:
        for member in tar.getmembers():
            key, ext = member.name.split(".", 1)
            samples.setdefault(key, {})[ext] = tar.extractfile(member).read()
    return samples


def _centre(frame: bytes) -> np.ndarray:
    """(x, y) centroid of the pixels that are not the light background."""
    pixels = np.asarray(Image.open(io.BytesIO(frame)).convert("RGB"), dtype=np.int32)
    ys, xs = np.nonzero(np.abs(pixels - 235).sum(axis=-1) > 120)
    return np.array([xs.mean(), ys.mean()])


def test_synthetic_video_slides_in_the_captioned_direction_with_motion_twins(video_corpus, tmp_path):
    from mlmm.data.synthetic import synthesize
    from mlmm.data.synthetic.grammars import get_grammar
    from mlmm.data.synthetic.video import MOTION_SPAN, MOTIONS

    out, manifest = video_corpus
    assert manifest["video"] == {"frames": 4, "motions": ["down", "left", "right", "up"]}
    samples = _members(str(out / manifest["splits"]["train"]["shards"][0]["path"]))
    metas = {key: json.loads(m["json"]) for key, m in samples.items()}
    twins = 0
    for key, members in samples.items():
        meta = metas[key]
        motion = meta["video"]["motion"]
        assert sorted(m for m in members if m.startswith("frame")) == [f"frame00{t}.jpg" for t in range(4)]
        for lang, captions in meta["captions"].items():  # every language leads with the motion sentence
            assert all(c.startswith(get_grammar(lang).motions[motion]) for c in captions), (key, lang)
        if meta["scene"]["count"] == 1:  # the object moves MOTION_SPAN of the side, along the motion
            shift = _centre(members["frame003.jpg"]) - _centre(members["frame000.jpg"])
            assert shift == pytest.approx(np.array(MOTIONS[motion]) * MOTION_SPAN * 64, abs=3.0), key
        change = meta["hard_negative_change"] or {}
        if change.get("attribute") == "motion":  # the scene before it, in another direction
            before = metas[meta["hard_negative_of"]]
            assert meta["scene"] == before["scene"] and change["from"] == before["video"]["motion"] != motion
            twins += 1
    assert twins >= 2
    again = synthesize(
        tmp_path / "a", samples=40, seed=3, video_frames=4, parallel_samples=0, questions_per_sample=0
    )
    assert again["splits"] == manifest["splits"]  # byte-identical shards (sha256)
    plain = synthesize(tmp_path / "p", samples=40, seed=3, parallel_samples=0, questions_per_sample=0)
    assert "video" not in plain  # video_frames=0: the corpus without video, unchanged
    assert not any(
        k.startswith("frame") for m in _members(str(tmp_path / "p" / "train-000000.tar")).values() for k in m
    )


def test_frames_decode_in_order_into_video(video_corpus):
    from mlmm.data.transforms import build_image_transform

    out, manifest = video_corpus
    shard = str(out / manifest["splits"]["test"]["shards"][0]["path"])
    cfg = DatasetConfig(shards=[shard], languages={"en": 1.0}, modalities=["video", "text"], num_frames=4)
    tf = make_transforms(64, languages=("en",))
    loader = build_loader(cfg, tf, batch_size=2, seed=0, rank=0, world_size=1, loop=False, shuffle=False)
    batch = next(iter(loader))
    assert batch[VIDEO].shape == (2, 4, 3, 64, 64) and batch[VIDEO].dtype == torch.float32
    members = _members(shard)[batch["sample_key"][0]]
    transform = build_image_transform(64)
    for t in range(4):
        expected = transform(Image.open(io.BytesIO(members[f"frame00{t}.jpg"])).convert("RGB"))
        assert torch.equal(batch[VIDEO][0, t], expected), t


def test_corrupt_or_missing_frames_skip_the_sample_and_are_counted(tmp_path):
    good = {f"frame00{t}.png": image_bytes(t) for t in range(3)}
    with ShardSink(tmp_path, "v", max_count=10) as sink:
        caption = {"captions": {"en": ["a clip"]}}
        sink.write({"__key__": "good", **good, "json": caption})
        sink.write({"__key__": "corrupt", **good, "frame001.png": b"not a png", "json": caption})
        sink.write({"__key__": "truncated", **good, "frame002.png": image_bytes(2)[:40], "json": caption})
        sink.write({"__key__": "none", "png": image_bytes(0), "json": caption})
    cfg = DatasetConfig(
        shards=[str(tmp_path / "v-000000.tar")],
        languages={"en": 1.0},
        modalities=["video", "text"],
        num_frames=3,
    )
    tf = make_transforms(languages=("en",))
    loader = build_loader(cfg, tf, batch_size=4, seed=0, rank=0, world_size=1, loop=False, drop_last=False)
    (batch,) = list(loader)
    assert batch["sample_key"] == ["good"]
    assert loader.stats()["skipped"] == {"corrupt_frame": 2, "missing_video": 1}


def test_temporal_pool_mean_middle_mask_and_the_transformer_starts_as_mean():
    torch.manual_seed(0)
    frames = torch.randn(2, 3, 8)
    mask = torch.tensor([[True, True, True], [True, True, False]])
    mean = TemporalPool("mean", 8, 3)(frames, mask)
    assert torch.allclose(mean[0], frames[0].mean(0), atol=1e-6)
    assert torch.allclose(mean[1], (frames[1, 0] + frames[1, 1]) / 2, atol=1e-6)
    middle = TemporalPool("middle", 8, 3)(frames, mask)
    assert torch.equal(middle[0], frames[0, 1]) and torch.equal(middle[1], frames[1, 0])  # (n - 1) // 2
    head = TemporalPool("transformer", 8, 3, layers=1, heads=2)
    assert head(frames, mask).shape == (2, 8)
    assert torch.equal(head(frames, mask), mean)  # zero-initialised residual updates: exactly mean pooling
    with torch.no_grad():
        for p in head.encoder.parameters():
            p.add_(0.3 * torch.randn_like(p))
    out = head(frames, mask)
    assert not torch.allclose(out, mean, atol=1e-3)
    assert not torch.allclose(head(frames.flip(1)), head(frames), atol=1e-3)  # the order matters
    assert torch.allclose(
        TemporalPool("mean", 8, 3)(frames.flip(1)), TemporalPool("mean", 8, 3)(frames), atol=1e-6
    )
    padded = frames.clone()
    padded[1, 2] = 100.0  # what a padded frame holds cannot change the clip
    assert torch.allclose(head(padded, mask), out, atol=1e-6)
    with pytest.raises(ValueError, match="at most 3"):
        head(torch.randn(1, 4, 8))
    with pytest.raises(ValueError, match="pooling"):
        TemporalPool("max", 8, 3)


def test_text_video_term_equals_its_weighted_infonce_by_hand():
    """t = (e1, e2), video = (e1, (e1+e2)/sqrt2), s = 2: NCE = 0.37005 (test_clip4vla's hand check)."""
    r = 1 / math.sqrt(2)
    t, v = np.array([[1, 0], [0, 1.0]]), np.array([[1, 0], [r, r]])
    loss = TriModalLoss({"text_video": 0.5, "text_audio": 1.0})
    emb = {"text": torch.tensor(t, dtype=torch.float32), "video": torch.tensor(v, dtype=torch.float32)}
    result = loss({**emb, "vision": None, "audio": None}, torch.tensor(math.log(2.0)))
    assert set(result.terms) == {"text_video"}
    assert float(result.terms["text_video"]) == pytest.approx(0.37005, abs=1e-4)
    assert float(result.loss) == pytest.approx(0.5 * _nce(t, v, 2.0), rel=1e-6)


def _video_objective(num_frames: int = 3):
    from mlmm.objectives import build_objective

    loss = Clip4VLALoss(
        text_vision_weight=0.0, text_audio_weight=0.0, vision_audio_weight=0.0, text_video_weight=2.0
    )
    data = dataclasses.replace(RunConfig().data, train=DatasetConfig(shards=["x.tar"], num_frames=num_frames))
    cfg = RunConfig(model=VIDEO_MODEL, data=data, train=TrainConfig(objective="clip4vla", loss=loss))
    return build_objective(cfg, build_model(VIDEO_MODEL))


def test_video_objective_reads_video_and_text_only_and_is_the_weighted_nce_of_the_model():
    torch.manual_seed(0)
    objective = _video_objective()
    assert objective.needs == (TEXT_IDS, VIDEO)
    ids = torch.zeros(3, 32, dtype=torch.long)
    for i in range(3):
        ids[i, : 3 + i] = torch.tensor([49406, *range(10 + i, 11 + 2 * i), 49407])
    video = torch.randn(3, 3, 3, 64, 64)
    out = objective({TEXT_IDS: ids, TEXT_MASK: (ids > 0).long(), VIDEO: video})
    model = objective.model
    with torch.no_grad():
        text = model.encode_text(ids).numpy().astype(np.float64)
        clips = model.encode_video(video).numpy().astype(np.float64)
        scale = float(model.clip.logit_scale.exp())
    assert float(out.loss.detach()) == pytest.approx(2.0 * _nce(text, clips, scale), rel=1e-5)
    assert set(out.logs) >= {"loss_text_video", "acc_text_video"}
    out.loss.backward()
    assert model.video.positions.grad is not None  # the temporal head learns (its updates start at zero)
    with pytest.raises(ValueError, match="num_frames"):
        _video_objective(num_frames=4)


class _ColourEncoder:
    """A clip embeds to e_k, k = its first frame's red value / 37 (image_bytes(k)); caption ``ck`` to a hand-set
    row: c0 -> e0, c1 -> (0, .6, .8) (clip 2 first, clip 1 second), c2 -> e2."""

    rows = {"c0": [1, 0, 0], "c1": [0, 0.6, 0.8], "c2": [0, 0, 1]}

    def encode_video(self, clips):
        return torch.eye(3)[[round(c[0].getpixel((0, 0))[0] / 37) for c in clips]]

    def encode_text(self, texts, lang):
        return torch.tensor([self.rows[t] for t in texts])


def test_t2v_and_v2t_metrics_against_hand_computed_ranks(tmp_path):
    from mlmm.config import BenchmarkConfig, EvalConfig
    from mlmm.eval.evaluator import Evaluator

    with ShardSink(tmp_path, "t", max_count=10) as sink:
        for k in range(3):
            frames = {f"frame00{t}.png": image_bytes(k) for t in range(2)}
            sink.write({"__key__": f"clip{k}", **frames, "json": {"captions": {"en": [f"c{k}"]}}})
    bench = BenchmarkConfig(
        name="v", shards=[sink.shards[0].path], languages=["en"], options={"modality": "video"}
    )
    metrics = Evaluator(EvalConfig(benchmarks=[bench])).run(_ColourEncoder())
    # t2v ranks (1, 2, 1); v2t: clip 0 -> c0 (1), clip 1 -> c1 (.6, the only positive score: 1), clip 2 -> c2 (1)
    assert metrics["retrieval/v/en/t2v_r1"] == pytest.approx(200 / 3)
    assert metrics["retrieval/v/en/t2v_r5"] == metrics["retrieval/v/en/t2v_r10"] == 100.0
    assert metrics["retrieval/v/en/v2t_r1"] == 100.0
    assert metrics["retrieval/v/en/t2v_meanr"] == pytest.approx(4 / 3)
    assert not any("t2i" in key or "i2t" in key for key in metrics)


def test_export_round_trips_through_mlmm_load_with_encode_video(tmp_path):
    import mlmm
    from mlmm.models.build import build_transforms
    from mlmm.models.export import export_model
    from mlmm.models.inference import InferenceModel

    torch.manual_seed(0)
    clip_cfg = RunConfig(model=ModelConfig(family="clip", clip=TowerConfig(name="tiny-clip")))
    export_model(build_model(clip_cfg.model), clip_cfg, tmp_path / "clip")
    model_cfg = dataclasses.replace(VIDEO_MODEL, init_from=str(tmp_path / "clip"))
    model = build_model(model_cfg)
    with torch.no_grad():
        for p in model.video.parameters():
            p.add_(0.2 * torch.randn_like(p))
    cfg = RunConfig(model=model_cfg)
    export_model(model, cfg, tmp_path / "c4v")
    loaded = mlmm.load(tmp_path / "c4v")
    clips = [[Image.new("RGB", (64, 64), (40 * t, 200 - 40 * t, 9 * k)) for t in range(5)] for k in range(2)]
    got = loaded.encode_video(clips)
    assert got.shape == (2, 128)
    assert torch.equal(got, InferenceModel(model, build_transforms(cfg)).encode_video(clips))
    assert not torch.allclose(loaded.encode_video([c[::-1] for c in clips]), got, atol=1e-4)
    # an audio-only CLIP4VLA export (no video tensors) starts the temporal head at its initialisation
    plain_cfg = dataclasses.replace(model_cfg, settings=Clip4VLASettings())
    export_model(build_model(plain_cfg), RunConfig(model=plain_cfg), tmp_path / "c4")
    again = build_model(dataclasses.replace(VIDEO_MODEL, init_from=str(tmp_path / "c4")))
    assert torch.count_nonzero(again.video.encoder.layers[0].linear2.weight) == 0


@pytest.mark.parametrize(
    ("recipe", "low", "high", "languages"),
    [
        ("finetune/clip4vla_msrvtt.yaml", 235e6, 260e6, ["en"]),
        ("finetune/clip4vla_vatex.yaml", 235e6, 260e6, ["en"]),
        # + the XLM-R student (278 M); the (unused) audio tower is built too
        ("finetune/clip4vla_msrvtt_multilingual.yaml", 515e6, 540e6, ["en", "de", "fr", "cs", "es", "zh"]),
        ("quickstart/clip4vla_video.yaml", 2e6, 12e6, ["en"]),
        ("quickstart/clip4vla_video_ml.yaml", 2e6, 30e6, ["en", "de", "fr", "es", "zh", "ja"]),  # + student
    ],
)
def test_video_recipes_validate_and_build(tmp_path, recipe, low, high, languages):
    import yaml

    from mlmm.config import PROJECT_ROOT, load_config

    (tmp_path / "x-000000.tar").write_bytes(b"")
    shard = tmp_path / "x-000000.tar"
    benches = yaml.safe_load((PROJECT_ROOT / "recipes" / recipe).read_text())["eval"]["benchmarks"]
    for bench in benches:
        bench["shards"] = [str(shard)]  # the real test shards are not here
    overrides = [
        f"data.train.shards=[{shard}]",
        "model.init_from=null",
        f"eval.benchmarks={json.dumps(benches)}",
    ]
    cfg = load_config(PROJECT_ROOT / "recipes" / recipe, overrides)
    assert cfg.train.objective == "clip4vla" and cfg.train.loss.text_video_weight > 0
    assert (
        "video" in cfg.data.train.modalities
        and cfg.data.train.num_frames == cfg.model.settings.video.num_frames
    )
    bench, *fused = cfg.eval.benchmarks
    assert bench.options["modality"] == "video" and bench.languages == languages
    for other in fused:  # frames and audio track together: only where the recipe trains the audio tower
        assert other.options["modality"] == "fused" and other.options["vision"] == "video"
        assert "audio" in cfg.data.train.modalities and cfg.train.loss.text_audio_weight > 0
        assert other.languages == languages and other.shards == bench.shards
    with torch.device("meta"):
        model = build_model(cfg.model)
    assert low < sum(p.numel() for p in model.parameters()) < high
    assert model.video.pooling == "transformer"
    assert model.video.positions.shape == (cfg.model.settings.video.num_frames, model.embed_dim)


def test_data_shard_manifest_writes_frames_in_order(tmp_path):
    from mlmm.data.converters import shard_from_manifest
    from mlmm.data.pipeline import iter_samples

    clip = tmp_path / "frames" / "v1"
    clip.mkdir(parents=True)
    for t in (10, 2, 1):  # name order: 001, 002, 010
        (clip / f"{t:03d}.png").write_bytes(image_bytes(t))
    (tmp_path / "b.png").write_bytes(image_bytes(7))
    rows = [
        {"key": "v1", "frames": "frames/v1", "captions": {"en": ["one"]}},
        {"key": "v2", "frames": ["b.png", "frames/v1/002.png"], "caption": "two"},
    ]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    shard_from_manifest(tmp_path / "m.jsonl", tmp_path / "out", prefix="test")
    samples = list(iter_samples(sorted(str(p) for p in (tmp_path / "out").glob("test-*.tar"))))
    reds = [[f.getpixel((0, 0))[0] for f in s["frames"]] for s in samples]
    assert reds == [[37, 74, 370 % 256], [7 * 37 % 256, 74]]
    (tmp_path / "bad.jsonl").write_text(
        json.dumps({"key": "x", "frames": ["missing.png"], "caption": "c"}) + "\n"
    )
    with pytest.raises(FileNotFoundError, match="missing.png"):
        shard_from_manifest(tmp_path / "bad.jsonl", tmp_path / "out2")
