"""Seeded generator of English caption-like sentences that exercise the PTB tokeniser's rule classes.

``generate(n, seed)`` returns ``n`` sentences mixing ordinary caption words with punctuation,
abbreviations (known and unknown), initials, single letters, numbers (decimals, thousands, times,
fractions, signs, ordinals, percentages, currency), quotes of every kind, apostrophes and contractions,
hyphens and dashes, brackets, slashes, ampersands, URLs / e-mails, ellipses and unicode (accents, CJK,
emoji, non-breaking and other spaces, symbols). Used by the differential test Python PTB vs Stanford jar
(seed 1 for tuning, 424242 and 8675309 held out; equality asserted on all three, no class excluded); the
metric parity test draws captions from a held-out seed.
"""

from __future__ import annotations

import random

WORDS = (
    "a the man woman dog cat bus train pizza table street sign kitchen people group of on in with near "
    "is are riding sitting standing next to two three large small red white black young old surfboard "
    "wave beach field tennis player ball frisbee clock tower plate food bed room giraffe zebra elephant "
    "horse kite sky water boat bike motorcycle phone laptop computer umbrella city colour centre grey"
).split()
CAPITALISED = (
    "A The Two Man Woman London New York John Mary He She It They This There Some Here We You".split()
)
ABBREVIATIONS = (
    "Mr. Mrs. Ms. Dr. Prof. St. Mt. Ave. Jr. Sr. Inc. Co. Corp. Ltd. Jan. Feb. Sept. Oct. Dec. Mon. Fri. "
    "etc. vs. e.g. i.e. a.m. p.m. U.S. U.K. U.S.A. No. Nos. ft. sq. est. Calif. Mass. Gen. Col. Capt. "
    "Rev. approx. dept. Dept. misc. fig. al. Ph.D. Blvd. Rd. Bros. cf. a.k.a. Wm. Alex. Tex. Pa."
).split()
INITIALS = ("J. R. R.", "J.R.R.", "A. B.", "T. S.", "C.S.", "H. G.", "E.", "W.")
LETTERS = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
CONTRACTIONS = (
    "don't doesn't isn't can't won't cannot gonna wanna gotta lemme gimme it's he's she's they're we've "
    "I'll you'd I'm LET'S Don't CAN'T ain't y'all 'em 'til 'tis 'twas 'cause o'clock O'Neil rock'n'roll "
    "d'Artagnan l'amour dogs' James's '90s 90's '80 cats' can't've shouldn't've Y'know ma'am c'mon "
    "somethin' ol' li'l nor'easter ev'ry cont'd Cap'n c'est don'ts"
).split()
NUMBERS = (
    "1 12 100 1,000 10,000.50 3.14 .5 0.25 -5 +3 -2.5 3:30 12:45:10 1/2 3/4 5 1/2 2-1/4 1/2/2003 "
    "12-25-2020 1st 2nd 3rd 4th 21st 50% 5.00% $5 $3.50 US$10 £20 €30 ¥40 ¢5 #1 10am 5pm 100km 6'2\" "
    "2x4 3x 1990s 1,5 (555) 123-4567 555-123-4567 555.123.4567 ½ ¼ ¾ ⅓ 10° 5² 1e5 0x7f 007 1.2.3 v2.0"
).split(" ")
QUOTES = ('"', "'", "``", "''", "`", "\u201c", "\u201d", "\u2018", "\u2019", "\u00ab", "\u00bb", "\u201e")
PUNCT = tuple(
    ". , ; : ! ? !! ?! ... .. . . . … - -- --- ---- — – ‐ _ __ * ** / \\ | & @ # ~ ^ + = < > % $".split()
)
BRACKETS = ("(", ")", "[", "]", "{", "}", "<", ">", "-LRB-", "-RRB-")
URLS = (
    "http://x.com/a?b=c",
    "https://www.example.org/path/to.html",
    "www.google.com",
    "www.foo.org/a",
    "example.com",
    "bbc.co.uk",
    "test@example.com",
    "john.doe@mail.net",
    "ftp://files.net/x",
    "http://a.b/c).",
)
UNICODE = (
    "café",
    "crème brûlée",
    "naïve",
    "São Paulo",
    "Zürich",
    "東京",
    "猫",
    "한국",
    "Москва",
    "Ελλάδα",
    "😀",
    "🐶",
    "👍🏽",
    "\u00a0",
    "\u2009",
    "\u3000",
    "\u200b",
    "\u00ad",
    "©",
    "®",
    "™",
    "°",
    "±",
    "×",
    "÷",
    "→",
    "♥",
    "★",
    "•",
    "·",
    "§",
    "¶",
    "µ",
    "ß",
    "Æ",
    "ø",
    "İ",
    "ﬁ",
    "€",
    "£",
    "¥",
    "¢",
    "\u2044",
    "‰",
    "′",
    "″",
    "¿",
    "¡",
    "&amp;",
    "&quot;",
    "<b>",
    "</i>",
)
HYPHENATED = (
    "black-and-white",
    "double-decker",
    "t-shirt",
    "mid-air",
    "re-enter",
    "well-known",
    "x-ray",
    "co-op",
    "e-mail",
    "pro-choice",
    "anti-war",
    "Canada-U.S.",
    "S&P-500",
    "AT&T",
    "R&D",
    "Q&A",
    "and/or",
    "w/",
    "c/o",
    "km/h",
    "24/7",
    "A/C",
    "TV/DVD",
    "self-driving",
    "12-year-old",
    "3-D",
    "U.S.-based",
    "rock-'n'-roll",
)


