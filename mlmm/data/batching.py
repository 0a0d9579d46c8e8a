"""Turn decoded samples into batch entries (keys from mlmm.data.keys) and collate them.

Per sample (:func:`prepare_sample`), all random choices are a pure function of (seed, epoch, sample key), so a
resumed pipeline makes the same choices:
- the caption language is drawn from ``cfg.languages`` weights among the languages the sample has captions for
  (``json`` ``captions`` plus the ``txt`` member, which counts as ``cfg.txt_language``); then a caption of that
  language uniformly. None available -> skipped as ``missing_caption``; with ``spoken_caption`` a verbal
  clip spoken in a weighted language takes the caption it speaks instead (speech paired with its transcript);
- the pivot caption (``cfg.pivot_language``) has the same index as the chosen caption (modulo the number of
  pivot captions); no pivot caption -> ``missing_pivot``;
- code-switching (``cfg.code_switch``): the source-language caption with the chosen caption's index (modulo),
  words replaced by dictionary translations (:func:`mlmm.text.code_switch.code_switch`) under a private RNG
  seeded from the same triple; no source caption -> ``missing_code_switch_source``;
- QA: ``questions_per_image`` distinct pairs (default one), preferring the chosen language; the batch holds
  one IMAGE row per image, the questions flattened image by image and QUESTION_IMAGE [Q] (each question's image
  row), so a frozen image tower encodes each image once for all its questions; labels: multi-hot over ``transforms.num_labels``;
- random image augmentations run under a private torch RNG seeded from the same triple;
- ``audio_type_rates``: a clip of a listed audio type is kept with that probability (a draw of its own from
  the same triple, made first, so the other draws do not depend on it), else skipped as ``audio_type_rate``.
Texts that will be tokenized (caption, pivot caption, question) longer than :data:`MAX_TEXT_CHARS` are cut to
that length first, with a (rate-limited) warning: far beyond any context length, so real captions tokenize
unchanged, while a pathological 1 MB "caption" cannot stall the tokenizer.
Per batch (:func:`collate`), captions are tokenized per language group (one tokenizer call per language, so
tokenizers that prepend language tags get the right one) and scattered back into ``[B, L]``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from mlmm.config import DatasetConfig
from mlmm.data import keys
from mlmm.data.decode import DecodeError, decode_sample
from mlmm.data.rawstream import derive_seed
from mlmm.data.sample_transforms import SampleTransforms
from mlmm.data.stats import DataStats
from mlmm.data.transforms import audio_features, frames_tensor, spec_augment
from mlmm.text.code_switch import code_switch
from mlmm.text.dictionary import BilingualDictionary, load_dictionaries
from mlmm.text.protocol import TextTokenizer

KNOWN_MODALITIES = ("image", "video", "audio", "text", "labels", "qa")
# Characters kept of a text before tokenization (context lengths are <= 512 tokens of a few characters each).
MAX_TEXT_CHARS = 16_384


@dataclass(frozen=True)
class SamplePlan:
    """What to extract from each sample; validated once against the transforms (clear errors, before work)."""

    cfg: DatasetConfig
    transforms: SampleTransforms
    seed: int
    # code-switch target -> dictionary, loaded in __post_init__ from cfg.code_switch (empty: off)
    dictionaries: dict[str, BilingualDictionary] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        mods, tf = set(self.cfg.modalities), self.transforms
        unknown = mods - set(KNOWN_MODALITIES)
        if unknown:
            raise ValueError(f"data modalities: unknown {sorted(unknown)} (known: {list(KNOWN_MODALITIES)})")
        if mods & {"image", "video"} and tf.image is None:
            raise ValueError("data modalities include image/video but SampleTransforms.image is None")
        if mods & {"text", "qa"} and tf.tokenizer is None:
            raise ValueError("data modalities include text/qa but SampleTransforms.tokenizer is None")
        if "labels" in mods and tf.num_labels <= 0:
            raise ValueError("data modalities include labels but SampleTransforms.num_labels is 0")
        if self.cfg.pivot_language and (tf.pivot_tokenizer or tf.tokenizer) is None:
            raise ValueError("data.pivot_language is set but no (pivot) tokenizer is available")
        if self.cfg.questions_per_image < 1:
            raise ValueError(f"data.questions_per_image must be >= 1, got {self.cfg.questions_per_image}")
        weighted = [lang for lang, w in self.cfg.languages.items() if w > 0]
        if not weighted:
            raise ValueError(f"data.languages has no language with a positive weight: {self.cfg.languages}")
        missing = [lang for lang in weighted if lang not in tf.languages]
        if missing:
            raise ValueError(f"data.languages {missing} are not in the run's language list {tf.languages}")
        object.__setattr__(self, "dictionaries", self._code_switch_dictionaries(weighted))

    def _code_switch_dictionaries(self, weighted: list[str]) -> dict[str, BilingualDictionary]:
        """target -> dictionary (empty when code-switching is off); loaded once, before any sample."""
        cs = self.cfg.code_switch
        if not cs.enabled:
            return {}
        if self.transforms.tokenizer is None or cs.source not in self.transforms.languages:
            raise ValueError(
                f"data code_switch: source {cs.source!r} needs a tokenizer and must be in the run's "
                f"language list {self.transforms.languages}"
            )
        targets = [lang for lang in (cs.languages or weighted) if lang != cs.source]
        if not targets:
            raise ValueError("data code_switch: no target language besides the source")
        return load_dictionaries(cs.dictionaries, cs.source, targets)

    @property
    def need(self) -> tuple[str, ...]:
        """Media to decode (see mlmm.data.decode.MEDIA)."""
        mods = self.cfg.modalities
        return tuple(
            m for m, mod in (("image", "image"), ("frames", "video"), ("audio", "audio")) if mod in mods
        )

    @property
    def wants_caption(self) -> bool:
        return "text" in self.cfg.modalities or self.cfg.pivot_language is not None


def sample_captions(meta: dict, txt: str | None, txt_language: str) -> dict[str, list[str]]:
    """``{lang: [caption, ...]}`` from the json ``captions`` field plus the ``txt`` member."""
    raw = meta.get("captions", {})
    if not isinstance(raw, dict):
        raise DecodeError(
            "bad_json", f"captions must map language -> list of strings, got {type(raw).__name__}"
        )
    captions: dict[str, list[str]] = {}
    for lang, texts in raw.items():
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise DecodeError("bad_json", f"captions[{lang!r}] must be a list of strings")
        captions[str(lang)] = [t for t in texts if t.strip()]
    if txt:
        captions.setdefault(txt_language, [])
        if txt not in captions[txt_language]:
            captions[txt_language].append(txt)
    return captions


def spoken_choice(
    meta: dict, captions: dict[str, list[str]], weights: dict[str, float]
) -> tuple[str, int] | None:
    """(language, index) of the caption a verbal clip speaks (``json`` ``audio.lang`` / ``caption_index``) when
    that language is weighted and the caption exists; None otherwise (non-verbal, or an unweighted language)."""
    audio = meta.get("audio") or {}
    lang, index = audio.get("lang"), audio.get("caption_index", 0)
    if audio.get("type") != "verbal" or weights.get(lang, 0) <= 0 or not isinstance(index, int):
        return None
    return (lang, index) if 0 <= index < len(captions.get(lang) or []) else None


def choose_caption(
    captions: dict[str, list[str]], weights: dict[str, float], rng: random.Random
) -> tuple[str, int] | None:
    """Draw (language, caption index): language by weight among those with captions, then index uniformly."""
    available = [(lang, w) for lang, w in weights.items() if w > 0 and captions.get(lang)]
    if not available:
        return None
    lang = rng.choices([a[0] for a in available], weights=[a[1] for a in available])[0]
    return lang, rng.randrange(len(captions[lang]))


def choose_qa(meta: dict, lang: str | None, weights: dict[str, float], rng: random.Random) -> dict | None:
    """One QA pair: in ``lang`` when the sample has one there, else in any weighted language."""
    preferred = _qa_pool(meta, lang, weights)
    return rng.choice(preferred) if preferred else None


def choose_qas(
    meta: dict, lang: str | None, weights: dict[str, float], rng: random.Random, count: int
) -> list[dict]:
    """``count`` distinct QA pairs of one image (all of them when it has fewer), drawn without replacement
    from the pool of :func:`choose_qa`; ``count == 1`` is exactly :func:`choose_qa` (same RNG draw)."""
    if count == 1:
        one = choose_qa(meta, lang, weights, rng)
        return [] if one is None else [one]
    pool = _qa_pool(meta, lang, weights)
    return rng.sample(pool, min(count, len(pool)))


def _qa_pool(meta: dict, lang: str | None, weights: dict[str, float]) -> list[dict]:
    pairs = meta.get("qa", [])
    if not isinstance(pairs, list):
        raise DecodeError("bad_json", "qa must be a list")
    valid = [
        p
        for p in pairs
        if isinstance(p, dict) and isinstance(p.get("question"), str) and isinstance(p.get("answers"), list)
    ]
    return [p for p in valid if p.get("lang") == lang] or [
        p for p in valid if weights.get(p.get("lang"), 0) > 0
    ]


def multi_hot(labels: Any, num_labels: int) -> torch.Tensor:
    """``[i, j, ...]`` (ints in ``[0, num_labels)``) -> float [num_labels] with 1 at each label."""
    if not isinstance(labels, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in labels
    ):
        raise DecodeError("bad_labels", f"labels must be a list of integers, got {labels!r:.80}")
    bad = [i for i in labels if not 0 <= i < num_labels]
    if bad:
        raise DecodeError("bad_labels", f"labels {bad} outside [0, {num_labels})")
    out = torch.zeros(num_labels)
    out[labels] = 1.0
    return out


def capped_text(text: str, what: str, sample: dict, stats: DataStats) -> str:
    """``text`` cut to :data:`MAX_TEXT_CHARS` characters, with a warning naming the sample when it was longer."""
    if len(text) <= MAX_TEXT_CHARS:
        return text
    detail = f"{what} of {len(text)} characters cut to {MAX_TEXT_CHARS} before tokenization"
    stats.warn("long_text", sample["__key__"], sample["__url__"], detail)
    return text[:MAX_TEXT_CHARS]


def _with_private_rng(seed: int, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` with torch's CPU RNG seeded by ``seed``; the caller's RNG state is restored afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(
            seed % (2**63)
        )  # CPU only: torch.manual_seed also queues CUDA seeding (slow)
        return fn()


def _media_entries(sample: dict, plan: SamplePlan, aug_seed: int) -> dict[str, Any]:
    mods, tf, out = plan.cfg.modalities, plan.transforms, {}
    if "image" in mods:
        if sample["image"] is None:
            raise DecodeError("missing_image", "no jpg/png/webp member")
        out[keys.IMAGE] = _with_private_rng(aug_seed, lambda: tf.image(sample["image"]))
    if "video" in mods:
        if not sample["frames"]:
            raise DecodeError("missing_video", "no frameNNN members")
        fn = lambda: frames_tensor(sample["frames"], tf.image, plan.cfg.num_frames)  # noqa: E731
        out[keys.VIDEO] = _with_private_rng(aug_seed, fn)
    if "audio" in mods:
        if sample["audio"] is None:
            raise DecodeError("missing_audio", "no flac/wav member")
        try:
            feats, mask = audio_features(*sample["audio"], tf.audio or plan.cfg.audio)
        except (ValueError, RuntimeError) as exc:
            raise DecodeError("bad_audio", str(exc)) from None
        masking = plan.cfg.spec_augment
        if masking.freq_masks or masking.time_masks:
            feats = _with_private_rng(aug_seed + 1, lambda: spec_augment(feats, mask, masking))
        audio_type = (sample["meta"].get("audio") or {}).get("type", "nonverbal")
        if audio_type not in keys.AUDIO_TYPES:
            raise DecodeError("bad_json", f"audio.type {audio_type!r} not in {list(keys.AUDIO_TYPES)}")
        out.update({keys.AUDIO: feats, keys.AUDIO_MASK: mask, keys.AUDIO_TYPE: keys.AUDIO_TYPES[audio_type]})
    return out


def _text_entries(
    sample: dict, plan: SamplePlan, rng: random.Random, stats: DataStats, epoch: int
) -> dict[str, Any]:
    cfg, out = plan.cfg, {}
    lang = None
    if plan.wants_caption:
        captions = sample_captions(sample["meta"], sample["txt"], cfg.txt_language)
        choice = choose_caption(captions, cfg.languages, rng)  # drawn always, so later draws do not shift
        if cfg.spoken_caption and "audio" in cfg.modalities:
            choice = spoken_choice(sample["meta"], captions, cfg.languages) or choice
        if choice is None:
            raise DecodeError("missing_caption", f"no caption in {list(cfg.languages)}; has {list(captions)}")
        lang, index = choice
        out.update({keys.TEXT: capped_text(captions[lang][index], "caption", sample, stats), keys.LANG: lang})
        out[keys.REFERENCES] = list(captions[lang])
        out[keys.LANG_ID] = plan.transforms.languages.index(lang)
        if cfg.pivot_language:
            pivots = captions.get(cfg.pivot_language)
            if not pivots:
                raise DecodeError("missing_pivot", f"no {cfg.pivot_language!r} caption")
            out[keys.PIVOT_TEXT] = capped_text(pivots[index % len(pivots)], "pivot caption", sample, stats)
        if plan.dictionaries:
            out[keys.CS_TEXT] = _code_switched(captions, index, plan, sample, stats, epoch)
    if "labels" in cfg.modalities:
        out[keys.LABELS] = multi_hot(sample["meta"].get("labels", []), plan.transforms.num_labels)
    if "qa" in cfg.modalities:
        pairs = choose_qas(sample["meta"], lang, cfg.languages, rng, cfg.questions_per_image)
        if not pairs:
            raise DecodeError("missing_qa", "no question in a requested language")
        out.update({
            "question": [capped_text(qa["question"], "question", sample, stats) for qa in pairs],
            "question_lang": [qa.get("lang") for qa in pairs],
            keys.ANSWERS: [qa["answers"] for qa in pairs],
        })  # fmt: skip
    return out


def _code_switched(
    captions: dict, index: int, plan: SamplePlan, sample: dict, stats: DataStats, epoch: int
) -> str:
    cs = plan.cfg.code_switch
    sources = captions.get(cs.source)
    if not sources:
        raise DecodeError("missing_code_switch_source", f"no {cs.source!r} caption to code-switch")
    text = capped_text(sources[index % len(sources)], "code-switch caption", sample, stats)
    rng = random.Random(derive_seed(plan.seed, epoch, sample["__key__"], "code-switch"))
    return code_switch(text, plan.dictionaries, cs.ratio, rng).text


def _keep_audio_type(sample: dict, plan: SamplePlan, epoch: int) -> None:
    """Raise ``audio_type_rate`` for a clip that ``data.*.audio_type_rates`` leaves out (kept with its type's
    rate; unlisted types always), by a draw seeded from (seed, epoch, key)."""
    rates = plan.cfg.audio_type_rates
    if not rates:
        return
    kind = (sample["meta"].get("audio") or {}).get("type", "nonverbal")
    rate = rates.get(kind, 1.0)
    seed = derive_seed(plan.seed, epoch, sample["__key__"], "audio_type_rate")
    if rate < 1.0 and random.Random(seed).random() >= rate:
        raise DecodeError("audio_type_rate", f"{kind} clip left out (kept at rate {rate})")


def prepare_sample(raw: dict, plan: SamplePlan, epoch: int, stats: DataStats) -> dict | None:
    """Raw sample -> per-sample batch entries, or None (counted in ``stats``) when it cannot be used."""
    sample = decode_sample(raw, stats, plan.need)
    if sample is None:
        return None
    key = sample["__key__"]
    try:
        _keep_audio_type(sample, plan, epoch)
        out = {keys.SAMPLE_KEY: key}
        text_rng = random.Random(derive_seed(plan.seed, epoch, key, "text"))
        out.update(_text_entries(sample, plan, text_rng, stats, epoch))
        out.update(_media_entries(sample, plan, derive_seed(plan.seed, epoch, key, "augment")))
    except DecodeError as exc:
        stats.skip(exc.reason, key, sample["__url__"], exc.detail)
        return None
    stats.samples += 1
    return out


def tokenize_grouped(
    tokenizer: TextTokenizer, texts: list[str], langs: list[str | None]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokenize ``texts`` with one call per language; returns ids/mask long [B, L] in the input order."""
    ids = torch.full((len(texts), tokenizer.context_length), tokenizer.pad_id, dtype=torch.long)
    mask = torch.zeros((len(texts), tokenizer.context_length), dtype=torch.long)
    for lang in dict.fromkeys(langs):  # first-appearance order: deterministic
        rows = [i for i, item in enumerate(langs) if item == lang]
        group_ids, group_mask = tokenizer([texts[i] for i in rows], lang)
        ids[rows], mask[rows] = group_ids.long(), group_mask.long()
    return ids, mask


