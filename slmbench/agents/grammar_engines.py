"""Grammars checked by the engine that will run them, at plan time, before any server starts.

llama.cpp refuses some grammars only when the first constrained request arrives, and
llama-cpp-python's server then segfaults; SGLang compiles a grammar with xgrammar and answers
400 to every later request with it. So config validation parses every grammar a cell sends with
the engine's own parser, in-process: llama.cpp's (through llama-cpp-python, without a model:
the parser needs no vocabulary) and xgrammar's (when it is installed, as it is beside SGLang).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sys
import tempfile
from typing import Callable

# The request field that carries a grammar, by engine (an openai endpoint names its field).
GRAMMAR_FIELDS = {"llamacpp": "grammar", "sglang": "ebnf"}
# llama.cpp accepts a repetition bound above this but reads it as unbounded (measured on 0.3.36:
# [a]{0,2001} accepts 2,002 characters, [a]{0,1999} refuses 2,000).
LLAMACPP_MAX_BOUND = 2000
_QUOTED_OR_CLASS = re.compile(r'"(?:\\.|[^"\\])*"|\[(?:\\.|[^\]\\])*\]')
_BOUND = re.compile(r"\{\s*(\d+)\s*(?:,\s*(\d*)\s*)?\}")


@functools.cache
def llamacpp_refusal(text: str) -> str | None:
    """Why llama.cpp's grammar parser refuses the GBNF text (its own message) or would loosen one of its
    bounds, or None when it runs the grammar as written; None also where llama-cpp-python cannot be
    loaded here (the demo extra, absent beside SGLang: the generation job then says what to install)."""
    try:
        from llama_cpp import llama_cpp as lib
    except (ImportError, OSError):
        return None

    bounds = [int(n) for m in _BOUND.finditer(_QUOTED_OR_CLASS.sub("", text)) for n in m.groups() if n]
    if bounds and max(bounds) > LLAMACPP_MAX_BOUND:
        return f"a repetition bound of {max(bounds)}, which llama.cpp reads as unbounded above {LLAMACPP_MAX_BOUND}"
    with _stderr_captured() as said:
        sampler = lib.llama_sampler_init_grammar(None, text.encode(), b"root")
    if sampler:
        lib.llama_sampler_free(sampler)
        return None
    reason = next((line.split("error parsing grammar:", 1)[1].strip() for line in said if "error parsing grammar:" in line), "")
    return reason or "failed to parse grammar"


@contextlib.contextmanager
def _stderr_captured():
    """llama.cpp writes the parser's reason to the process's stderr (file descriptor 2): read it from there."""
    lines: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines += sink.read(1 << 16).decode("utf-8", "replace").splitlines()


@functools.cache
def xgrammar_refusal(text: str) -> str | None:
    """Why xgrammar (SGLang's default grammar backend) refuses the EBNF text, or None; None also when
    xgrammar is not installed here (it comes with SGLang; the renderer keeps to what it reads)."""
    try:
        import xgrammar
    except ImportError:
        return None
    try:
        xgrammar.Grammar.from_ebnf(text)
    except Exception as e:  # xgrammar raises RuntimeError, or its own error types, with the parser's message
        return f"{type(e).__name__}: {e}"
    return None


def refusal_checker(engine: str, grammar_field: str | None = None) -> Callable[[str], str | None] | None:
    """The check of the parser that will read a model's grammars, or None where none is known here."""
    field = grammar_field or GRAMMAR_FIELDS.get(engine)
    return {"grammar": llamacpp_refusal, "ebnf": xgrammar_refusal}.get(field or "")
