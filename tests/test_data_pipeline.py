"""The loader: batch contents, node/worker split, determinism, exact resume, resampling, languages."""

from __future__ import annotations

import json
import logging
import random

import pytest
import torch
from data_factory import FakeTokenizer, make_transforms, spec_for, write_shards

from mlmm.config import DatasetConfig
from mlmm.data import batching, keys
from mlmm.data.batching import choose_caption
from mlmm.data.pipeline import build_loader
from mlmm.data.writer import ShardSink


def _cfg(spec, **kw) -> DatasetConfig:
    base = dict(
        shards=[spec], languages={"en": 1.0, "de": 1.0}, modalities=["image", "text"], shuffle_buffer=8
    )
    base.update(kw)
    return DatasetConfig(**base)


def _take(loader, n: int) -> list[dict]:
    out = []
    for batch in loader:
        out.append(batch)
        if len(out) == n:
            break
    return out


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """8 shards x 3 samples = 24 samples (keys s00000..s00023)."""
    return spec_for(write_shards(tmp_path_factory.mktemp("shards"), 24, 3))


def test_batch_contents_match_hand_computed_values(shards):
    cfg = _cfg(shards, modalities=["image", "text", "labels"], shuffle_buffer=0)
    tf = make_transforms()
    batch = next(iter(build_loader(cfg, tf, batch_size=4, seed=0, shuffle=False)))
    assert batch[keys.SAMPLE_KEY] == ["s00000", "s00001", "s00002", "s00003"]
    assert batch[keys.IMAGE].shape == (4, 3, 8, 8) and batch[keys.IMAGE].dtype == torch.float32
    # sample 1 is a solid (37, 91, 53) image: open_clip's normalisation of the red channel
    assert batch[keys.IMAGE][1, 0, 3, 3].item() == pytest.approx(
        (37 / 255 - 0.48145466) / 0.26862954, abs=1e-5
    )
    for row, (text, lang) in enumerate(zip(batch[keys.TEXT], batch[keys.LANG])):
        assert text in {f"{lang} caption {row} a", f"{lang} caption {row} b"}
        assert batch[keys.LANG_ID][row].item() == tf.languages.index(lang)
        expected = FakeTokenizer().encode(text, lang)  # [bos, lang tag, chars..., eos]
        assert batch[keys.TEXT_IDS][row, : len(expected)].tolist() == expected
        assert batch[keys.TEXT_MASK][row].sum().item() == len(expected)
    # labels of sample i are [i % 3, 3 + i % 2] over 5 classes
    assert batch[keys.LABELS][2].tolist() == [0, 0, 1, 1, 0]


def test_each_sample_exactly_once_per_epoch_across_2_nodes_x_2_workers(shards):
    cfg = _cfg(shards, num_workers=2)
    per_epoch: dict[int, list[str]] = {0: [], 1: []}
    for rank in (0, 1):
        loader = build_loader(
            cfg, make_transforms(), batch_size=2, seed=3, rank=rank, world_size=2, drop_last=False
        )
        for batch in loader:
            if loader.position()["epoch"] > 1:
                break
            per_epoch[loader.position()["epoch"]].extend(batch[keys.SAMPLE_KEY])
    everything = sorted(f"s{i:05d}" for i in range(24))
    for epoch in (0, 1):
        assert sorted(per_epoch[epoch]) == everything  # no sample lost, none duplicated
    assert per_epoch[0] != per_epoch[1]  # the epoch reshuffles


def test_order_is_a_pure_function_of_the_seed(shards):
    def order(seed):
        loader = build_loader(_cfg(shards), make_transforms(), batch_size=4, seed=seed, loop=False)
        return [(k, t) for b in loader for k, t in zip(b[keys.SAMPLE_KEY], b[keys.TEXT])]

    first, again, other = order(5), order(5), order(6)
    assert first == again
    assert first != other
    assert len(first) == 24


