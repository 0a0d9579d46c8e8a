"""Batch keys: the one place where the names of batch-dict entries are defined.

Every pipeline emits ``dict[str, Tensor | list]`` with keys from this module; models and objectives read
them by these constants, never by string literals.

Shapes (B = batch, L = text length, T = audio frames, F = feature bins, C = label classes):
"""

SAMPLE_KEY = "sample_key"  # list[str] [B]: the webdataset ``__key__`` of each sample
IMAGE = "image"  # float [B, 3, H, W]: preprocessed image (open_clip transform)
VIDEO = "video"  # float [B, N, 3, H, W]: preprocessed ordered frames
AUDIO = "audio"  # float [B, T, F]: log-mel / fbank features, zero-padded along T
AUDIO_MASK = "audio_mask"  # bool [B, T]: True on real (non-padded) frames
AUDIO_TYPE = "audio_type"  # long [B]: 0 = non-verbal, 1 = verbal (see AUDIO_TYPES)
TEXT_IDS = "text_ids"  # long [B, L]: caption in the sample's chosen language, model tokenizer
TEXT_MASK = "text_mask"  # long [B, L]: 1 on real tokens, 0 on padding
TEXT = "text"  # list[str] [B]: the raw chosen caption (for logging / captioning references)
LANG = "lang"  # list[str] [B]: ISO 639-1 code of the chosen caption
LANG_ID = "lang_id"  # long [B]: index of LANG in the run's language list
PIVOT_IDS = "pivot_ids"  # long [B, L']: the parallel pivot-language (English) caption, teacher tokenizer
PIVOT_MASK = "pivot_mask"  # long [B, L']
PIVOT_TEXT = "pivot_text"  # list[str] [B]
CS_TEXT = "cs_text"  # list[str] [B]: code-switched source-language caption (data code_switch)
CS_IDS = "cs_ids"  # long [B, L]: CS_TEXT, model tokenizer, source language tag
CS_MASK = "cs_mask"  # long [B, L]
LABELS = "labels"  # float [B, C]: multi-hot label set (hashing)
QUESTION_IDS = "question_ids"  # long [B, Lq]
QUESTION_MASK = "question_mask"  # long [B, Lq]
QUESTION_LANG = "question_lang"  # list[str] [B]: ISO 639-1 code of each question
QUESTION_IMAGE = "question_image"  # long [Q]: the IMAGE row of each question (data.questions_per_image)
REFERENCES = "references"  # list[list[str]] [B]: every caption of the sample in its LANG (SCST rewards)
ANSWERS = "answers"  # list[list[str]] [B][10]: the 10 ground-truth answers (VQA)
IMAGE_INDEX = "image_index"  # long [B]: index of the sample's image within its split (retrieval eval)

AUDIO_TYPES = {"nonverbal": 0, "verbal": 1}
