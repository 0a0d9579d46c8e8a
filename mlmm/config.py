"""One config system: typed dataclasses are the schema, YAML/JSON only its serialisation.

Contract
--------
* ``load_config(recipe, overrides)`` reads a YAML recipe, merges its ``include:`` fragments (paths relative to
  the including file; the including file wins), applies dotted CLI overrides (``train.max_steps=10``; values are
  parsed as YAML scalars), and converts the result into :class:`RunConfig`.
* Every error (unknown key, wrong type, missing file, empty shard list, bad override) raises
  :class:`ConfigError` whose message names the dotted key (or path) and the recipe file, before any work starts.
* ``to_dict`` / ``dump_yaml`` give the resolved config; ``from_dict`` rebuilds it (used by checkpoints).

Adding a setting = adding a dataclass field with a default and a docstring comment; nothing else to register.
Fields whose ``metadata`` has ``{"path": True}`` must name an existing file or folder; ``{"shards": True}``
fields are shard specs whose brace expansion must be non-empty and exist on disk (``pipe:`` / URLs excepted).
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from mlmm.feature_config import AudioFeatureConfig, SpecAugmentConfig
from mlmm.settings import FAMILY_SETTINGS, HEAD_SETTINGS, OBJECTIVE_LOSSES, NoSettings


class ConfigError(ValueError):
    """A recipe problem; the message names the key (or path) and the recipe file."""


def chosen_type(owner: Any, name: str) -> type:
    """The dataclass a ``chosen_by`` field of ``owner`` must hold: ``table[owner.<tag>]``, or
    :class:`~mlmm.settings.NoSettings` for a tag the table lacks (e.g. a test's own objective)."""
    meta = {f.name: f for f in dataclasses.fields(owner)}[name].metadata
    return meta["table"].get(getattr(owner, meta["chosen_by"]), NoSettings)


def _chosen_instance(owner: Any, name: str) -> Any:
    """``owner.<name>`` defaulted to (or checked against) the dataclass chosen by its tag field."""
    value, expected = getattr(owner, name), chosen_type(owner, name)
    if value is None:
        return expected()
    if not isinstance(value, expected):
        tag = {f.name: f for f in dataclasses.fields(owner)}[name].metadata["chosen_by"]
        raise ConfigError(
            f"{name}: {type(value).__name__} given, but {tag}={getattr(owner, tag)!r} takes {expected.__name__}"
        )
    return value


def _path_field(default: Any = None, **kw: Any) -> Any:
    return field(default=default, metadata={"path": True, **kw})


# --------------------------------------------------------------------------------------------------- schema


@dataclass
class TokenizerConfig:
    """Which tokenizer turns captions into ids (built by ``mlmm.text.build_tokenizer``)."""

    kind: Literal["open_clip", "sentencepiece", "hf"] = "open_clip"
    name: str = "ViT-B-32"  # open_clip model name | sentencepiece .model path | HF name or local path
    context_length: int = 77


@dataclass
class CodeSwitchConfig:
    """A code-switched copy of each caption (``mlmm.text.code_switch``, M3P's multimodal code-switched
    training): the ``source``-language caption with the chosen caption's index, each word a dictionary
    translates replaced with probability ``ratio`` by its translation into a random language of ``languages``
    (empty: the dataset's weighted languages except the source), from ``dictionaries``, a folder of MUSE files
    ``SRC-T.txt`` (``mlmm data dictionary`` writes the synthetic corpus' own). Emits CS_TEXT / CS_IDS /
    CS_MASK (tokenized with the source language's tag); seeded per (seed, epoch, sample key). ratio 0 = off."""

    ratio: float = 0.0
    dictionaries: str | None = field(default=None, metadata={"path": True})
    source: str = "en"
    languages: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 0.0 <= self.ratio <= 1.0:
            raise ConfigError(f"code_switch.ratio must be in [0, 1], got {self.ratio}")
        if self.ratio > 0 and self.dictionaries is None:
            raise ConfigError(
                "code_switch.ratio > 0 needs code_switch.dictionaries (a folder of SRC-T.txt files)"
            )

    @property
    def enabled(self) -> bool:
        return self.ratio > 0


@dataclass
class DatasetConfig:
    """One WebDataset source: shards plus how to turn samples into batch entries."""

    shards: list[str] = field(default_factory=list, metadata={"shards": True})
    languages: dict[str, float] = field(default_factory=lambda: {"en": 1.0})  # language -> sampling weight
    pivot_language: str | None = None  # also emit the parallel caption in this language (PIVOT_* keys)
    txt_language: str = "en"  # language of img2dataset-style ``txt`` captions
    modalities: list[str] = field(
        default_factory=lambda: ["image", "text"]
    )  # image|video|audio|text|labels|qa
    resampled: bool = False  # infinite, seeded resampling of shards (else epoch mode)
    shuffle_buffer: int = 1000
    num_workers: int = 0
    num_samples: int | None = None  # epoch length hint for resampled mode / progress bars
    image_size: int | None = None  # overrides the model's image size for preprocessing
    # qa: questions drawn per image (distinct, without replacement; fewer when the image has fewer). The batch
    # keeps one IMAGE row per image and QUESTION_IMAGE maps each question to it, so the frozen tower encodes
    # each image once for all of its questions (mlmm.data.batching.choose_qas).
    questions_per_image: int = 1
    num_frames: int = 8  # video: frames per clip (evenly subsampled, or the last repeated)
    audio: AudioFeatureConfig = field(default_factory=AudioFeatureConfig)
    spec_augment: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)  # train-time audio masking
    code_switch: CodeSwitchConfig = field(default_factory=CodeSwitchConfig)  # CS_* keys (MLMM's cs task)
    # speech is paired with its transcript: a verbal clip whose json audio.lang has a positive weight in
    # ``languages`` takes the caption it speaks (audio.caption_index) instead of a drawn one
    spoken_caption: bool = False
    # audio type (nonverbal | verbal) -> fraction of its clips kept each epoch (types not named: all); a seeded
    # draw per (seed, epoch, sample key), so resume stays exact; dropped clips count as ``audio_type_rate``
    # (e.g. {nonverbal: 0.25}: a speech-weighted batch)
    audio_type_rates: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from mlmm.data.keys import AUDIO_TYPES  # a leaf module of names, no imports

        for kind, rate in self.audio_type_rates.items():
            if kind not in AUDIO_TYPES:
                raise ConfigError(
                    f"audio_type_rates: {kind!r} is not an audio type ({', '.join(AUDIO_TYPES)})"
                )
            if not 0.0 < rate <= 1.0:
                raise ConfigError(f"audio_type_rates.{kind} must be in (0, 1], got {rate}")
        if self.audio_type_rates and "audio" not in self.modalities:
            raise ConfigError("audio_type_rates needs 'audio' in modalities")