def collate(items: list[dict], plan: SamplePlan) -> dict[str, Any]:
    """Per-sample entries -> batch dict: tensors stacked, ints -> long [B], captions tokenized [B, L]."""
    tf, batch = plan.transforms, {keys.SAMPLE_KEY: [it[keys.SAMPLE_KEY] for it in items]}
    for key in (keys.IMAGE, keys.VIDEO, keys.AUDIO, keys.AUDIO_MASK, keys.LABELS):
        if key in items[0]:
            batch[key] = torch.stack([it[key] for it in items])
    for key in (keys.AUDIO_TYPE, keys.LANG_ID):
        if key in items[0]:
            batch[key] = torch.tensor([it[key] for it in items], dtype=torch.long)
    if keys.TEXT in items[0]:
        batch[keys.TEXT] = [it[keys.TEXT] for it in items]
        batch[keys.LANG] = [it[keys.LANG] for it in items]
        if keys.REFERENCES in items[0]:
            batch[keys.REFERENCES] = [it[keys.REFERENCES] for it in items]
        if tf.tokenizer is not None:
            batch[keys.TEXT_IDS], batch[keys.TEXT_MASK] = tokenize_grouped(
                tf.tokenizer, batch[keys.TEXT], batch[keys.LANG]
            )
    if keys.PIVOT_TEXT in items[0]:
        batch[keys.PIVOT_TEXT] = [it[keys.PIVOT_TEXT] for it in items]
        pivot_langs = [plan.cfg.pivot_language] * len(items)
        pivot_tok = tf.pivot_tokenizer or tf.tokenizer
        batch[keys.PIVOT_IDS], batch[keys.PIVOT_MASK] = tokenize_grouped(
            pivot_tok, batch[keys.PIVOT_TEXT], pivot_langs
        )
    if keys.CS_TEXT in items[0]:
        batch[keys.CS_TEXT] = [it[keys.CS_TEXT] for it in items]
        cs_langs = [plan.cfg.code_switch.source] * len(items)
        batch[keys.CS_IDS], batch[keys.CS_MASK] = tokenize_grouped(
            tf.tokenizer, batch[keys.CS_TEXT], cs_langs
        )
    if "question" in items[0]:
        # questions flattened image by image: [Q] with Q = sum of each image's question count
        questions = [q for it in items for q in it["question"]]
        qlangs = [q for it in items for q in it["question_lang"]]
        batch[keys.QUESTION_IDS], batch[keys.QUESTION_MASK] = tokenize_grouped(
            tf.tokenizer, questions, qlangs
        )
        batch[keys.ANSWERS] = [a for it in items for a in it[keys.ANSWERS]]
        batch[keys.QUESTION_LANG] = qlangs
        batch[keys.QUESTION_IMAGE] = torch.tensor(
            [row for row, it in enumerate(items) for _ in it["question"]], dtype=torch.long
        )
    return batch
