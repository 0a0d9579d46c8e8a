"""Thin subprocess wrappers around the Java tools that pycocoevalcap ships: METEOR 1.5 and Stanford PTB.

METEOR (stemming, WordNet synonyms, paraphrase tables) cannot be re-implemented to 1e-6, so mlmm calls the
same jar through its own wrapper, speaking the protocol of pycocoevalcap's ``Meteor`` (``SCORE ||| refs
||| hyp`` lines, then one ``EVAL`` line; the corpus score is the jar's aggregate, not the mean of the
per-caption scores). pycocoevalcap is not imported at run time; only its jar files are located:

* ``MLMM_METEOR_JAR`` / ``MLMM_CORENLP_JAR`` environment variables, else
* the installed ``pycocoevalcap`` package folder (``pip install pycocoevalcap`` or mlmm's ``dev`` extra).

Java (``java`` on PATH, or ``$JAVA_HOME/bin/java``) is required. Without it :class:`JavaToolError` says
what is missing and how to get it. METEOR is English-only here (pycocoevalcap ships ``paraphrase-en``).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from mlmm.eval.captioning.punctuation import PUNCTUATIONS


class JavaToolError(RuntimeError):
    """A Java-based metric cannot run (no Java, or no jar)."""


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    candidates = [str(Path(home) / "bin" / "java")] if home else []
    found = shutil.which("java")
    candidates += [found] if found else []
    for path in candidates:
        if Path(path).is_file():
            return path
    raise JavaToolError("Java is required for METEOR / ptb-java tokenisation but no `java` was found on PATH")


def _jar(env: str, relative: str) -> Path:
    if os.environ.get(env):
        path = Path(os.environ[env])
        if not path.is_file():
            raise JavaToolError(f"{env}={path} does not exist")
        return path
    spec = importlib.util.find_spec("pycocoevalcap")
    if spec is None or not spec.submodule_search_locations:
        raise JavaToolError(
            f"{relative} not found: install pycocoevalcap (pip install 'mlmm[dev]') or set {env} to the jar"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.is_file():
        raise JavaToolError(f"{path} not found (set {env} to the jar)")
    return path


def java_tools_available() -> bool:
    """True when Java and the METEOR jar are both present."""
    try:
        _java()
        _jar("MLMM_METEOR_JAR", "meteor/meteor-1.5.jar")
    except JavaToolError:
        return False
    return True


def meteor_scores(hypotheses: list[str], references: list[list[str]]) -> tuple[float, list[float]]:
    """(corpus METEOR, per-caption METEOR) for tokenised captions, via meteor-1.5.jar ``-l en -norm``."""
    jar = _jar("MLMM_METEOR_JAR", "meteor/meteor-1.5.jar")
    cmd = [_java(), "-jar", "-Xmx2G", jar.name, "-", "-", "-stdio", "-l", "en", "-norm"]
    proc = subprocess.Popen(
        cmd, cwd=jar.parent, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        stats = []
        for hyp, refs in zip(hypotheses, references):
            hyp = hyp.replace("|||", "").replace("  ", " ")
            line = " ||| ".join(("SCORE", " ||| ".join(refs), hyp))
            stats.append(_ask(proc, line))
        _send(proc, "EVAL ||| " + " ||| ".join(stats))
        per_caption = [float(_read(proc)) for _ in stats]
        return float(_read(proc)), per_caption
    finally:
        proc.stdin.close()
        proc.kill()
        proc.wait()


def _send(proc: subprocess.Popen, line: str) -> None:
    proc.stdin.write((line + "\n").encode("utf-8"))
    proc.stdin.flush()


def _read(proc: subprocess.Popen) -> str:
    line = proc.stdout.readline().decode("utf-8").strip()
    if not line:
        err = proc.stderr.read().decode("utf-8", "replace")[-2000:] if proc.poll() is not None else ""
        raise JavaToolError(f"METEOR jar stopped answering. {err}")
    return line


def _ask(proc: subprocess.Popen, line: str) -> str:
    _send(proc, line)
    return _read(proc)


def ptb_java_available() -> bool:
    """True when Java and the Stanford CoreNLP 3.4.1 jar (from pycocoevalcap) are both present."""
    try:
        _java()
        _jar("MLMM_CORENLP_JAR", "tokenizer/stanford-corenlp-3.4.1.jar")
    except JavaToolError:
        return False
    return True


def ptb_tokenize_java(texts: list[str]) -> list[str]:
    """pycocoevalcap's ``PTBTokenizer`` output for ``texts``, punctuation tokens removed, in ONE JVM call.

    Exactly what pycocoevalcap does: the captions (newlines replaced by spaces) are joined by ``\\n``
    into a UTF-8 temporary file, tokenised by ``edu.stanford.nlp.process.PTBTokenizer
    -preserveLines -lowerCase``; each output line is ``rstrip``-ed, split on single spaces and the
    tokens in :data:`~mlmm.eval.captioning.punctuation.PUNCTUATIONS` are dropped.
    """

    if not texts:
        return []
    jar = _jar("MLMM_CORENLP_JAR", "tokenizer/stanford-corenlp-3.4.1.jar")
    text = "\n".join(t.replace("\n", " ") for t in texts)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "captions.txt"
        path.write_bytes(text.encode("utf-8"))
        cmd = [
            _java(),
            "-cp",
            str(jar),
            "edu.stanford.nlp.process.PTBTokenizer",
            "-preserveLines",
            "-lowerCase",
        ]
        out = subprocess.run(cmd + [str(path)], capture_output=True, check=False)
    if out.returncode != 0:
        raise JavaToolError(f"PTBTokenizer failed: {out.stderr.decode('utf-8', 'replace')[-2000:]}")
    lines = out.stdout.decode("utf-8").split("\n")
    if len(lines) < len(texts):
        raise JavaToolError(f"PTBTokenizer returned {len(lines)} lines for {len(texts)} captions")
    return [
        " ".join(w for w in line.rstrip().split(" ") if w not in PUNCTUATIONS) for line in lines[: len(texts)]
    ]