@dataclass
class DataConfig:
    train: DatasetConfig = field(default_factory=DatasetConfig)
    val: DatasetConfig | None = None


@dataclass
class TowerConfig:
    """A tower: open_clip model name / JSON preset, or a transformers architecture."""

    source: Literal["open_clip", "hf", "none"] = "open_clip"
    name: str = (
        "ViT-B-32"  # open_clip model name or mlmm preset (mlmm/model_configs/NAME.json) or HF name/path
    )
    pretrained: str | None = None  # open_clip tag or local checkpoint path; HF: loaded by name/path when set
    embed_dim: int | None = None  # projection width (defaults to the preset's)
    pooling: Literal["cls", "mean"] = "mean"  # HF towers
    lr_mult: float = 1.0
    frozen: bool = False
    grad_checkpointing: bool = False
    tokenizer: TokenizerConfig | None = None  # None: the preset's "tokenizer" entry, else the tower's default


Modality = Literal["vision", "text", "audio"]


@dataclass
class HeadConfig:
    """A downstream head on top of the family's model (the backbone); see ``mlmm/models/heads/base.py``."""

    kind: str = ""  # a key of mlmm.models.heads.HEADS (hashing | vqa | captioning as they land)
    # frozen: no grad, eval mode, outside the optimizer; image_tower: only the image tower that image_tokens reads
    backbone: Literal["frozen", "trainable", "image_tower"] = "frozen"
    backbone_lr_mult: float = 0.1  # with backbone: trainable | image_tower
    settings: Any = field(default=None, metadata={"chosen_by": "kind", "table": HEAD_SETTINGS})

    def __post_init__(self) -> None:
        self.settings = _chosen_instance(self, "settings")


