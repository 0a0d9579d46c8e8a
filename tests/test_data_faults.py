"""Shard faults that used to pass silently (issue 16): each is counted, warned about, and loses no good sample.

Every case builds a real tar here: truncated tars (cut between members, inside a header, inside data),
repeated keys (adjacent and not), pickle-bearing members placed anywhere, empty tars and empty shard sets,
missing shards, undecodable members, overlong captions and unsupported language codes.
"""

from __future__ import annotations

import io
import json
import logging
import pathlib
import pickle
import subprocess
import sys
import tarfile

import pytest
import torch
from data_factory import make_transforms, run_data_cli, sample, write_shards

from mlmm.config import DatasetConfig
from mlmm.data import keys
from mlmm.data.batching import MAX_TEXT_CHARS
from mlmm.data.pipeline import EmptyDataError, build_loader, iter_samples
from mlmm.data.shards import inspect_shards
from mlmm.data.stats import DataStats
from mlmm.data.writer import encode_member

REPO = pathlib.Path(__file__).resolve().parents[1]


def _members(samples: list[dict]) -> list[tuple[str, bytes]]:
    """(member name, bytes) of ``samples`` in writing order (ShardSink's member order: sorted extensions)."""
    return [
        (f"{s['__key__']}.{ext}", encode_member(value))
        for s in samples
        for ext, value in sorted(s.items())
        if ext != "__key__"
    ]


def _write_tar(path: pathlib.Path, members: list[tuple[str, bytes]]) -> str:
    with tarfile.open(path, "w") as tar:
        for name, payload in members:
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return str(path)


def _keys(shards, stats: DataStats) -> list[str]:
    return [s["__key__"] for s in iter_samples(shards, stats=stats)]


def _warnings(caplog) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)


# ----------------------------------------------------------------------------------------------- truncated tar


def _member_offsets(path: str) -> dict[str, tuple[int, int]]:
    """member name -> (header offset, data offset) in the tar at ``path``."""
    with tarfile.open(path) as tar:
        return {m.name: (m.offset, m.offset_data) for m in tar.getmembers()}


@pytest.mark.parametrize(
    ("member", "part", "delta", "lost_key"),
    [
        ("s00010.json", "header", 0, None),  # between two samples: nothing of s00010 was read
        ("s00010.json", "header", 100, None),  # inside a header
        ("s00010.png", "data", 10, "s00010"),  # inside a member's data: s00010 is lost
    ],
)
def test_truncated_tar_is_counted_warned_and_says_what_arrived(
    tmp_path, caplog, member, part, delta, lost_key
):
    expected = 10
    [path] = write_shards(tmp_path, 20, 100)
    header, data = _member_offsets(path)[member]
    cut = (header if part == "header" else data) + delta
    cut_path = tmp_path / "cut.tar"
    cut_path.write_bytes(pathlib.Path(path).read_bytes()[:cut])
    stats = DataStats()
    with caplog.at_level(logging.WARNING):
        got = _keys([str(cut_path), path], stats)
    # every complete sample before the cut arrives, then the whole next shard
    assert got == [f"s{i:05d}" for i in range(expected)] + [f"s{i:05d}" for i in range(20)]
    assert stats.skipped == {"truncated_tar": 1} and stats.samples == expected + 20
    text = _warnings(caplog)
    assert f"shard {cut_path}: truncated_tar" in text or f"in {cut_path}: truncated_tar" in text
    assert f"{expected} complete samples before the cut were delivered" in text
    assert "cannot be known" in text
    if lost_key:
        assert f"the sample {lost_key!r} at the cut" in text
    report = inspect_shards(str(cut_path))
    assert report["skipped"] == {"truncated_tar": 1}
    assert report["warnings"] == [
        f"{cut_path}: truncated tar: {expected} good samples arrived from it; the rest of the shard after the cut "
        "is lost and cannot be counted"
    ]


def test_complete_tar_is_not_reported_truncated(tmp_path):
    [path] = write_shards(tmp_path, 5, 100)
    stats = DataStats()
    assert len(_keys(path, stats)) == 5 and stats.skipped == {}
    assert inspect_shards(path)["warnings"] == []


# ----------------------------------------------------------------------------------------------- duplicate keys


