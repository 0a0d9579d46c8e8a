"""Shard sources read identically (ShardWriter, GNU tar, ``mlmm data shard``); converters; inspect; CLI."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
import webdataset as wds
from data_factory import (
    caption_meta,
    image_bytes,
    make_transforms,
    run_data_cli,
    sample,
    wav_bytes,
    write_shards,
)
from PIL import Image

from mlmm.config import DatasetConfig
from mlmm.data import keys
from mlmm.data.pipeline import build_loader, iter_samples
from mlmm.data.shards import inspect_shards, shard_from_coco, shard_from_manifest

N = 5


def _meta(i: int) -> dict:
    return {"captions": caption_meta(i)["captions"], "labels": caption_meta(i)["labels"]}


def _canon_json(value: dict) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True).encode("utf-8")


def _read_all(spec) -> list[tuple]:
    return [
        (s["__key__"], s["meta"], np.asarray(s["image"]).tobytes(), s["txt"], s["audio"])
        for s in iter_samples(spec)
    ]


def _batches(spec) -> list[dict]:
    cfg = DatasetConfig(
        shards=[spec], languages={"en": 1.0, "de": 1.0}, modalities=["image", "text", "labels"]
    )
    loader = build_loader(
        cfg, make_transforms(), batch_size=2, seed=0, loop=False, drop_last=False, shuffle=False
    )
    return list(loader)  # unshuffled: shard boundaries differ between the three sources, the order must not


def test_shardwriter_gnu_tar_and_mlmm_data_shard_read_identically(tmp_path):
    files = tmp_path / "files"
    files.mkdir()
    for i in range(N):
        (files / f"s{i:05d}.png").write_bytes(image_bytes(i))
        (files / f"s{i:05d}.json").write_bytes(_canon_json(_meta(i)))
    # 1. plain GNU tar over key.png / key.json files
    gnu = tmp_path / "gnu.tar"
    names = sorted(p.name for p in files.iterdir())
    subprocess.run(["tar", "cf", str(gnu), *names], cwd=files, check=True)
    # 2. webdataset's own ShardWriter
    with wds.ShardWriter(str(tmp_path / "wds-%06d.tar"), maxcount=3) as writer:
        for i in range(N):
            writer.write({"__key__": f"s{i:05d}", "png": image_bytes(i), "json": _canon_json(_meta(i))})
    # 3. the CLI from a JSONL manifest of the same files
    manifest = tmp_path / "manifest.jsonl"
    rows = [{"key": f"s{i:05d}", "image": f"files/s{i:05d}.png", **_meta(i)} for i in range(N)]
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "ours"
    assert (
        run_data_cli(
            ["data", "shard", "--from", "manifest", str(manifest), "--out", str(out), "--shard-size", "2"]
        )
        == 0
    )

    specs = [str(gnu), str(tmp_path / "wds-{000000..000001}.tar"), str(out / "train-{000000..000002}.tar")]
    reference = _read_all(specs[0])
    assert [r[0] for r in reference] == [f"s{i:05d}" for i in range(N)]
    for spec in specs[1:]:
        assert _read_all(spec) == reference
    ref_batches = _batches(specs[0])
    for spec in specs[1:]:
        for got, want in zip(_batches(spec), ref_batches, strict=True):
            assert got[keys.SAMPLE_KEY] == want[keys.SAMPLE_KEY]
            assert torch.equal(got[keys.IMAGE], want[keys.IMAGE]) and torch.equal(
                got[keys.TEXT_IDS], want[keys.TEXT_IDS]
            )
    recorded = json.loads((out / "manifest.json").read_text())["splits"]["train"]
    assert recorded["samples"] == N and [s["samples"] for s in recorded["shards"]] == [2, 2, 1]
    first = out / recorded["shards"][0]["path"]
    assert recorded["shards"][0]["sha256"] == hashlib.sha256(first.read_bytes()).hexdigest()


def test_inspect_reports_counts_languages_modalities_and_bad_members(tmp_path):
    write_shards(tmp_path, 4, 2, prefix="good", audio=True)
    from mlmm.data.writer import ShardSink

    with ShardSink(tmp_path, "bad", max_count=10) as sink:
        sink.write({**sample(10), "pyd": b"\x80\x04K\x01."})
        sink.write({**sample(11), "png": b"not an image"})
        sink.write({"__key__": "t0", "txt": "a plain caption"})
    report = inspect_shards([str(tmp_path / "good-{000000..000001}.tar"), str(tmp_path / "bad-000000.tar")])
    assert report["samples"] == 6 and report["rejected"] == 1
    assert report["skipped"] == {"corrupt_image": 1}
    assert report["languages"] == {"de": 10, "en": 11}  # 2 captions per language per sample + 1 txt (en)
    assert report["modalities"] == {"image": 5, "audio": 4, "json": 5, "txt": 1, "labels": 5, "qa": 5}
    per_shard = [(s["url"].rsplit("/", 1)[-1], s["samples"], s["rejected"]) for s in report["shards"]]
    assert per_shard == [("good-000000.tar", 2, 0), ("good-000001.tar", 2, 0), ("bad-000000.tar", 2, 1)]


def test_inspect_cli_json_and_table(tmp_path, capsys):
    paths = write_shards(tmp_path, 3, 3)
    assert run_data_cli(["data", "inspect", paths[0], "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["samples"], report["skipped"], report["rejected"]) == (3, {}, 0)
    assert report["languages"] == {"de": 6, "en": 6}
    assert run_data_cli(["data", "inspect", paths[0]]) == 0
    table = capsys.readouterr().out
    assert "total" in table and "de=6, en=6" in table
    assert run_data_cli(["data", "inspect", str(tmp_path / "missing-{0..1}.tar")]) == 2
    assert "shard not found" in capsys.readouterr().err


def test_coco_converter(tmp_path):
    images = tmp_path / "img"
    images.mkdir()
    jpg = io.BytesIO()
    Image.new("RGB", (6, 4), (10, 200, 30)).save(jpg, format="JPEG")
    (images / "a.jpeg").write_bytes(jpg.getvalue())
    (images / "b.png").write_bytes(image_bytes(2))
    coco = {
        "images": [
            {"id": 7, "file_name": "a.jpeg"},
            {"id": 12, "file_name": "b.png"},
            {"id": 99, "file_name": "x.png"},
        ],
        "annotations": [
            {"image_id": 7, "caption": "a green box "},
            {"image_id": 7, "caption": "ein grüner Kasten", "lang": "de"},
            {"image_id": 12, "caption": "something"},
        ],
    }
    (tmp_path / "captions.json").write_text(json.dumps(coco), encoding="utf-8")
    split = shard_from_coco(tmp_path / "captions.json", tmp_path / "out", image_root=images, prefix="val")
    assert split["samples"] == 2  # image 99 has no caption: not written (its missing file is never opened)
    samples = list(iter_samples(str(tmp_path / "out" / "val-000000.tar")))
    assert [s["__key__"] for s in samples] == ["000000000007", "000000000012"]
    assert samples[0]["meta"]["captions"] == {"en": ["a green box"], "de": ["ein grüner Kasten"]}
    coco["annotations"].append({"image_id": 99, "caption": "gone"})
    (tmp_path / "captions.json").write_text(json.dumps(coco), encoding="utf-8")
    with pytest.raises(FileNotFoundError, match="x.png"):
        shard_from_coco(tmp_path / "captions.json", tmp_path / "out2", image_root=images)


def test_csv_manifest_with_caption_columns_labels_and_audio(tmp_path):
    (tmp_path / "a.png").write_bytes(image_bytes(1))
    (tmp_path / "a.wav").write_bytes(wav_bytes())
    (tmp_path / "m.csv").write_text(
        "key,image,audio,caption,caption_de,labels,audio_type\n"
        "x.1,a.png,a.wav,hello,hallo,1;3,verbal\n"
        ",a.png,,,bonjour?,,\n",
        encoding="utf-8",
    )
    shard_from_manifest(tmp_path / "m.csv", tmp_path / "out", lang="fr")
    first, second = iter_samples(str(tmp_path / "out" / "train-000000.tar"))
    assert first["__key__"] == "x_1" and second["__key__"] == "000000001"
    assert first["meta"] == {
        "captions": {"fr": ["hello"], "de": ["hallo"]},
        "labels": [1, 3],
        "audio": {"type": "verbal"},
    }
    assert first["audio"][1] == 8000 and first["audio"][0].shape == (1, 800)
    assert second["meta"] == {"captions": {"de": ["bonjour?"]}} and second["audio"] is None
    (tmp_path / "bad.csv").write_text("image,labels\na.png,one\n", encoding="utf-8")
    with pytest.raises(ValueError, match="row 1: labels must be integers"):
        shard_from_manifest(tmp_path / "bad.csv", tmp_path / "out3")


@pytest.mark.parametrize("as_tars", [False, True])
def test_img2dataset_folder(tmp_path, as_tars):
    src = tmp_path / "i2d"
    (src / "00000").mkdir(parents=True)
    for i in range(3):
        member = {
            "jpg": image_bytes(i, "JPEG"),
            "txt": f"caption {i}".encode(),
            "json": _canon_json({"url": f"u{i}"}),
        }
        if as_tars:
            with wds.TarWriter(str(src / f"{i:05d}.tar")) as tar:
                tar.write({"__key__": f"0000000{i}", **member})
        else:
            for ext, data in member.items():
                (src / "00000" / f"0000000{i}.{ext}").write_bytes(data)
    (src / "00000_stats.json").write_text("{}")
    assert (
        run_data_cli(
            ["data", "shard", "--from", "img2dataset", str(src), "--out", str(tmp_path / "o"), "--lang", "de"]
        )
        == 0
    )
    got = list(iter_samples(str(tmp_path / "o" / "train-000000.tar")))
    assert [s["__key__"] for s in got] == ["00000000", "00000001", "00000002"]
    assert got[2]["meta"] == {"captions": {"de": ["caption 2"]}, "source": {"url": "u2"}}
    assert got[2]["image"].size == (8, 8)


def test_shard_cli_reports_bad_input(tmp_path, capsys):
    assert (
        run_data_cli(
            ["data", "shard", "--from", "manifest", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path)]
        )
        == 2
    )
    assert "manifest not found" in capsys.readouterr().err


def test_written_members_carry_no_pax_header_and_take_header_plus_padded_data(tmp_path):
    from mlmm.data.writer import ShardSink

    with ShardSink(tmp_path, "w", max_count=10) as sink:
        for i in range(3):
            sink.write({"__key__": f"s{i:05d}", "png": image_bytes(i), "json": _canon_json(_meta(i))})
    path = sink.shards[0].path
    with tarfile.open(path) as tar:
        members = tar.getmembers()
    assert [m.name for m in members][:2] == ["s00000.json", "s00000.png"] and len(members) == 6
    assert all(m.pax_headers == {} and m.mtime == 0 and m.uname == "mlmm" for m in members)
    # one 512-byte header per member (a float mtime added a pax header + record: 1 KiB more per member)
    body = sum(512 + -(-m.size // 512) * 512 for m in members)
    assert body + 1024 <= Path(path).stat().st_size <= body + 10240  # + end blocks, record padding