@dataclass
class ModelConfig:
    """Model family, its towers and its typed settings; ``init_from`` loads an exported mlmm model.

    ``clip`` is the English CLIP dual encoder (vision + text, open_clip) every family but MLMM starts from;
    ``towers`` holds further towers by modality (``text``: the multilingual text tower of M-CLIP / MLA;
    ``audio``: an audio tower), so a new tower is a config entry, not a new field. ``settings`` is the
    family's dataclass from :data:`mlmm.settings.FAMILY_SETTINGS`, chosen by ``family`` when the recipe is read.
    """

    family: str = "clip"  # a key of mlmm.models.build.FAMILIES
    clip: TowerConfig = field(default_factory=TowerConfig)  # the CLIP dual encoder (vision + text)
    towers: dict[Modality, TowerConfig] = field(default_factory=dict)  # further towers by modality
    init_from: str | None = _path_field()  # exported mlmm model dir (model.safetensors + config)
    languages: list[str] = field(default_factory=lambda: ["en"])
    settings: Any = field(default=None, metadata={"chosen_by": "family", "table": FAMILY_SETTINGS})
    head: HeadConfig | None = None  # a downstream head fine-tuned on top of the family's model

    def __post_init__(self) -> None:
        self.settings = _chosen_instance(self, "settings")

    @property
    def text(self) -> TowerConfig | None:
        """The multilingual text tower (``towers["text"]``), if any."""
        return self.towers.get("text")

    def with_tower(self, modality: str, tower: TowerConfig | None) -> ModelConfig:
        """A copy with ``towers[modality]`` replaced (``None`` removes it)."""
        towers = {k: v for k, v in self.towers.items() if k != modality}
        if tower is not None:
            towers[modality] = tower
        return dataclasses.replace(self, towers=towers)


@dataclass
class OptimConfig:
    lr: float = 5e-4
    weight_decay: float = 0.1
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98])
    eps: float = 1e-6
    warmup_steps: int = 100
    min_lr_ratio: float = 0.0
    grad_clip: float = 1.0


@dataclass
class TrainConfig:
    objective: str = "clip"  # a key of mlmm.objectives.OBJECTIVES
    micro_batch_size: int = 32  # per rank
    grad_accum: int = 1
    global_batch_size: int | None = None  # asserted == micro * accum * world when set
    max_steps: int = 1000
    log_every: int = 10
    eval_every: int = 0  # 0 = only at the end
    save_every: int = 500
    keep_checkpoints: int = 2
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"  # auto: fp32 on CPU, bf16 on GPU
    deterministic: bool = False
    activation_checkpointing: bool = False
    # torch.compile of the model's forward (mlmm.engine.compile): false (YAML off/false) = eager; inductor =
    # generated kernels; aot_eager = graph capture + AOTAutograd without code generation (the model traces)
    compile: Literal[False, "inductor", "aot_eager"] = False
    optim: OptimConfig = field(default_factory=OptimConfig)
    # the objective's dataclass from mlmm.settings.OBJECTIVE_LOSSES, chosen by ``objective`` at parse time
    loss: Any = field(default=None, metadata={"chosen_by": "objective", "table": OBJECTIVE_LOSSES})

    def __post_init__(self) -> None:
        self.loss = _chosen_instance(self, "loss")


@dataclass
class DeepSpeedConfig:
    zero: str | None = _path_field(None)  # JSON fragment with only ZeRO / offload knobs; None = ZeRO stage 0
    overrides: dict[str, Any] = field(default_factory=dict)  # merged last into the derived DeepSpeed config


@dataclass
class BenchmarkConfig:
    """One evaluation benchmark run by ``mlmm.eval.Evaluator``."""

    name: str = "synth"
    task: Literal["retrieval", "hashing", "vqa", "captioning", "pretraining"] = "retrieval"
    shards: list[str] = field(default_factory=list, metadata={"shards": True})
    languages: list[str] = field(default_factory=lambda: ["en"])
    options: dict[str, Any] = field(
        default_factory=dict
    )  # task options (max_samples, modality, num_queries, k, ...): docs/evaluation.md