@pytest.mark.parametrize("num_workers", [0, 2])
def test_resume_from_position_yields_exactly_the_next_batches(shards, num_workers):
    cfg = _cfg(shards, num_workers=num_workers, modalities=["image", "text", "labels"])
    tf = make_transforms()
    # 24 samples, batch 5, drop_last: 4 batches per epoch (W=0) / 2 per worker (W=2): 10 spans 2+ epochs
    reference = _take(build_loader(cfg, tf, batch_size=5, seed=11), 10)
    for stop in [1, 3, 6] if num_workers else [1, 2, 4, 5, 7]:
        first = build_loader(cfg, tf, batch_size=5, seed=11)
        _take(first, stop)
        position = json.loads(json.dumps(first.position()))  # must survive a JSON checkpoint
        resumed = _take(build_loader(cfg, tf, batch_size=5, seed=11, position=position), 10 - stop)
        for got, want in zip(resumed, reference[stop:], strict=True):
            assert got[keys.SAMPLE_KEY] == want[keys.SAMPLE_KEY]
            assert torch.equal(got[keys.TEXT_IDS], want[keys.TEXT_IDS])
            assert torch.equal(got[keys.IMAGE], want[keys.IMAGE])


def test_resume_skips_without_decoding(shards, monkeypatch):
    cfg = _cfg(shards)
    tf = make_transforms()
    first = build_loader(cfg, tf, batch_size=4, seed=2)
    _take(first, 3)
    position = first.position()
    decoded = []
    real_decode = batching.decode_sample
    monkeypatch.setattr(
        batching, "decode_sample", lambda raw, *a, **k: decoded.append(1) or real_decode(raw, *a, **k)
    )
    resumed = build_loader(cfg, tf, batch_size=4, seed=2, position=position)
    _take(resumed, 2)
    assert position["consumed"] == [12]
    assert len(decoded) == resumed.position()["consumed"][0] - 12 == 8


def test_position_from_a_different_setup_is_refused(shards):
    loader = build_loader(_cfg(shards), make_transforms(), batch_size=4, seed=0)
    _take(loader, 1)
    position = loader.position()
    with pytest.raises(ValueError, match="num_workers"):
        build_loader(_cfg(shards, num_workers=2), make_transforms(), batch_size=4, seed=0, position=position)
    with pytest.raises(ValueError, match="batch_size"):
        build_loader(_cfg(shards), make_transforms(), batch_size=3, seed=0, position=position)
    all_ranks = {"ranks": {"0": position}}
    resumed = build_loader(_cfg(shards), make_transforms(), batch_size=4, seed=0, position=all_ranks)
    assert resumed.position()["consumed"] == position["consumed"]


def test_epoch_end_advances_epoch_and_logs_stats(shards, caplog):
    loader = build_loader(_cfg(shards), make_transforms(), batch_size=6, seed=0)
    with caplog.at_level(logging.INFO, logger="mlmm.data.pipeline"):
        batches = _take(loader, 5)  # 4 batches per epoch
    assert loader.position()["epoch"] == 1 and loader.position()["consumed"] == [6]
    assert sorted(k for b in batches[:4] for k in b[keys.SAMPLE_KEY]) == [f"s{i:05d}" for i in range(24)]
    assert "data epoch 0 done" in caplog.text and "'samples': 24" in caplog.text


def test_resampled_mode_is_infinite_and_seeded(shards):
    cfg = _cfg(shards, resampled=True)
    keys_a = [
        k
        for b in _take(build_loader(cfg, make_transforms(), batch_size=10, seed=4), 6)
        for k in b["sample_key"]
    ]
    keys_b = [
        k
        for b in _take(build_loader(cfg, make_transforms(), batch_size=10, seed=4), 6)
        for k in b["sample_key"]
    ]
    assert keys_a == keys_b and len(keys_a) == 60  # 60 > 24: it keeps going
    assert set(keys_a) <= {f"s{i:05d}" for i in range(24)} and len(set(keys_a)) < 60


def test_language_weights_and_missing_captions(tmp_path):
    with ShardSink(tmp_path, "mix", max_count=100) as sink:
        for i in range(6):
            sink.write({"__key__": f"k{i}", "json": {"captions": {"de": [f"de {i}"], "fr": [f"fr {i}"]}}})
        sink.write({"__key__": "only_ja", "json": {"captions": {"ja": ["日本語"]}}})
    cfg = _cfg(str(tmp_path / "mix-000000.tar"), modalities=["text"], languages={"de": 0.0, "fr": 1.0})
    loader = build_loader(cfg, make_transforms(), batch_size=3, seed=0, loop=False)
    texts = [t for b in loader for t in b[keys.TEXT]]
    assert sorted(texts) == [f"fr {i}" for i in range(6)]  # de has weight 0; no media needed for text shards
    assert loader.stats() == {"samples": 6, "skipped": {"missing_caption": 1}, "rejected": 0}


