"""Runs one cell of the grid (model x paradigm x dataset) and writes its per-sample records.

A cell is written only when every sample has an outcome of the model's own (an answer or a
failure kind). When the server cannot answer, the job fails with the cause and writes
nothing; every reply received so far is in the request cache, so the next run replays them
and sends only the rest.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from . import registry
from .cache import RequestCache
from .config import cell_max_tokens, schema_defaults
from .client import ChatClient, ServerFailure
from .data import read_dataset, sample_records, write_jsonl
from .energy import EnergyMeter
from .sidecar import meta_path, write_meta
from .engines import EngineError, make_engine, server_metrics
from .paradigms import get_paradigm, request_fn
from .progress import Progress
from .tools.toolbox import effective_backend
from .trace import SampleRun, describe_outcomes

SEARCH_DEFAULTS = schema_defaults("search_tool")


def cell_sampling(cell: dict[str, Any]) -> dict[str, Any]:
    """The model's sampling settings; max_tokens from the dataset, else the paradigm, where they set one."""
    return {**cell["model"]["sampling"], "max_tokens": cell_max_tokens(cell)}


def to_record(cell: dict[str, Any], spec: registry.DatasetSpec, sample: dict[str, Any], run: SampleRun) -> dict[str, Any]:
    calls = run.llm_calls
    return {
        "id": sample["id"],
        "model": cell["model"]["name"],
        "paradigm": cell["paradigm"]["name"],
        "dataset": spec.name,
        "messages": calls[0].messages if calls else [],
        "output": run.output,
        "gold": sample["gold"],
        "failure": run.failure,
        "error": run.error,
        "usage": run.usage(),
        "llm_calls": len(calls),
        "cache_hits": sum(c.cache_hit for c in calls),
        # The sum of call and tool latencies: reproducible when a rerun replays the cache.
        "latency_s": round(sum(getattr(c, "latency_s", 0.0) or getattr(c, "duration_s", 0.0) for c in run.trace), 4),
        "trace": run.trace_dicts(),
    }


class GenerationFailed(RuntimeError):
    """The cell could not be generated for a reason outside the model; the message says what to do."""


def paradigm_settings(cell: dict[str, Any], search_index: str | None, log: TextIO | None = None) -> dict[str, Any]:
    """The paradigm's settings, with the workflow's search index for tools on the local backend and the
    cell's max_tokens (a constrained paradigm's grammar leaves room for the reply within it); an online
    tool that cannot be reached and falls back to the local corpus is logged as such."""
    tools = {name: dict(tool) for name, tool in cell["paradigm"].get("tools", {}).items()}
    settings = {**cell["paradigm"], "tools": tools, "max_tokens": cell_max_tokens(cell)}
    for name, tool in settings["tools"].items():
        backend, notice = effective_backend(tool)
        if notice:
            tool["backend"] = backend
            if log is not None:
                print(f"[tools] {name}: {notice}", file=log, flush=True)
        if tool.get("backend", SEARCH_DEFAULTS["backend"]) == "local" and search_index:
            tool.setdefault("index", search_index)
    return settings


def cell_label(cell: dict[str, Any]) -> str:
    """model/paradigm/dataset: how logs name a cell."""
    return f"{cell['model']['name']}/{cell['paradigm']['name']}/{cell['dataset']['name']}"


async def run_samples(cell, spec, samples, client: ChatClient, log, search_index: str | None = None) -> list[dict[str, Any]]:
    paradigm = get_paradigm(cell["paradigm"]["kind"])
    settings = paradigm_settings(cell, search_index, log)
    progress = Progress(len(samples), cell_label(cell), log)

    async def one(sample):
        run = await paradigm(sample, spec, request_fn(client, settings), settings)
        progress.advance()
        return to_record(cell, spec, sample, run)

    return await asyncio.gather(*(one(s) for s in samples))


def generate_cell(cell: dict[str, Any], dataset_path: str, out_path: str, *, settings: dict[str, Any], search_index: str | None = None, log=None) -> None:
    """`cell` is the job's config slice (it decides the results); `settings` says how to run it."""
    log = log or sys.stderr
    spec = registry.get(cell["dataset"]["name"])
    samples = sample_records(read_dataset(dataset_path), cell["n_samples"], cell["seed"], dataset=spec.name)
    name = cell["model"]["name"]
    # The full entry (with run-only settings such as threads) starts the server.
    model = settings["models"][name]
    engine = make_engine(name, model, models_dir=Path(settings["models_dir"]), server=settings["server"], log=log)
    window = server_metrics.Window(engine.open) if model["engine"] == "sglang" else None
    # An endpoint on another machine uses energy this machine cannot see.
    meter = EnergyMeter.off("the model is served by an endpoint this job did not start") if model["engine"] == "openai" else EnergyMeter()

    def open_endpoint():
        endpoint = window.open() if window else engine.open()
        meter.start()  # once the server is up: loading the model is not this cell's energy
        return endpoint

    client_cfg = settings["client"]
    cache = RequestCache(settings["cache_dir"], log=log)
    cache.check_writable()  # before any request is paid for
    client = ChatClient(
        open_endpoint, engine.fingerprint(), cache, cell_sampling(cell),
        concurrency=client_cfg["concurrency"], timeout_s=client_cfg["timeout_s"],
        retries=client_cfg["retries"], backoff_s=client_cfg["backoff_s"], api_key=getattr(engine, "api_key", "none"),
        system_role=model["system_role"],
        recover_endpoint=(lambda: window.recover(engine.recover)) if window else engine.recover,
        grammar_field=engine.grammar_field, sampling_fields=engine.sampling_fields,
        constrained_extras=engine.constrained_extras(),
    )
    label = cell_label(cell)
    try:
        records = asyncio.run(run_samples(cell, spec, samples, client, log, search_index))
    except (ServerFailure, EngineError) as e:  # EngineError includes a grammar the engine cannot send
        message = (
            f"{label}: the server could not answer, so this cell was not written ({client.stats.sent} requests sent, "
            f"{client.stats.recoveries} server restarts). Every reply received is cached: run the workflow again to "
            f"replay them and send only the rest. Cause: {e}"
        )
        print(f"[generate] FAILED {message}", file=log, flush=True)
        raise GenerationFailed(message) from None
    finally:
        meter.stop()
        server_stats = window.finish() if window else None  # before close: the server may stop
        engine.close()
    if server_stats:
        print(f"[generate] server metrics for this cell: {json.dumps(server_stats)}", file=log, flush=True)
    energy = meter.result()
    measured = f"{energy['energy_j']} J ({energy['energy_source']}: {energy['energy_note']})" if energy["energy_source"] else energy["energy_note"]
    print(f"[generate] energy: {measured}", file=log, flush=True)
    print(
        f"[generate] {label}: {describe_outcomes(len(records), Counter(r['failure'] for r in records if r['failure']))}; requests: {client.stats.sent} sent to the server "
        f"({client.stats.retries} sent again after a failure, {client.stats.recoveries} server restarts), "
        f"{client.stats.cache_hits} answered from the cache",
        file=log, flush=True,
    )
    write_meta(meta_path(out_path), energy, samples=len(records), requests_sent=client.stats.sent,
               cache_hits=client.stats.cache_hits, server_metrics=server_stats,
               requests_resent=client.stats.retries, server_restarts=client.stats.recoveries)
    write_jsonl(out_path, records)