@dataclass
class EvalConfig:
    benchmarks: list[BenchmarkConfig] = field(default_factory=list)
    primary: str | None = None  # flat key reported as ``primary``
    batch_size: int = 128


@dataclass
class RunConfig:
    """A whole run (one recipe)."""

    name: str = "run"
    output_dir: str = "runs/run"
    seed: int = 0
    include: list[str] = field(default_factory=list)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    deepspeed: DeepSpeedConfig = field(default_factory=DeepSpeedConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


# --------------------------------------------------------------------------------------------------- loading


def load_config(recipe: str | os.PathLike, overrides: list[str] | None = None) -> RunConfig:
    """Load ``recipe`` (+ includes + overrides) into a validated :class:`RunConfig`."""
    recipe = Path(recipe)
    raw = _read_with_includes(recipe, recipe, seen=())
    for item in overrides or []:
        _apply_override(raw, item, recipe)
    cfg = from_dict(raw, source=str(recipe))
    return cfg


def from_dict(raw: dict[str, Any], source: str = "<dict>", cls: type = RunConfig) -> Any:
    """Convert a plain dict into dataclass ``cls``; errors name the dotted key and ``source``."""
    return _convert(raw, cls, "", source)


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def dump_yaml(cfg: Any) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False, allow_unicode=True)


