"""mlmm data synth: determinism, manifest vs tar contents, sample schema, hard negatives, CLI."""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys

import pytest
import webdataset as wds
from PIL import Image

from mlmm.cli import data_synth
from mlmm.data.synthetic import synthesize
from mlmm.data.synthetic.sample import scene_at
from mlmm.data.synthetic.scene import LABEL_NAMES, SHAPES, hard_negative, sample_scene
from mlmm.data.writer import sha256_file

LANGS = ("en", "de", "fr", "es", "zh", "ja")


def _read_split(out_dir, manifest, split):
    urls = [str(out_dir / s["path"]) for s in manifest["splits"][split]["shards"]]
    return list(wds.WebDataset(urls, shardshuffle=False).decode("pil"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    manifest = synthesize(out, 60, languages=LANGS, seed=3, shard_size=16, parallel_samples=10)
    return out, manifest


def test_same_seed_gives_identical_shards_and_other_seed_differs(tmp_path):
    a = synthesize(tmp_path / "a", 24, languages=("en", "zh"), seed=7, shard_size=10, parallel_samples=4)
    b = synthesize(tmp_path / "b", 24, languages=("en", "zh"), seed=7, shard_size=10, parallel_samples=4)
    c = synthesize(tmp_path / "c", 24, languages=("en", "zh"), seed=8, shard_size=10, parallel_samples=4)
    assert a == b
    assert (tmp_path / "a/manifest.json").read_bytes() == (tmp_path / "b/manifest.json").read_bytes()
    sha = lambda m: [s["sha256"] for split in m["splits"].values() for s in split["shards"]]  # noqa: E731
    assert sha(a) == sha(b)
    assert all(x != y for x, y in zip(sha(a), sha(c)))
    for shard in a["splits"]["train"]["shards"]:  # the recorded hash is the file's hash
        assert sha256_file(tmp_path / "a" / shard["path"]) == shard["sha256"]


def test_manifest_counts_match_tar_contents(corpus):
    out, manifest = corpus
    assert {k: v["samples"] for k, v in manifest["splits"].items()} == {
        "train": 48,
        "val": 6,
        "test": 6,
        "parallel": 10,
    }
    assert [s["samples"] for s in manifest["splits"]["train"]["shards"]] == [16, 16, 16]
    for split in ("train", "val", "test", "parallel"):
        samples = _read_split(out, manifest, split)
        assert len(samples) == manifest["splits"][split]["samples"]
        assert len({s["__key__"] for s in samples}) == len(samples)
    assert manifest["label_names"] == list(LABEL_NAMES)
    assert manifest["languages"] == list(LANGS) and manifest["seed"] == 3


def test_samples_follow_the_shard_schema(corpus):
    out, manifest = corpus
    samples = _read_split(out, manifest, "train")
    for sample in samples:
        meta, image = sample["json"], sample["png"]
        assert isinstance(image, Image.Image) and image.size == (64, 64)
        assert set(meta["captions"]) == set(LANGS)
        assert all(len(caps) == 3 and all(caps) for caps in meta["captions"].values())
        shapes = {o["shape"] for o in meta["scene"]["objects"]}
        assert {LABEL_NAMES[i] for i in meta["labels"]} >= {f"shape:{s}" for s in shapes}
        assert "flac" not in sample and "audio" not in meta
        assert len(meta["qa"]) == 3 * len(LANGS)
        for qa in meta["qa"]:
            assert qa["lang"] in LANGS and qa["question"]
            assert len(qa["answers"]) == 10
            assert qa["answer_type"] in ("number", "yes/no", "other")
            assert qa["question_type"] in ("count", "colour", "shape", "relation", "yesno")
    parallel = _read_split(out, manifest, "parallel")
    assert all({k for k in s if not k.startswith("__")} == {"json"} for s in parallel)  # text only
    assert all(set(s["json"]["captions"]) == set(LANGS) for s in parallel)


def test_captions_mention_every_object_truthfully(corpus):
    out, manifest = corpus
    for sample in _read_split(out, manifest, "val"):
        objects = sample["json"]["scene"]["objects"]
        for caption in sample["json"]["captions"]["en"]:
            for obj in objects:
                assert f"{obj['size']} {obj['colour']} {obj['shape']}" in caption
            if len(objects) > 1:  # left-to-right order is stated
                first, second = (f"{o['colour']} {o['shape']}" for o in objects[:2])
                axis = sample["json"]["scene"]["axis"]
                before = "to the left of" if axis == "h" else "above"
                after = "to the right of" if axis == "h" else "below"
                assert (
                    f"{first} {before}" in caption
                    or f"{after} a {objects[-2]['size']} {objects[-2]['colour']}" in caption
                    or caption.index(first) < caption.index(second)
                )


def _differences(a: dict, b: dict) -> list[tuple[int, str]]:
    return [
        (i, key)
        for i, (x, y) in enumerate(zip(a["objects"], b["objects"]))
        for key in ("shape", "colour", "size")
        if x[key] != y[key]
    ]


def test_hard_negatives_differ_in_exactly_one_thing(corpus):
    out, manifest = corpus
    samples = {s["__key__"]: s["json"] for s in _read_split(out, manifest, "train")}
    twins = [(k, m) for k, m in samples.items() if m["hard_negative_of"]]
    assert twins, "expected some hard negatives among 48 samples"
    for key, meta in twins:
        original = samples[meta["hard_negative_of"]]["scene"]
        twin, change = meta["scene"], meta["hard_negative_change"]
        assert twin["axis"] == original["axis"] and twin["count"] == original["count"]
        diffs = _differences(original, twin)
        if change["attribute"] == "relation":
            i, j = change["objects"]
            assert twin["objects"][i] | {"x": 0, "y": 0} == original["objects"][j] | {"x": 0, "y": 0}
            assert twin["objects"][j] | {"x": 0, "y": 0} == original["objects"][i] | {"x": 0, "y": 0}
            assert {d[0] for d in diffs} == {i, j}
        else:
            assert diffs == [(change["object"], change["attribute"])]
        assert samples[key]["captions"]["en"] != samples[meta["hard_negative_of"]]["captions"]["en"]


@pytest.mark.parametrize("seed", range(40))
def test_hard_negative_function_changes_one_attribute(seed):
    rng = random.Random(seed)
    scene = sample_scene(rng)
    twin, change = hard_negative(scene, rng)
    assert twin != scene
    assert len({(o.shape, o.colour) for o in twin.objects}) == twin.count  # referents stay unique
    if change["attribute"] != "relation":
        changed = [
            (i, k) for i, (a, b) in enumerate(zip(scene.objects, twin.objects))
            for k in ("shape", "colour", "size", "x", "y") if getattr(a, k) != getattr(b, k)
        ]  # fmt: skip
        assert changed == [(change["object"], change["attribute"])]


def test_scene_is_a_function_of_seed_split_and_index():
    assert scene_at(1, "train", 5)[0] == scene_at(1, "train", 5)[0]
    scenes = {scene_at(1, split, 4)[0] for split in ("train", "val", "test")}
    assert len(scenes) == 3


def test_bad_arguments_fail_with_clear_messages(tmp_path):
    with pytest.raises(ValueError, match="unknown language"):
        synthesize(tmp_path, 4, languages=("en", "xx"))
    with pytest.raises(ValueError, match="audio must be one of"):
        synthesize(tmp_path, 4, audio="loud")
    with pytest.raises(ValueError, match="summing to 1"):
        synthesize(tmp_path, 4, splits=(0.5, 0.1, 0.1))
    with pytest.raises(ValueError, match="samples must be >= 1"):
        synthesize(tmp_path, 0)
    with pytest.raises(ValueError, match="parallel_samples must be >= 0"):
        synthesize(tmp_path, 4, parallel_samples=-1)


def test_same_seed_in_another_process_with_other_hash_seed_gives_same_bytes(tmp_path):
    """No dependence on PYTHONHASHSEED (set iteration order) or on the process."""
    here = synthesize(tmp_path / "here", 12, languages=("en", "fr", "ja"), seed=5, parallel_samples=3)
    code = (
        "import sys, json; from mlmm.data.synthetic import synthesize; "
        "print(json.dumps(synthesize(sys.argv[1], 12, languages=('en','fr','ja'), seed=5, parallel_samples=3)))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "there")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == here


def test_captions_do_not_depend_on_the_other_languages_asked(tmp_path):
    """Template choice is language-neutral: English captions are the same with or without German."""
    only_en = synthesize(tmp_path / "en", 10, languages=("en",), seed=4, parallel_samples=0)
    en_de = synthesize(tmp_path / "ende", 10, languages=("en", "de"), seed=4, parallel_samples=0)
    caps = lambda out, m: [s["json"]["captions"]["en"] for s in _read_split(out, m, "train")]  # noqa: E731
    assert caps(tmp_path / "en", only_en) == caps(tmp_path / "ende", en_de)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlmm data")
    data_synth.register(parser.add_subparsers())
    return parser


def test_cli_writes_the_corpus_and_prints_a_summary(tmp_path, capsys):
    out = tmp_path / "cli"
    args = _parser().parse_args(
        ["synth", "--out", str(out), "--samples", "10", "--languages", "en,ja", "--seed", "2",
         "--image-size", "32", "--parallel", "3", "--shard-size", "4"]
    )  # fmt: skip
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "train 8 (2 shard(s))" in printed and "parallel 3 (1 shard(s))" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["languages"] == ["en", "ja"] and manifest["image_size"] == 32
    assert sorted(p.name for p in out.glob("*.tar")) == [
        "parallel-000000.tar", "test-000000.tar", "train-000000.tar", "train-000001.tar", "val-000000.tar"
    ]  # fmt: skip


def test_cli_rejects_unknown_language(capsys):
    with pytest.raises(SystemExit):
        _parser().parse_args(["synth", "--out", "x", "--samples", "3", "--languages", "en,klingon"])
    assert "klingon" in capsys.readouterr().err


def test_rerun_with_fewer_samples_removes_stale_shards(tmp_path):
    synthesize(tmp_path, 20, languages=("en",), shard_size=4, parallel_samples=0)
    manifest = synthesize(tmp_path, 8, languages=("en",), shard_size=4, parallel_samples=0)
    listed = {s["path"] for split in manifest["splits"].values() for s in split["shards"]}
    assert {p.name for p in tmp_path.glob("*.tar")} == listed
    assert SHAPES  # vocabulary importable for label hashing