def test_repeated_keys_keep_the_first_occurrence_adjacent_or_not(tmp_path, caplog):
    """s00001 written twice in a row and s00000 again at the end (different content): the first ones win."""
    samples = [sample(i) for i in range(4)]
    impostor = {**sample(9), "__key__": "s00000"}
    members = _members(samples[:2] + [{**sample(8), "__key__": "s00001"}] + samples[2:] + [impostor])
    path = _write_tar(tmp_path / "dup.tar", members)
    stats = DataStats()
    with caplog.at_level(logging.WARNING):
        got = list(iter_samples(path, stats=stats))
    assert [s["__key__"] for s in got] == ["s00000", "s00001", "s00002", "s00003"]
    assert [s["meta"]["captions"]["en"][0] for s in got] == [f"en caption {i} a" for i in range(4)]
    assert stats.skipped == {"duplicate_key": 2}
    assert "key 's00000' appears again at member s00000.json: the first occurrence is kept" in _warnings(
        caplog
    )
    assert inspect_shards(path)["warnings"] == [
        f"{path}: 2 repeated keys dropped (the first occurrence of each is kept)"
    ]


def test_repeated_member_of_one_key_keeps_the_first_occurrence(tmp_path):
    path = _write_tar(
        tmp_path / "dup.tar", [("a.json", b'{"n": 1}'), ("a.json", b'{"n": 2}'), ("b.json", b"{}")]
    )
    stats = DataStats()
    got = list(iter_samples(path, stats=stats))
    assert [(s["__key__"], s["meta"]) for s in got] == [("a", {"n": 1}), ("b", {})]
    assert stats.skipped == {"duplicate_key": 1}


# ----------------------------------------------------------------------------------------------- rejected members


class _Trap:
    """Unpickling this creates the file ``path``: proof that something was unpickled."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path

    def __reduce__(self):
        return (pathlib.Path.touch, (self.path,))


def test_rejected_members_never_create_split_or_change_a_sample(tmp_path, caplog):
    trap = tmp_path / "unpickled"
    bomb = pickle.dumps(_Trap(trap))
    clean = _members([sample(i) for i in range(20)])
    # appended after everything, for a key that exists; between the members of one sample, for another key;
    # for a key of its own; inside a sample's own run
    members = list(clean)
    members.insert(3, ("s00019.pth", bomb))  # between s00001.json and s00001.png
    members.insert(10, ("s00004.pyd", bomb))
    members += [("s00003.pyd", bomb), ("s00004.pickle", bomb), ("zz.pkl", bomb)]
    path = _write_tar(tmp_path / "rejected.tar", members)
    reference = list(iter_samples(_write_tar(tmp_path / "clean.tar", clean)))
    stats = DataStats()
    with caplog.at_level(logging.WARNING):
        got = list(iter_samples(path, stats=stats))
    assert len(got) == 20  # not 21: trailing rejected members form no sample
    assert [(s["__key__"], s["meta"], s["image"].tobytes()) for s in got] == [
        (s["__key__"], s["meta"], s["image"].tobytes()) for s in reference
    ]
    assert stats.as_dict() == {"samples": 20, "skipped": {}, "rejected": 5}
    assert f"rejected member 's00003.pyd' in {path}: never read, never unpickled" in _warnings(caplog)
    assert not trap.exists()


def test_shard_of_rejected_members_only_is_empty_and_counts_them(tmp_path):
    path = _write_tar(tmp_path / "only.tar", [("a.pyd", b"x"), ("a.pth", b"y")])
    stats = DataStats()
    assert _keys(path, stats) == []
    assert stats.as_dict() == {"samples": 0, "skipped": {"empty_shard": 1}, "rejected": 2}


# ----------------------------------------------------------------------------------------------- empty shards


def _loader_cfg(shards: list[str], **kw) -> DatasetConfig:
    base = dict(shards=shards, languages={"en": 1.0}, modalities=["image", "text"], shuffle_buffer=0)
    return DatasetConfig(**{**base, **kw})


def test_empty_tar_is_counted_and_the_other_shards_still_arrive(tmp_path, caplog, capsys):
    empty = _write_tar(tmp_path / "empty.tar", [])
    [good] = write_shards(tmp_path, 3, 100)
    stats = DataStats()
    with caplog.at_level(logging.WARNING):
        assert _keys([empty, good], stats) == ["s00000", "s00001", "s00002"]
    assert stats.skipped == {"empty_shard": 1}
    assert f"skipped shard {empty}: empty_shard" in _warnings(caplog)
    assert run_data_cli(["data", "inspect", empty, good]) == 0
    assert f"warning: {empty}: empty shard (no samples)" in capsys.readouterr().out


def test_shard_set_without_samples_fails_inspect_and_a_looping_loader(tmp_path, caplog, capsys):
    empty = _write_tar(tmp_path / "empty.tar", [])
    assert run_data_cli(["data", "inspect", empty, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["warnings"][-1] == "no usable sample in 1 shards: a training run on them fails"
    cfg = _loader_cfg([empty])
    loader = build_loader(cfg, make_transforms(), batch_size=2, seed=0, rank=0, world_size=1, loop=True)
    with pytest.raises(EmptyDataError, match=r"data epoch 0 gave rank 0 no batch from .*empty\.tar"):
        next(iter(loader))
    once = build_loader(cfg, make_transforms(), batch_size=2, seed=0, rank=0, world_size=1, loop=False)
    with caplog.at_level(logging.WARNING):
        assert list(once) == []
    assert "no usable sample" in _warnings(caplog)


def test_resumed_epoch_at_its_end_is_not_mistaken_for_an_empty_set(tmp_path):
    [path] = write_shards(tmp_path, 4, 100)
    cfg, tf = _loader_cfg([path]), make_transforms()
    first = build_loader(cfg, tf, batch_size=2, seed=0, rank=0, world_size=1, shuffle=False)
    it = iter(first)
    next(it), next(it)  # the whole epoch 0
    resumed = build_loader(cfg, tf, batch_size=2, seed=0, rank=0, world_size=1, shuffle=False,
                           position=first.position())  # fmt: skip
    assert next(iter(resumed))[keys.SAMPLE_KEY] == ["s00000", "s00001"]  # epoch 1


def test_training_run_on_an_empty_train_set_fails_with_a_clear_error(tmp_path):
    """The real run_training with the real loader: it fails at the first batch, naming the shards."""
    empty = _write_tar(tmp_path / "empty.tar", [])
    script = f"""
