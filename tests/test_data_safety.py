"""Bad input: every good sample still arrives, bad ones are counted by reason, nothing is ever unpickled."""

from __future__ import annotations

import pathlib
import pickle

import pytest
from data_factory import image_bytes, make_transforms, sample, wav_bytes

from mlmm.config import AudioFeatureConfig, DatasetConfig
from mlmm.data import keys
from mlmm.data.decode import DecodeError, decode_audio, decode_image, decode_json, is_rejected
from mlmm.data.pipeline import build_loader, iter_samples
from mlmm.data.stats import DataStats
from mlmm.data.writer import ShardSink


class _Trap:
    """Unpickling this creates the file ``path``: proof that something was unpickled."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path

    def __reduce__(self):
        return (pathlib.Path.touch, (self.path,))


def _bad_shard(tmp_path) -> tuple[str, pathlib.Path]:
    """good 0-2, corrupt JPEG, garbage PNG, bad audio, malformed json, pyd+pickle members, only-ja, good 9."""
    trap = tmp_path / "unpickled"
    jpeg = image_bytes(3, "JPEG", size=32)
    with ShardSink(tmp_path, "bad", max_count=100) as sink:
        for i in range(3):
            sink.write(sample(i, audio=True))
        sink.write(
            {
                "__key__": "s00003",
                "jpg": jpeg[: len(jpeg) // 2],
                "json": sample(3)["json"],
                "wav": wav_bytes(),
            }
        )
        sink.write({**sample(4, audio=True), "png": b"\x89PNG not really"})
        sink.write({**sample(5), "wav": b"RIFF....WAVEfmt garbage"})
        sink.write({**sample(6, audio=True), "json": b'{"captions": {"en": ["unterminated'})
        sink.write(
            {**sample(7, audio=True), "pyd": pickle.dumps(_Trap(trap)), "pickle": pickle.dumps(_Trap(trap))}
        )
        sink.write({**sample(8, audio=True), "json": {"captions": {"ja": ["日本語のキャプション"]}}})
        sink.write(sample(9, audio=True))
    return str(tmp_path / "bad-000000.tar"), trap


def test_iter_samples_skips_and_counts_bad_members(tmp_path):
    shard, trap = _bad_shard(tmp_path)
    stats = DataStats()
    got = [s["__key__"] for s in iter_samples(shard, stats=stats)]
    assert got == ["s00000", "s00001", "s00002", "s00007", "s00008", "s00009"]
    assert stats.as_dict() == {
        "samples": 6,
        "skipped": {"bad_audio": 1, "bad_json": 1, "corrupt_image": 2},
        "rejected": 2,
    }
    assert not trap.exists()  # the pyd/pickle members were never unpickled


def test_loader_counts_missing_captions_and_keeps_every_good_sample(tmp_path):
    shard, trap = _bad_shard(tmp_path)
    cfg = DatasetConfig(
        shards=[shard], languages={"en": 1.0}, modalities=["image", "audio", "text"], shuffle_buffer=0
    )
    tf = make_transforms(audio=AudioFeatureConfig(sample_rate=8000, max_frames=20, num_mel_bins=16))
    loader = build_loader(cfg, tf, batch_size=2, seed=0, loop=False, drop_last=False, shuffle=False)
    got = [k for b in loader for k in b[keys.SAMPLE_KEY]]
    assert got == [
        "s00000",
        "s00001",
        "s00002",
        "s00007",
        "s00009",
    ]  # s00007 kept: its pickles dropped unread
    assert loader.stats() == {
        "samples": 5,
        "skipped": {"bad_audio": 1, "bad_json": 1, "corrupt_image": 2, "missing_caption": 1},
        "rejected": 2,
    }
    assert not trap.exists()


def test_truncated_tar_delivers_the_samples_before_the_cut(tmp_path):
    with ShardSink(tmp_path, "cut", max_count=100) as sink:
        for i in range(5):
            sink.write(sample(i))
    path = tmp_path / "cut-000000.tar"
    data = path.read_bytes()
    # cut inside the data of sample 3's png (located by its colour-coded bytes)
    cut = data.index(image_bytes(3)) + 20
    path.write_bytes(data[:cut])
    stats = DataStats()
    got = [s["__key__"] for s in iter_samples([str(path), str(path)], stats=stats)]
    assert got == ["s00000", "s00001", "s00002"] * 2  # the next shard still runs after a truncated one
    assert stats.skipped == {"truncated_tar": 2}


def test_unreadable_shard_is_counted_not_fatal(tmp_path):
    (tmp_path / "junk.tar").write_bytes(b"this is not a tar file" * 10)
    stats = DataStats()
    assert list(iter_samples(str(tmp_path / "junk.tar"), stats=stats)) == []
    assert stats.skipped == {"unreadable_shard": 1}


@pytest.mark.parametrize("name", ["x.pyd", "x.pickle", "x.pkl", "x.pth", "x.pt", "frame001.PTH"])
def test_pickle_bearing_extensions_are_rejected(name):
    assert is_rejected(name)


def test_decoders_raise_with_reasons():
    with pytest.raises(DecodeError) as err:
        decode_image(b"GIF89a-nope")
    assert err.value.reason == "corrupt_image"
    with pytest.raises(DecodeError) as err:
        decode_audio(b"fLaC" + b"\0" * 40)
    assert err.value.reason == "bad_audio"
    with pytest.raises(DecodeError, match="JSON object"):
        decode_json(b"[1, 2]")
    waveform, rate = decode_audio(wav_bytes(seconds=0.05, sample_rate=8000))
    assert waveform.shape == (1, 400) and rate == 8000


def test_failing_pipe_command_is_counted_and_the_next_shard_still_read(tmp_path):
    with ShardSink(tmp_path, "ok", max_count=10) as sink:
        sink.write(sample(0))
    stats = DataStats()
    specs = [f"pipe:cat {tmp_path}/missing.tar", str(tmp_path / "ok-000000.tar")]
    assert [s["__key__"] for s in iter_samples(specs, stats=stats)] == ["s00000"]
    assert stats.skipped == {"unreadable_shard": 1}