def save_config(cfg: Any, path: str | os.PathLike) -> None:
    """Write the resolved config as YAML (atomically)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(dump_yaml(cfg), encoding="utf-8")
    os.replace(tmp, path)


def _read_mapping(path: Path, recipe: Path) -> dict[str, Any]:
    if not path.is_file():
        where = "recipe" if path == recipe else f"include in {recipe}"
        raise ConfigError(f"{where}: file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot parse ({exc})") from None
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def _read_with_includes(path: Path, recipe: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    if path.resolve() in seen:
        raise ConfigError(f"include: cycle through {path} (recipe {recipe})")
    data = _read_mapping(path, recipe)
    includes = data.get("include", [])
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list):
        raise ConfigError(f"include: expected a list of paths in {path}")
    merged: dict[str, Any] = {}
    for inc in includes:
        frag = _read_with_includes((path.parent / inc), recipe, seen + (path.resolve(),))
        frag.pop("include", None)
        merged = deep_merge(merged, frag)
    return deep_merge(merged, data)


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _apply_override(raw: dict[str, Any], item: str, recipe: Path) -> None:
    if "=" not in item:
        raise ConfigError(f"override {item!r}: expected key.sub=value (recipe {recipe})")
    key, value_text = item.split("=", 1)
    try:
        value = yaml.safe_load(value_text) if value_text != "" else ""
    except yaml.YAMLError:
        value = value_text
    node = raw
    parts = key.strip().split(".")
    for part in parts[:-1]:
        nxt = node.get(part)
        if nxt is None:
            nxt = node[part] = {}
        if not isinstance(nxt, dict):
            raise ConfigError(f"override {key}: {part} is not a section (recipe {recipe})")
        node = nxt
    node[parts[-1]] = value


# --------------------------------------------------------------------------------------------------- typing


def _convert(value: Any, tp: Any, key: str, source: str) -> Any:
    name = key or "<top level>"
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _convert_dataclass(value, tp, key, source)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, key, source)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(
            errors[0] if len(errors) == 1 else f"{name}: {value!r} matches none of {tp} (recipe {source})"
        )
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(
                f"{name}: {value!r} is not one of {list(typing.get_args(tp))} (recipe {source})"
            )
        return value
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if isinstance(value, str | int | float) and not isinstance(value, bool) and item_tp is str:
            value = [str(value)]
        if not isinstance(value, list):
            raise ConfigError(f"{name}: expected a list, got {type(value).__name__} (recipe {source})")
        return [_convert(v, item_tp, f"{key}[{i}]", source) for i, v in enumerate(value)]
    if origin is dict:
        key_tp, val_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{name}: expected a mapping, got {type(value).__name__} (recipe {source})")
        if typing.get_origin(key_tp) is Literal:
            allowed = typing.get_args(key_tp)
            for k in value:
                if k not in allowed:
                    raise ConfigError(
                        f"unknown key '{key}.{k}' in recipe {source} (known keys here: {', '.join(allowed)})"
                    )
        return {str(k): _convert(v, val_tp, f"{key}.{k}", source) for k, v in value.items()}
    return _convert_scalar(value, tp, name, source)


def _convert_scalar(value: Any, tp: Any, name: str, source: str) -> Any:
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    else:
        raise ConfigError(f"{name}: unsupported schema type {tp} (recipe {source})")
    raise ConfigError(
        f"{name}: expected {tp.__name__}, got {type(value).__name__} {value!r} (recipe {source})"
    )


def _convert_dataclass(value: Any, cls: type, key: str, source: str) -> Any:
    name = key or "<top level>"
    if isinstance(value, cls):
        return value
    if not isinstance(value, dict):
        raise ConfigError(f"{name}: expected a mapping, got {type(value).__name__} (recipe {source})")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in value if k not in fields]
    if unknown:
        dotted = f"{key}.{unknown[0]}" if key else str(unknown[0])
        raise ConfigError(
            f"unknown key {dotted!r} in recipe {source} (known keys here: {', '.join(sorted(fields)) or 'none'})"
        )
    kwargs = {}
    for fname, fdef in fields.items():
        sub = f"{key}.{fname}" if key else fname
        if "chosen_by" in fdef.metadata:
            tag_name = fdef.metadata["chosen_by"]
            tag = kwargs.get(tag_name, fields[tag_name].default)
            kwargs[fname] = _convert_chosen(value.get(fname), fdef, tag, sub, source)
        elif fname in value:
            kwargs[fname] = _check_files(_convert(value[fname], hints[fname], sub, source), fdef, sub, source)
        elif dataclasses.is_dataclass(
            hints[fname]
        ):  # absent section: build it so its defaults are validated too
            kwargs[fname] = _convert_dataclass({}, hints[fname], sub, source)
        elif fdef.metadata.get("path") and isinstance(fdef.default, str):
            kwargs[fname] = _check_files(fdef.default, fdef, sub, source)
    return cls(**kwargs)


def _convert_chosen(value: Any, fdef: dataclasses.Field, tag: Any, key: str, source: str) -> Any:
    """A field whose dataclass is chosen by the value ``tag`` of an earlier field (``family`` -> settings,
    ``objective`` -> loss); errors also name the chosen dataclass and the tag."""
    cls = fdef.metadata["table"].get(tag, NoSettings)
    try:
        return _convert_dataclass({} if value is None else value, cls, key, source)
    except ConfigError as exc:
        raise ConfigError(f"{exc} [{cls.__name__}, chosen by {fdef.metadata['chosen_by']}={tag!r}]") from None


def _check_files(value: Any, fdef: dataclasses.Field, key: str, source: str) -> Any:
    """Validate path/shard fields; relative paths resolve against cwd, the recipe's folder, then the project root."""
    if value is None:
        return value
    if fdef.metadata.get("path"):
        found = resolve_path(value, source)
        if found is None:
            raise ConfigError(f"{key}: path not found: {value} (recipe {source})")
        return str(found)
    if fdef.metadata.get("shards"):
        from mlmm.data.shardspec import expand_shards  # local import: config must stay import-light

        try:
            expand_shards(value, check_exists=True)
        except (FileNotFoundError, ValueError) as exc:
            raise ConfigError(f"{key}: {exc} (recipe {source})") from None
    return value


PROJECT_ROOT = Path(__file__).resolve().parents[1]


def resolve_path(value: str, source: str | None = None) -> Path | None:
    """First existing of ``value`` as given (absolute or cwd-relative), beside the recipe, under the project root."""
    path = Path(value)
    candidates = [path]
    if not path.is_absolute():
        if source and not source.startswith("<"):
            candidates.append(Path(source).parent / path)
        candidates.append(PROJECT_ROOT / path)
    for candidate in candidates:
        if candidate.exists():
            return candidate.resolve()
    return None