import sys
sys.path.insert(0, {str(REPO / "tests")!r})
from engine_toy import toy_components, write_recipe
from data_factory import make_transforms
from mlmm.config import load_config
from mlmm.data.pipeline import build_loader
from mlmm.engine.run import run_training
import pathlib
recipe = write_recipe(pathlib.Path({str(tmp_path)!r}))
parts = toy_components()
parts.build_loader, parts.build_transforms = build_loader, lambda cfg: make_transforms()
cfg = load_config(recipe, ["data.train.shards=[{empty}]", "data.train.modalities=[image,text]",
                           "data.train.languages={{en: 1.0}}"])
run_training(cfg, None, parts)
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=REPO
    )
    assert proc.returncode != 0
    assert "EmptyDataError: data epoch 0 gave rank 0 no batch" in proc.stderr
    assert "the shards hold no usable sample" in proc.stderr


# ----------------------------------------------------------------------------------------------- missing shard


def test_missing_shard_fails_before_the_heavy_imports(tmp_path):
    code = (
        "import sys; from mlmm.cli.main import main; rc = main(['data', 'inspect', sys.argv[1]]); "
        "print('torch' in sys.modules, rc)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "train-000000.tar")], capture_output=True, text=True
    )
    assert proc.stdout.split() == ["False", "2"]
    assert f"shard not found: {tmp_path / 'train-000000.tar'}" in proc.stderr


# ----------------------------------------------------------------------------------------------- messages


def test_decode_warnings_name_the_member_never_a_python_object(tmp_path, caplog):
    members = _members([{**sample(0), "png": b"\x89PNG not really"}, {**sample(1), "wav": b"RIFF garbage"}])
    path = _write_tar(tmp_path / "bad.tar", members)
    with caplog.at_level(logging.WARNING):
        assert list(iter_samples(path)) == []
    text = _warnings(caplog)
    assert f"skipped sample s00000 in {path}: corrupt_image (s00000.png: cannot identify image file" in text
    assert f"skipped sample s00001 in {path}: bad_audio (s00001.wav: " in text
    assert "object at 0x" not in text