def test_choose_caption_follows_the_weights():
    captions = {"en": ["e"], "de": ["d"], "fr": []}
    rng = random.Random(0)
    draws = [choose_caption(captions, {"en": 3.0, "de": 1.0, "fr": 5.0}, rng)[0] for _ in range(4000)]
    assert "fr" not in draws  # no captions: never chosen, whatever its weight
    assert draws.count("en") / 4000 == pytest.approx(0.75, abs=0.03)


def test_pivot_caption_has_the_same_index(shards):
    cfg = _cfg(shards, languages={"de": 1.0}, pivot_language="en", modalities=["text"], shuffle_buffer=0)
    batch = next(iter(build_loader(cfg, make_transforms(), batch_size=8, seed=1, shuffle=False)))
    for text, pivot in zip(batch[keys.TEXT], batch[keys.PIVOT_TEXT]):
        assert pivot == "en" + text[2:]  # "de caption 3 b" <-> "en caption 3 b"
    assert batch[keys.PIVOT_IDS][0].tolist()[:2] == [1, FakeTokenizer.LANG_TAGS["en"]]


def test_inconsistent_modalities_fail_clearly(shards):
    tf = make_transforms()
    tf.image = None
    with pytest.raises(ValueError, match="SampleTransforms.image"):
        build_loader(_cfg(shards), tf, batch_size=2, seed=0)
    with pytest.raises(ValueError, match="unknown"):
        build_loader(_cfg(shards, modalities=["smell"]), make_transforms(), batch_size=2, seed=0)
    with pytest.raises(ValueError, match="not in the run's language list"):
        build_loader(_cfg(shards, languages={"sw": 1.0}), make_transforms(), batch_size=2, seed=0)


def test_video_frames_are_ordered_and_resampled(tmp_path):
    from data_factory import image_bytes

    with ShardSink(tmp_path, "vid", max_count=10) as sink:
        # frame members written out of order: frame10 must come after frame2
        frames = {f"frame{i}.png": image_bytes(i) for i in (10, 0, 2, 1)}
        sink.write({"__key__": "clip", **frames, "json": {"captions": {"en": ["a clip"]}}})
    cfg = _cfg(
        str(tmp_path / "vid-000000.tar"), modalities=["video", "text"], num_frames=2, languages={"en": 1.0}
    )
    batch = next(
        iter(build_loader(cfg, make_transforms(), batch_size=1, seed=0, loop=False, drop_last=False))
    )
    video = batch[keys.VIDEO]
    assert video.shape == (1, 2, 3, 8, 8)  # frames 0 and 10 (first and last of 4)
    red = [round((video[0, i, 0, 0, 0].item() * 0.26862954 + 0.48145466) * 255) for i in range(2)]
    assert red == [0, 10 * 37 % 256]


def test_pipe_urls_read_like_paths(shards):
    from mlmm.data.pipeline import iter_samples
    from mlmm.data.shardspec import expand_shards

    path = expand_shards(shards)[0]
    assert [s["__key__"] for s in iter_samples(f"pipe:cat {path}")] == [
        s["__key__"] for s in iter_samples(path)
    ]


def test_random_augmentation_is_seeded_per_sample_and_leaves_the_caller_rng_alone(tmp_path):
    import io

    import numpy as np
    from PIL import Image

    from mlmm.data.transforms import build_image_transform

    noise = np.random.default_rng(0).integers(0, 256, size=(6, 16, 16, 3), dtype=np.uint8)
    with ShardSink(tmp_path, "tex", max_count=10) as sink:
        for i, pixels in enumerate(noise):  # textured images: a random crop changes the pixels
            buf = io.BytesIO()
            Image.fromarray(pixels).save(buf, format="PNG")
            sink.write({"__key__": f"t{i}", "png": buf.getvalue(), "json": {"captions": {"en": ["x"]}}})

    def images(seed):
        tf = make_transforms()
        tf.image = build_image_transform(8, is_train=True)  # RandomResizedCrop: draws from torch's RNG
        cfg = _cfg(str(tmp_path / "tex-000000.tar"), languages={"en": 1.0})
        loader = build_loader(cfg, tf, batch_size=3, seed=seed, loop=False, shuffle=False)
        return torch.cat([b[keys.IMAGE] for b in loader])

    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = images(1)
    assert torch.equal(torch.get_rng_state(), before)  # the training process's RNG stream is untouched
    assert torch.equal(first, images(1))  # same (seed, epoch, key): same crop
    assert not torch.equal(first, images(2))  # same order (no shuffle), other seed: other crops