def _word(rng: random.Random) -> str:
    pick = rng.random()
    if pick < 0.45:
        return rng.choice(WORDS)
    if pick < 0.52:
        return rng.choice(CAPITALISED)
    if pick < 0.57:
        return rng.choice(WORDS).upper()
    if pick < 0.63:
        return rng.choice(ABBREVIATIONS)
    if pick < 0.66:
        return rng.choice(INITIALS)
    if pick < 0.69:
        return rng.choice(LETTERS) + rng.choice(("", ".", "'s", "-"))
    if pick < 0.75:
        return rng.choice(CONTRACTIONS)
    if pick < 0.82:
        return rng.choice(NUMBERS)
    if pick < 0.86:
        return rng.choice(HYPHENATED)
    if pick < 0.88:
        return rng.choice(URLS)
    if pick < 0.93:
        return rng.choice(UNICODE)
    if pick < 0.96:
        return rng.choice(QUOTES) + rng.choice(WORDS) + rng.choice(QUOTES)
    return rng.choice(BRACKETS) + rng.choice(WORDS) + rng.choice(BRACKETS)


def _glue(rng: random.Random) -> str:
    """What goes between two words: mostly a space, sometimes punctuation with or without spaces."""
    pick = rng.random()
    if pick < 0.72:
        return " "
    if pick < 0.80:
        return rng.choice(PUNCT) + " "
    if pick < 0.85:
        return rng.choice(PUNCT)
    if pick < 0.88:
        return " " + rng.choice(PUNCT) + " "
    if pick < 0.91:
        return "  "
    if pick < 0.94:
        return " " + rng.choice(QUOTES)
    if pick < 0.97:
        return rng.choice(QUOTES) + " "
    return " " + rng.choice(BRACKETS) + " "


def sentence(rng: random.Random) -> str:
    n = rng.randint(1, 16)
    parts = [rng.choice(CAPITALISED) if rng.random() < 0.5 else _word(rng)]
    for _ in range(n - 1):
        parts.append(_glue(rng))
        parts.append(_word(rng))
    end = rng.random()
    if end < 0.5:
        parts.append(rng.choice((".", ".", "!", "?", "...", " .", "..", "!!", ".'", '."', ".)", "…")))
    elif end < 0.55:
        parts.append(" ")
    return "".join(parts)


def generate(n: int, seed: int) -> list[str]:
    """``n`` sentences from a generator seeded with ``seed`` (deterministic)."""
    rng = random.Random(seed)
    return [sentence(rng) for _ in range(n)]


def caption_sets(n_images: int, seed: int) -> tuple[list[str], list[list[str]]]:
    """(predictions [N], references [N][1..5]) of generated captions, sharing words so scores are non-trivial."""
    rng = random.Random(seed)
    preds, refs = [], []
    for _ in range(n_images):
        base = sentence(rng)
        preds.append(base if rng.random() < 0.2 else sentence(rng) + " " + " ".join(base.split()[:4]))
        refs.append([sentence(rng) + " " + " ".join(base.split()[-5:]) for _ in range(rng.randint(1, 5))])
    return preds, refs