def test_overlong_caption_is_capped_before_tokenization_and_warned(tmp_path, caplog):
    huge = "x" * 1_000_000
    samples = [sample(0), {**sample(1), "json": {"captions": {"en": [huge]}}}]
    path = _write_tar(tmp_path / "long.tar", _members(samples))
    tf = make_transforms()
    loader = build_loader(_loader_cfg([path]), tf, batch_size=2, seed=0, rank=0, world_size=1, loop=False,
                          shuffle=False)  # fmt: skip
    with caplog.at_level(logging.WARNING):
        [batch] = list(loader)
    assert batch[keys.SAMPLE_KEY] == ["s00000", "s00001"]
    assert batch[keys.TEXT][1] == "x" * MAX_TEXT_CHARS
    assert batch[keys.TEXT_IDS].shape == (2, tf.tokenizer.context_length)
    assert f"caption of 1000000 characters cut to {MAX_TEXT_CHARS} before tokenization" in _warnings(caplog)
    assert inspect_shards(path)["warnings"] == [
        f"{path}: 1 captions longer than {MAX_TEXT_CHARS} characters (training cuts them to {MAX_TEXT_CHARS} "
        "before tokenization)"
    ]


def test_captions_under_unsupported_language_codes_are_warned(tmp_path, caplog):
    samples = [sample(0), {**sample(1), "json": {"captions": {"xx": ["hi", "ho"]}}}]
    path = _write_tar(tmp_path / "xx.tar", _members(samples))
    report = inspect_shards(path)
    assert report["languages"] == {"de": 2, "en": 2, "xx": 2}
    assert report["shards"][0]["unsupported_languages"] == {"xx": 2}
    assert report["warnings"] == [
        f"{path}: captions under language codes mlmm does not support (xx=2; supported: en, de, fr, es, zh, ja); "
        "a run only chooses captions in its data.languages"
    ]
    loader = build_loader(_loader_cfg([path]), make_transforms(), batch_size=1, seed=0, rank=0, world_size=1,
                          loop=False, shuffle=False)  # fmt: skip
    with caplog.at_level(logging.WARNING):
        assert [b[keys.SAMPLE_KEY] for b in loader] == [["s00000"]]
    assert loader.stats()["skipped"] == {"missing_caption": 1}
    assert "no caption in ['en']; has ['xx']" in _warnings(caplog)


# ----------------------------------------------------------------------------------------------- resume


def test_resume_over_faulty_shards_is_exact(tmp_path):
    """Positions stay exact when the raw stream holds flags (truncated, empty, duplicate, rejected)."""
    paths = write_shards(tmp_path, 12, 4)
    data = pathlib.Path(paths[1]).read_bytes()
    pathlib.Path(paths[1]).write_bytes(data[: _member_offsets(paths[1])["s00006.json"][0]])
    extra = _write_tar(tmp_path / "x.tar", _members([sample(20), {**sample(21), "__key__": "s00020"}])
                       + [("s00020.pyd", b"x")])  # fmt: skip
    shards = paths + [_write_tar(tmp_path / "empty.tar", []), extra]
    cfg, tf = _loader_cfg(shards, shuffle_buffer=4), make_transforms()

    def loader(position=None):
        return build_loader(cfg, tf, batch_size=2, seed=5, rank=0, world_size=1, position=position)

    def take(it, n):
        return [(b[keys.SAMPLE_KEY], b[keys.TEXT_IDS]) for _, b in zip(range(n), it)]

    reference = loader()
    straight = take(iter(reference), 10)
    first = loader()
    head = take(iter(first), 3)
    position = json.loads(json.dumps(first.position()))
    tail = take(iter(loader(position)), 7)
    assert [k for k, _ in head + tail] == [k for k, _ in straight]
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(head + tail, straight))
    stats = reference.stats()  # 10 batches: more than one epoch of 11 good samples
    assert {"truncated_tar", "empty_shard", "duplicate_key"} <= set(stats["skipped"]) and stats[
        "rejected"
    ] >= 1
