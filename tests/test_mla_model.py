"""MLA model: acquirer identity, reuse of CLIP's frozen text path, routing, freezing, language groups."""

from __future__ import annotations

import open_clip
import pytest
import torch

from mlmm.models.clip import CLIPModel
from mlmm.models.mla import MLA
from mlmm.models.towers.acquirer import Acquirer
from mlmm.settings import MLASettings

WIDTH = 32
CONTEXT = 16
CLIP_VOCAB = 64


def tiny_clip(seed: int = 0) -> CLIPModel:
    torch.manual_seed(seed)
    return CLIPModel(
        open_clip.CLIP(
            embed_dim=24,
            vision_cfg=dict(image_size=32, layers=1, width=32, patch_size=8, head_width=16),
            text_cfg=dict(context_length=CONTEXT, vocab_size=CLIP_VOCAB, width=WIDTH, heads=2, layers=2),
            output_dict=True,
        )
    )


def tiny_mla(languages=("en", "de", "fr"), **kw) -> MLA:
    return MLA(tiny_clip(), list(languages), MLASettings(vocab_size=50, **kw))


def random_text(batch: int = 4, length: int = 10, lengths=(10, 6, 3, 8), seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 50, (batch, length), generator=g)
    mask = torch.zeros(batch, length, dtype=torch.long)
    for row, n in enumerate(lengths[:batch]):
        mask[row, :n] = 1
    return ids * mask, mask


def test_acquirer_is_identity_at_init_and_not_after_an_update():
    acq = Acquirer(WIDTH)
    assert acq.down.out_features == WIDTH // 2 and acq.up.out_features == WIDTH
    x = torch.randn(3, 5, WIDTH)
    assert torch.equal(acq(x), x)
    with torch.no_grad():
        acq.up.weight.fill_(0.1)
    assert not torch.allclose(acq(x), x)


def test_fresh_mla_equals_clip_text_path_fed_with_clip_embeddings():
    """With the language embedding set to CLIP's token table (identity map) and identity acquirers, the acquired
    path must reproduce ``clip.encode_text`` exactly: same positions, blocks, final norm, pooling, projection."""
    model = MLA(tiny_clip(), ["en", "de"], MLASettings(vocab_size=CLIP_VOCAB))
    emb = model.embeddings["de"]
    with torch.no_grad():
        emb.word.weight.copy_(model.clip.clip.token_embedding.weight)
        emb.to_width.weight.copy_(torch.eye(WIDTH))
        emb.to_width.bias.zero_()
    eot = CLIP_VOCAB - 1  # open_clip pools at argmax id, i.e. the EOT token ending each caption
    ids = torch.zeros(3, CONTEXT, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, n in enumerate((5, 9, 16)):
        ids[row, : n - 1] = torch.randint(1, eot, (n - 1,))
        ids[row, n - 1] = eot
        mask[row, :n] = 1
    expected, clip_states = model.clip.text_layers(ids)
    torch.testing.assert_close(expected, model.clip.encode_text(ids, normalize=False))
    got, states = model.encode_acquired(ids, mask, ["de"] * 3)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    for mine, theirs in zip(states, clip_states, strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-6)


def test_padding_beyond_the_last_token_does_not_change_the_feature():
    model = tiny_mla()
    ids, mask = random_text(lengths=(10, 6, 3, 8))
    langs = ["de"] * 4
    base, _ = model.encode_acquired(ids, mask, langs)
    noisy = ids.clone()
    noisy[mask == 0] = 7  # garbage in padded slots
    other, _ = model.encode_acquired(noisy, mask, langs)
    torch.testing.assert_close(base, other)
    shorter, _ = model.encode_acquired(ids[:, :8], mask[:, :8], langs)  # less padding
    torch.testing.assert_close(base[1:], shorter[1:], rtol=1e-5, atol=1e-6)


def test_mixed_language_batch_equals_per_language_batches_in_input_order():
    model = tiny_mla()
    with torch.no_grad():  # make the languages differ
        model.embeddings["fr"].word.weight.mul_(3.0)
    ids, mask = random_text()
    langs = ["fr", "de", "fr", "de"]
    mixed, _ = model.encode_acquired(ids, mask, langs)
    for lang in ("de", "fr"):
        rows = [i for i, lg in enumerate(langs) if lg == lang]
        alone, _ = model.encode_acquired(ids[rows], mask[rows], [lang] * len(rows))
        torch.testing.assert_close(mixed[rows], alone, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(mixed[0], model.encode_acquired(ids[:1], mask[:1], ["de"])[0][0])


def test_english_goes_through_untouched_clip_and_mixing_tokenizers_is_an_error():
    model = tiny_mla()
    clip_ids = torch.randint(1, CLIP_VOCAB, (2, CONTEXT))
    torch.testing.assert_close(model.encode_text(clip_ids, lang="en"), model.clip.encode_text(clip_ids))
    ids, mask = random_text(batch=2, lengths=(4, 7))
    with pytest.raises(ValueError, match="mixes English"):
        model.encode_text(ids, mask, lang=["en", "de"])
    with pytest.raises(KeyError, match=r"'xx' is not supported.*add-language"):
        model.encode_text(ids, mask, lang="xx")
    long_ids = torch.ones(1, CONTEXT + 1, dtype=torch.long)
    with pytest.raises(ValueError, match="context length"):
        model.encode_text(long_ids, torch.ones_like(long_ids), lang="de")


def test_only_embeddings_map_and_acquirers_train_and_clip_gets_no_gradient():
    model = tiny_mla()
    model.train()
    assert not model.clip.training, "the frozen CLIP must stay in eval mode"
    ids, mask = random_text()
    feats, _ = model.encode_acquired(ids, mask, ["de", "fr", "de", "fr"])
    feats.pow(2).sum().backward()
    for name, p in model.clip.named_parameters():
        assert not p.requires_grad and p.grad is None, name
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {n for n, _ in model.embeddings.named_parameters(prefix="embeddings")} | {
        n for n, _ in model.acquirers.named_parameters(prefix="acquirers")
    }
    assert all(model.get_parameter(n).grad is not None for n in trainable)
    n_train, n_total = model.parameter_counts()
    per_lang = 50 * WIDTH + WIDTH * WIDTH + WIDTH + 2 * (WIDTH * 16 + 16 + 16 * WIDTH + WIDTH)
    assert n_train == 2 * per_lang
    assert n_total == n_train + sum(p.numel() for p in model.clip.parameters())


def test_shared_groups_and_languages_with_their_own_group():
    model = tiny_mla(
        languages=("en", "de", "fr", "ja"), acquirers="shared", embeddings="shared", own_languages=["ja"]
    )
    assert sorted(model.embeddings) == ["ja", "shared"] and sorted(model.acquirers) == ["ja", "shared"]
    assert set(model.language_parameters("de")) == set(model.language_parameters("fr"))
    model.set_trainable_languages(["ja"])
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {
        n for n in model.language_parameters("ja")
    }
    with pytest.raises(ValueError, match=r"shared embeddings also used by \['fr'\]"):
        model.set_trainable_languages(["de"])
    model.set_trainable_languages(["de", "fr"])
    assert all(p.requires_grad for p in model.language_parameters("fr").values())
    assert not any(p.requires_grad for p in model.language_parameters("ja").values())