def test_in_process_loading_restores_the_callers_thread_count(shards):
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        loader = iter(build_loader(_cfg(shards), make_transforms(), batch_size=4, seed=0))
        next(loader)
        assert torch.get_num_threads() == 2  # batches are made single-threaded, the training step is not
    finally:
        torch.set_num_threads(threads)


def test_position_of_another_rank_or_shard_set_is_refused(shards, tmp_path):
    cfg = _cfg(shards)
    loader = build_loader(cfg, make_transforms(), batch_size=4, seed=0, rank=0, world_size=2)
    _take(loader, 1)
    with pytest.raises(ValueError, match="rank"):
        build_loader(
            cfg, make_transforms(), batch_size=4, seed=0, rank=1, world_size=2, position=loader.position()
        )
    fewer = _cfg(shards.replace("000007", "000005"))
    with pytest.raises(ValueError, match="num_shards"):
        build_loader(
            fewer, make_transforms(), batch_size=4, seed=0, rank=0, world_size=2, position=loader.position()
        )


def test_resampled_resume(shards):
    cfg = _cfg(shards, resampled=True)
    reference = _take(build_loader(cfg, make_transforms(), batch_size=7, seed=9), 6)
    first = build_loader(cfg, make_transforms(), batch_size=7, seed=9)
    _take(first, 4)
    resumed = _take(build_loader(cfg, make_transforms(), batch_size=7, seed=9, position=first.position()), 2)
    assert [b[keys.SAMPLE_KEY] for b in resumed] == [b[keys.SAMPLE_KEY] for b in reference[4:]]


QA_META = {
    "qa": [
        {"question": f"q{i}", "lang": lang, "answers": [f"a{i}"] * 10}
        for i, lang in enumerate(["en", "en", "de", "de", "fr", "zh"])
    ]
}


def test_questions_per_image_draws_distinct_pairs_and_one_is_choose_qa():
    weights = {"en": 1.0, "de": 1.0}  # fr / zh not weighted: outside the pool
    pool = [qa for qa in QA_META["qa"] if qa["lang"] in weights]
    one = batching.choose_qas(QA_META, None, weights, random.Random(7), 1)
    assert one == [batching.choose_qa(QA_META, None, weights, random.Random(7))]
    three = batching.choose_qas(QA_META, None, weights, random.Random(7), 3)
    assert len(three) == 3 and len({qa["question"] for qa in three}) == 3 and all(qa in pool for qa in three)
    assert sorted(qa["question"] for qa in batching.choose_qas(QA_META, None, weights, random.Random(7), 9)) == [
        "q0", "q1", "q2", "q3"
    ]  # fmt: skip
    assert batching.choose_qas(QA_META, "zh", {"ja": 1.0}, random.Random(0), 3) == [QA_META["qa"][5]]


def test_collate_flattens_questions_image_by_image_with_their_image_rows():
    plan = batching.SamplePlan(
        DatasetConfig(modalities=["image", "qa"], languages={"en": 1.0, "de": 1.0}, questions_per_image=2),
        make_transforms(),
        seed=0,
    )
    image = torch.zeros(3, 8, 8)
    items = [
        {keys.SAMPLE_KEY: "a", keys.IMAGE: image, "question": ["x", "yz"], "question_lang": ["en", "de"],
         keys.ANSWERS: [["1"], ["2"]]},
        {keys.SAMPLE_KEY: "b", keys.IMAGE: image + 1, "question": ["w"], "question_lang": ["en"],
         keys.ANSWERS: [["3"]]},
    ]  # fmt: skip
    batch = batching.collate(items, plan)
    assert batch[keys.IMAGE].shape == (2, 3, 8, 8)
    assert batch[keys.QUESTION_IMAGE].tolist() == [0, 0, 1]
    assert batch[keys.ANSWERS] == [["1"], ["2"], ["3"]] and batch[keys.QUESTION_LANG] == ["en", "de", "en"]
    tok = plan.transforms.tokenizer
    assert batch[keys.QUESTION_IDS][1].tolist() == tok(["yz"], "de")[0][0].tolist()
    with pytest.raises(ValueError, match="questions_per_image"):
        batching.SamplePlan(
            DatasetConfig(modalities=["image", "qa"], questions_per_image=0), make_transforms(), 0
        )
