"""Evaluator over real tar shards with small fake models: keys, values, primary, reports, ranks, errors."""

import json
import os
import socket

import numpy as np
import pytest
import torch.multiprocessing as mp
from eval_shards import N, answers_for, write_shards
from gloo_group import gloo_group

from mlmm.config import BenchmarkConfig, EvalConfig
from mlmm.eval import Evaluator
from mlmm.eval.captioning import caption_metrics
from mlmm.eval.hashing import hashing_metrics
from mlmm.eval.protocols import Encoder
from mlmm.eval.retrieval import retrieval_metrics
from mlmm.eval.vqa import vqa_accuracy


class FakeEncoder:
    """Image i and any caption ending in i both embed as 2 * onehot(i) - 1 (so codes and cosines agree)."""

    def encode_image(self, images):
        return np.stack([self._vec(img.getpixel((0, 0))[0] // 40) for img in images])

    def encode_text(self, texts, lang):
        return np.stack([self._vec(int(t.split()[-1])) for t in texts])

    @staticmethod
    def _vec(i):
        return 2 * np.eye(N, dtype=np.float32)[i] - 1


class FakeGenerator(FakeEncoder):
    def answer(self, images, questions, lang):
        return ["Yes" for _ in questions]

    def caption(self, images, lang):
        return [f"object {img.getpixel((0, 0))[0] // 40}" for img in images]


def _expected_arrays():
    img = np.stack([FakeEncoder._vec(i) for i in range(N)])
    en = np.stack([FakeEncoder._vec(i) for i in range(N) for _ in range(2)])
    de = np.stack([FakeEncoder._vec((i + 1) % N) for i in range(N)])
    return img, en, de


def _cfg(shards, *tasks, **options) -> EvalConfig:
    benches = [BenchmarkConfig(name="toy", task=t, shards=[shards], languages=["en", "de"] if t == "retrieval" else ["en"], options=dict(options)) for t in tasks]  # fmt: skip
    return EvalConfig(benchmarks=benches, batch_size=4)


def test_fake_encoder_satisfies_the_protocol():
    assert isinstance(FakeEncoder(), Encoder)


def test_retrieval_and_hashing_keys_values_and_reports(tmp_path):
    shards = write_shards(tmp_path / "data")
    out = tmp_path / "out"
    metrics = Evaluator(_cfg(shards, "retrieval", "hashing", num_queries=2, k=3)).run(
        FakeEncoder(), output_dir=out
    )
    img, en, de = _expected_arrays()
    exp_en = retrieval_metrics(img, en, np.repeat(np.arange(N), 2))
    exp_de = retrieval_metrics(img, de, np.arange(N))
    assert exp_en["t2i_r1"] == 100.0 and exp_de["t2i_r1"] == 0.0  # the fixture separates the languages
    for key, value in exp_en.items():
        assert metrics[f"retrieval/toy/en/{key}"] == pytest.approx(value)
        assert metrics[f"retrieval/toy/de/{key}"] == pytest.approx(exp_de[key])
        assert metrics[f"retrieval/toy/mean/{key}"] == pytest.approx((value + exp_de[key]) / 2)
    labels = np.arange(N) % 3
    first_en = np.stack([FakeEncoder._vec(i) for i in range(N)])
    exp_hash = hashing_metrics(img[:2], first_en[2:], labels[:2], labels[2:], k=3)
    for key, value in exp_hash.items():
        assert metrics[f"hashing/toy/{N}bit/i2t/{key}"] == pytest.approx(value)
    assert metrics["primary"] == metrics["retrieval/toy/mean/mean_recall"]
    assert json.loads((out / "metrics.json").read_text()) == pytest.approx(metrics)
    assert "## retrieval/toy" in (out / "metrics.md").read_text()
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert "retrieval_toy.png" in pngs and "hashing_toy_i2t_pr.png" in pngs and len(pngs) == 5
    assert all((out / p).read_bytes()[:4] == b"\x89PNG" for p in pngs)


def test_vqa_and_captioning_with_a_generating_model(tmp_path):
    shards = write_shards(tmp_path / "data")
    cfg = _cfg(shards, "vqa", "captioning", meteor=False)
    cfg.primary = "captioning/toy/en/cider"
    metrics = Evaluator(cfg).run(FakeGenerator())
    expected_vqa = vqa_accuracy(["Yes"] * N, [answers_for(i) for i in range(N)])["accuracy"]
    assert metrics["vqa/toy/accuracy"] == expected_vqa
    assert metrics["vqa/toy/en/accuracy"] == expected_vqa
    assert metrics["vqa/toy/answer_type/yes/no"] == expected_vqa
    refs = [[f"object {i}", f"thing {i}"] for i in range(N)]
    expected_cap = caption_metrics([f"object {i}" for i in range(N)], refs, meteor=False)
    for key, value in expected_cap.items():
        assert metrics[f"captioning/toy/en/{key}"] == pytest.approx(value)
    assert metrics["primary"] == metrics["captioning/toy/en/cider"]


def test_errors_name_the_problem(tmp_path):
    shards = write_shards(tmp_path / "data")
    with pytest.raises(TypeError, match="caption"):
        Evaluator(_cfg(shards, "captioning")).run(FakeEncoder())
    bad = _cfg(shards, "retrieval")
    bad.benchmarks[0].languages = ["fr"]
    with pytest.raises(ValueError, match="no captions in language 'fr'"):
        Evaluator(bad).run(FakeEncoder())
    bad = _cfg(shards, "retrieval")
    bad.primary = "retrieval/toy/xx/t2i_r1"
    with pytest.raises(ValueError, match="eval.primary"):
        Evaluator(bad).run(FakeEncoder())
    with pytest.raises(ValueError, match="empty"):
        Evaluator(EvalConfig())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CountingGenerator(FakeGenerator):
    """Counts model calls: under ZeRO-3 every rank must call the model equally often."""

    calls = 0

    def encode_image(self, images):
        self.calls += 1
        return super().encode_image(images)

    def encode_text(self, texts, lang):
        self.calls += 1
        return super().encode_text(texts, lang)


def _uneven_cfg(shards) -> EvalConfig:
    cfg = _cfg(shards, "retrieval", "vqa", max_samples=5)  # 5 samples on 2 ranks: 3 + 2
    cfg.batch_size = 2
    return cfg


def _worker(rank: int, world: int, port: int, shards: str, out_dir: str) -> None:
    with gloo_group(rank, world, port):
        model = CountingGenerator()
        metrics = Evaluator(_uneven_cfg(shards)).run(model, rank=rank, world_size=world)
        with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as handle:
            json.dump({"metrics": metrics, "calls": model.calls}, handle)


@pytest.mark.slow
def test_two_gloo_ranks_give_the_single_process_metrics(tmp_path):
    shards = write_shards(tmp_path / "data")
    mp.spawn(_worker, args=(2, _free_port(), shards, str(tmp_path)), nprocs=2, join=True)
    single = Evaluator(_uneven_cfg(shards)).run(FakeGenerator())
    results = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    for result in results:
        assert result["metrics"] == pytest.approx(single)
    # rank 0 has 2 image batches and 3+2 caption batches, rank 1 1 and 3+1: padded to equal counts
    assert results[0]["calls"] == results[1]["calls"] == 2 + 3 + 2
