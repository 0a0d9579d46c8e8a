"""The tokens pycocoevalcap's PTBTokenizer drops after tokenising (shared by the Java and Python paths)."""

PUNCTUATIONS = frozenset(
    ["''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--", "...", ";"]
)
