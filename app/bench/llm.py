"""`huleedu bench llm`: the judging layer against the simulated server, as one JSON object.

Everything runs against ``huleedu sim-server`` started in-process on 127.0.0.1, over the OpenAI
wire format, with the demo essays (realistic length) in 300 seeded random ordered pairs.

* ``gpt51-low`` profile (latency scaled down by ``speed``): per-request versus bundles of 4 on
  the same pairs, planned as the run loop plans them (groups of 4 essays, no pair asked twice,
  as many as the 22 demo essays allow) — calls and input tokens per verdict, and against bundles
  of 6 pairs over 4 essays and of 4 separate pairs (8 essays); the same ratios for the
  product's default bundle (``*_default_bundle``, :data:`core.prompt.DEFAULT_BUNDLE_PAIRS`);
  wall time of the per-request run over the ideal calls × mean call latency / concurrency; the
  cost estimate made before each run against the cost of the tokens actually used.
* ``flaky`` profile: every pair must end with exactly one outcome (lost = pairs without one),
  and every verdict must be a winner the server actually stated for that ordered pair (wrong =
  verdicts that are not, read from the server's ledger).
* ``bundle-degrading`` profile: accuracy against the simulator's truth at K = 8 minus K = 1
  (reported, no bar), with pairs shuffled across bundles.
* ``quota`` profile, each provider client (OpenAI, Anthropic, Gemini, OpenAI-compatible) over
  its own wire format, one call at a time: ``quota_calls_after_first_429`` = requests the server
  received after its first "out of credit" answer (counted by the server; must be 0). With 8
  calls in flight, ``quota_refusals_in_flight`` counts the refusals of calls already sent.
* strict server: ``strict_sim_rejections_caught`` = invalid request kinds
  (:data:`app.simserver.strict.INVALID_KINDS`) that the server refuses on the wire with the
  provider's error body *and* that no body the project's clients build (every family's models,
  catalogue and unknown, one pair and bundles, a temperature configured) falls under;
  ``strict_sim_kinds`` is how many kinds there are, ``strict_sim_client_violations`` how many
  client bodies fall under one (must be 0).
* ``app.bench.injection``, when present: its ``injection_keys(seed)`` are merged in.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import sys
import time
from typing import Any

import httpx
from pydantic import SecretStr

from app.bench.groups import GROUP_SEEDS, group_keys
from app.demo import load_demo
from app.llm.catalogue import load_catalogue
from app.llm.dispatcher import Dispatcher, DispatchSettings, DispatchSummary, Mode
from app.llm.estimate import estimate_run
from app.llm.limits import Backoff
from app.llm.providers.base import BaseProvider, ProviderConfig
from app.llm.providers.factory import make_provider
from app.llm.types import PairTask, ProviderKind, QuotaExhaustedError, Usage
from app.simserver import running_server
from app.simserver.judging import pair_fingerprint, true_winner
from app.simserver.strict import INVALID_KINDS, KIND_HEADER, rejection_kind
from core.groups import bundle_shape, group_size
from core.prompt import DEFAULT_BUNDLE_PAIRS, AssignmentContext

N_PAIRS = 300
#: Pairs of the layout comparison: a run never asks a pair twice, and 22 essays hold 231.
GROUPED_PAIRS = 192
CONCURRENCY = 8


def _grouped_pairs(texts: list[str], n: int, k: int, seed: int) -> list[PairTask]:
    """Up to ``n`` pairs planned as the run loop plans bundles of ``k``: rounds of disjoint
    groups of ``group_size(k)`` essays (drawn at random) asked about the pairs of
    ``bundle_shape(k)``, each pair tagged with its group. As in a run, no pair is asked twice:
    a group that would repeat a pair is not drawn (fewer than ``n`` pairs when they run out)."""
    rng = random.Random(seed)
    m = group_size(k)
    shape = bundle_shape(k)
    out: list[PairTask] = []
    used: set[frozenset[int]] = set()
    group = 0
    for _ in range(200):
        if len(out) >= n:
            break
        order = rng.sample(range(len(texts)), len(texts))
        for start in range(0, len(order) - m + 1, m):
            members = order[start : start + m]
            keys = [frozenset((members[a], members[b])) for a, b in shape]
            if len(out) + k > n or any(key in used for key in keys):
                continue
            used.update(keys)
            for a, b in shape:
                first, second = members[a], members[b]
                if rng.random() < 0.5:
                    first, second = second, first
                out.append(PairTask(f"p{len(out)}", texts[first], texts[second], f"g{group}"))
            group += 1
    return out


def _pairs(texts: list[str], n: int, seed: int) -> list[PairTask]:
    rng = random.Random(seed)
    return [
        PairTask(f"p{k}", texts[a], texts[b])
        for k, (a, b) in enumerate(rng.sample(range(len(texts)), 2) for _ in range(n))
    ]


def _sim_provider(url: str, model: str, concurrency: int, timeout_s: float = 30.0) -> BaseProvider:
    """A client of the simulated server over the OpenAI wire format."""
    return make_provider(
        ProviderConfig(
            kind="openai_compatible",
            model=model,
            base_url=url + "/v1",
            api_key=SecretStr("sim"),
            timeout_s=timeout_s,
            max_connections=concurrency,
        )
    )


async def _dispatch(
    url: str,
    model: str,
    context: AssignmentContext,
    tasks: list[PairTask],
    settings: DispatchSettings,
    timeout_s: float = 30.0,
) -> DispatchSummary:
    catalogue = load_catalogue()
    provider = _sim_provider(url, model, settings.concurrency, timeout_s)
    dispatcher = Dispatcher(provider, settings, cost=lambda usage: catalogue.cost_usd(model, usage))
    try:
        return await dispatcher.run(context, tasks, nonce_entropy=b"bench-llm")
    finally:
        await provider.aclose()


async def _separate_bundles(
    url: str, model: str, context: AssignmentContext, texts: list[str], n: int, k: int, seed: int
) -> dict[str, Any]:
    """The layout before bundles shared essays: ``n`` pairs in bundles of ``k`` pairs over
    ``2k`` different essays, sent straight to the provider (the dispatcher would pack pairs
    that share essays together), ``CONCURRENCY`` calls at a time."""
    rng = random.Random(seed)
    bundles = []
    for b in range(n // k):
        picked = rng.sample(range(len(texts)), 2 * k)
        bundles.append(
            [
                PairTask(f"s{b}-{i}", texts[picked[2 * i]], texts[picked[2 * i + 1]])
                for i in range(k)
            ]
        )
    catalogue = load_catalogue()
    provider = _sim_provider(url, model, CONCURRENCY)
    gate = asyncio.Semaphore(CONCURRENCY)
    results: list[tuple[int, int, float]] = []

    async def one(bundle: list[PairTask], index: int) -> None:
        async with gate:
            outcome = await provider.judge(context, bundle, nonce=f"separatebundle{index:04d}")
        verdicts = sum(1 for item in outcome.items if item.verdict is not None)
        cost = catalogue.cost_usd(model, outcome.usage)
        results.append((outcome.usage.input_tokens, verdicts, cost))

    try:
        await asyncio.gather(*(one(b, i) for i, b in enumerate(bundles)))
    finally:
        await provider.aclose()
    tokens, verdicts, cost = (sum(r[i] for r in results) for i in range(3))
    return {
        "calls": len(results),
        "verdicts": verdicts,
        "input_tokens_per_verdict": tokens / max(1, verdicts),
        "cost_per_verdict_usd": cost / max(1, verdicts),
    }


def accuracy_against_truth(tasks: list[PairTask], summary: DispatchSummary) -> float:
    """Share of the verdicts that agree with the simulated server's truth for their pair."""
    by_id = {t.pair_id: t for t in tasks}
    right = [
        o.verdict.first_wins
        == (true_winner(by_id[o.pair_id].first_text, by_id[o.pair_id].second_text) == "A")
        for o in summary.outcomes
        if o.verdict is not None
    ]
    return sum(right) / max(1, len(right))


async def _measure(speed: float, seed: int) -> dict[str, Any]:
    batch = load_demo()
    context = batch.context
    texts = [item.text for item in batch.items]
    tasks = _pairs(texts, N_PAIRS, seed)
    catalogue = load_catalogue()
    model = "sim-gpt51-low"
    out: dict[str, Any] = {"pairs": N_PAIRS, "speed": speed, "concurrency": CONCURRENCY}
    # The run loop's bundles of 4 share essays (a 4-cycle over 4 essays); the same pairs are
    # sent one per call for the per-request figures.
    grouped = _grouped_pairs(texts, GROUPED_PAIRS, 4, seed)
    grouped6 = _grouped_pairs(texts, GROUPED_PAIRS, 6, seed)
    out["layout_pairs"] = {"bundle4": len(grouped), "bundle6": len(grouped6)}
    async with running_server("gpt51-low", speed=speed, seed=seed) as url:
        single = await _dispatch(
            url,
            model,
            context,
            grouped,
            DispatchSettings(mode="per_request", concurrency=CONCURRENCY),
        )
        bundle = await _dispatch(
            url,
            model,
            context,
            grouped,
            DispatchSettings(mode="bundle", bundle_size=4, concurrency=CONCURRENCY, seed=seed),
        )
        separate = await _separate_bundles(url, model, context, texts, N_PAIRS, 4, seed)
        bundle6 = await _dispatch(
            url,
            model,
            context,
            grouped6,
            DispatchSettings(mode="bundle", bundle_size=6, concurrency=CONCURRENCY, seed=seed),
        )
    mean_latency = statistics.fmean(single.call_latencies)
    ideal = single.calls * mean_latency / CONCURRENCY
    est_single = estimate_run(
        catalogue,
        model,
        context,
        texts,
        len(grouped),
        pairs_per_call=1,
        concurrency=CONCURRENCY,
        mean_latency_s=mean_latency,
    )
    est_bundle = estimate_run(
        catalogue,
        model,
        context,
        texts,
        len(grouped),
        pairs_per_call=4,
        concurrency=CONCURRENCY,
        mean_latency_s=mean_latency,
    )
    est_bundle6 = estimate_run(
        catalogue,
        model,
        context,
        texts,
        len(grouped6),
        pairs_per_call=6,
        concurrency=CONCURRENCY,
        mean_latency_s=mean_latency,
    )
    err_single = abs(est_single.cost_usd - single.cost_usd) / single.cost_usd
    err_bundle = abs(est_bundle.cost_usd - bundle.cost_usd) / bundle.cost_usd
    err_bundle6 = abs(est_bundle6.cost_usd - bundle6.cost_usd) / bundle6.cost_usd
    # The product's default bundle (core.prompt.DEFAULT_BUNDLE_PAIRS) among those measured.
    by_size = {4: bundle, 6: bundle6}
    default = by_size[DEFAULT_BUNDLE_PAIRS]

    def per_verdict(s: DispatchSummary) -> float:
        return s.usage.input_tokens / max(1, s.verdicts)

    out.update(
        {
            "calls_ratio_per_request_over_bundle4": single.calls / bundle.calls,
            "input_tokens_ratio_per_request_over_bundle4": per_verdict(single)
            / per_verdict(bundle),
            "input_tokens_ratio_per_request_over_bundle4_separate": per_verdict(single)
            / separate["input_tokens_per_verdict"],
            "input_tokens_ratio_per_request_over_bundle6": per_verdict(single)
            / per_verdict(bundle6),
            "default_bundle_pairs": DEFAULT_BUNDLE_PAIRS,
            "input_tokens_ratio_per_request_over_default_bundle": per_verdict(single)
            / per_verdict(default),
            "calls_per_verdict_ratio_per_request_over_default_bundle": (
                single.calls / max(1, single.verdicts)
            )
            / (default.calls / max(1, default.verdicts)),
            "cost_per_verdict_ratio_per_request_over_bundle4": (
                single.cost_usd / max(1, single.verdicts)
            )
            / (bundle.cost_usd / max(1, bundle.verdicts)),
            "wall_time_ratio_vs_ideal": single.wall_s / ideal,
            "cost_estimate_error": max(err_single, err_bundle, err_bundle6),
            "per_request": _describe(single),
            "bundle4": _describe(bundle),
            "bundle4_separate": separate,
            "bundle6": _describe(bundle6),
            "estimate": {
                "per_request_usd": est_single.cost_usd,
                "bundle4_usd": est_bundle.cost_usd,
                "bundle6_usd": est_bundle6.cost_usd,
                "per_request_error": err_single,
                "bundle4_error": err_bundle,
                "bundle6_error": err_bundle6,
            },
            "accuracy_per_request": accuracy_against_truth(grouped, single),
            "accuracy_bundle4": accuracy_against_truth(grouped, bundle),
            "accuracy_bundle6": accuracy_against_truth(grouped6, bundle6),
        }
    )
    out.update(await _flaky(context, tasks, seed))
    out.update(await _degrading(context, tasks, seed))
    out.update(await _quota(context, tasks, seed))
    out.update(await _strict(context, tasks))
    out.update(_injection(seed))
    out.update(await _caching(seed))
    out.update(group_keys(seeds=GROUP_SEEDS))
    detail = out["groups_comparisons_per_essay_to_spearman_0_90"]
    per_verdict_of = {
        "separate": separate,
        "shared4": _describe(bundle),
        "shared6": _describe(bundle6),
    }
    # What reaching Spearman 0.90 costs per essay: per verdict × verdicts needed per essay
    # (comparisons per essay / 2), in input tokens and in dollars (input and output).
    # Listwise (measured in simulation only, not offered): a call ranking the 4 essays of a
    # bundle of 6 costs that bundle's input but one answer's output (one justification and a
    # ranking), as modelled here from the measured calls.
    lw = out.get("listwise_comparisons_per_essay_to_spearman_0_90")
    if lw:
        b6 = _describe(bundle6)
        call_usage = Usage(
            input_tokens=round(bundle6.usage.input_tokens / bundle6.calls),
            cached_input_tokens=round(bundle6.usage.cached_input_tokens / bundle6.calls),
            output_tokens=round(single.usage.output_tokens / single.calls) + 8,
        )
        listwise_call = catalogue.cost_usd(model, call_usage)
        pairwise_call = b6["cost_usd"] / max(1, b6["calls"])
        out["listwise_modelled_cost_ratio_over_pairwise6"] = (
            lw["listwise4_essays"] * listwise_call
        ) / (lw["pairwise6"] * pairwise_call)
    for unit, field_name in (
        ("input_tokens", "input_tokens_per_verdict"),
        ("usd", "cost_per_verdict_usd"),
    ):
        out[f"{unit}_per_essay_to_spearman_0_90"] = {
            size: {name: per_verdict_of[name][field_name] * per[name] / 2.0 for name in per}
            for size, per in detail.items()
        }
    return out


def _describe(s: DispatchSummary) -> dict[str, Any]:
    return {
        "calls": s.calls,
        "failed_calls": s.failed_calls,
        "verdicts": s.verdicts,
        "input_tokens": s.usage.input_tokens,
        "cached_input_tokens": s.usage.cached_input_tokens,
        "output_tokens": s.usage.output_tokens,
        "input_tokens_per_verdict": s.usage.input_tokens / max(1, s.verdicts),
        "cost_usd": s.cost_usd,
        "cost_per_verdict_usd": s.cost_usd / max(1, s.verdicts),
        "wall_s": s.wall_s,
        "mean_call_latency_s": statistics.fmean(s.call_latencies) if s.call_latencies else None,
    }


async def _flaky(context: AssignmentContext, tasks: list[PairTask], seed: int) -> dict[str, Any]:
    settings = DispatchSettings(
        mode="bundle",
        bundle_size=4,
        concurrency=CONCURRENCY,
        max_attempts=8,
        backoff=Backoff(base_s=0.02, cap_s=0.2),
        seed=seed,
    )
    async with running_server("flaky", speed=50.0, seed=seed, timeout_sleep_s=5.0) as url:
        summary = await _dispatch(url, "sim-generic", context, tasks, settings, timeout_s=1.0)
        async with httpx.AsyncClient() as client:
            ledger: dict[str, list[str]] = (await client.get(url + "/sim/ledger")).json()
            stats: dict[str, int] = (await client.get(url + "/sim/stats")).json()
    by_id = {t.pair_id: t for t in tasks}
    seen = [o.pair_id for o in summary.outcomes]
    lost = len(set(by_id) - set(seen)) + (len(seen) - len(set(seen)))
    wrong = 0
    for o in summary.outcomes:
        if o.verdict is None:
            continue
        t = by_id[o.pair_id]
        stated = ledger.get(pair_fingerprint(t.first_text, t.second_text), [])
        if ("A" if o.verdict.first_wins else "B") not in stated:
            wrong += 1
    failures: dict[str, int] = {}
    for o in summary.outcomes:
        if o.category is not None:
            failures[str(o.category)] = failures.get(str(o.category), 0) + 1
    return {
        "flaky_lost_verdicts": lost,
        "flaky_wrong_verdicts": wrong,
        "flaky": {
            "verdicts": summary.verdicts,
            "explicit_failures": failures,
            "calls": summary.calls,
            "failed_calls": summary.failed_calls,
            "server_faults": {k: v for k, v in stats.items() if k.startswith("fault_")},
        },
    }


async def _degrading(
    context: AssignmentContext, tasks: list[PairTask], seed: int
) -> dict[str, Any]:
    acc: dict[int, float] = {}
    for k in (1, 8):
        mode: Mode = "per_request" if k == 1 else "bundle"
        settings = DispatchSettings(mode=mode, bundle_size=k, concurrency=CONCURRENCY, seed=seed)
        async with running_server("bundle-degrading", speed=200.0, seed=seed) as url:
            summary = await _dispatch(url, "sim-generic", context, tasks, settings)
        acc[k] = accuracy_against_truth(tasks, summary)
    return {
        "bundle8_accuracy_drop": acc[8] - acc[1],
        "bundle_degrading_accuracy": {"k1": acc[1], "k8": acc[8]},
    }


_WIRES: dict[str, tuple[ProviderKind, str, str]] = {
    "openai": ("openai", "gpt-5-mini", "/v1"),
    "anthropic": ("anthropic", "claude-haiku-4-5", ""),
    "gemini": ("gemini", "gemini-2.5-flash", ""),
    "openai_compatible": ("openai_compatible", "sim-generic", "/v1"),
}


async def _quota_run(
    context: AssignmentContext,
    tasks: list[PairTask],
    kind: ProviderKind,
    model: str,
    suffix: str,
    concurrency: int,
) -> dict[str, int]:
    async with running_server("quota", speed=1000.0, quota_after_calls=10) as url:
        provider = make_provider(
            ProviderConfig(kind=kind, model=model, base_url=url + suffix, api_key=SecretStr("k"))
        )
        stopped = 0
        try:
            await Dispatcher(
                provider, DispatchSettings(mode="bundle", bundle_size=4, concurrency=concurrency)
            ).run(context, tasks, nonce_entropy=b"bench-quota")
        except QuotaExhaustedError:
            stopped = 1
        finally:
            await provider.aclose()
        async with httpx.AsyncClient() as client:
            stats: dict[str, int] = (await client.get(url + "/sim/stats")).json()
    return {
        "stopped": stopped,
        "refusals": stats.get("quota_refusals", 0),
        "after_first": stats.get("requests_after_quota", 0),
    }


async def _quota(context: AssignmentContext, tasks: list[PairTask], seed: int) -> dict[str, Any]:
    per: dict[str, Any] = {}
    for wire, (kind, model, suffix) in _WIRES.items():
        one = await _quota_run(context, tasks[:120], kind, model, suffix, 1)
        many = await _quota_run(context, tasks[:120], kind, model, suffix, CONCURRENCY)
        per[wire] = {"concurrency1": one, f"concurrency{CONCURRENCY}": many}
    return {
        "quota_calls_after_first_429": max(v["concurrency1"]["after_first"] for v in per.values()),
        "quota_refusals_in_flight": max(
            v[f"concurrency{CONCURRENCY}"]["refusals"] for v in per.values()
        ),
        "quota_stopped_every_client": all(
            v["concurrency1"]["stopped"] and v[f"concurrency{CONCURRENCY}"]["stopped"]
            for v in per.values()
        ),
        "quota": per,
    }


_CLIENTS: list[tuple[ProviderKind, str]] = [
    ("openai", "gpt-5-mini"),
    ("openai", "gpt-5.1"),
    ("openai", "gpt-4.1-mini"),
    ("openai", "gpt-5-chat-latest"),
    ("openai", "gpt-5-pro"),
    ("openai_compatible", "openai/gpt-5"),
    ("openai_compatible", "sim-gpt51-low"),
    ("anthropic", "claude-haiku-4-5"),
    ("anthropic", "claude-sonnet-4-5"),
    ("gemini", "gemini-2.5-flash"),
    ("gemini", "gemini-3-pro-preview"),
]
_ENDPOINTS = {
    "openai": "/v1/chat/completions",
    "anthropic": "/v1/messages",
    "gemini": "/v1beta/models/{model}:generateContent",
}


def _client_body(
    kind: ProviderKind, model: str, context: AssignmentContext, tasks: list[PairTask]
) -> dict[str, object]:
    provider = make_provider(
        ProviderConfig(
            kind=kind,
            model=model,
            base_url="http://127.0.0.1:9/v1",
            api_key=SecretStr("k"),
            temperature=0.3,
        )
    )
    return provider.build_batch_body(context, tasks, "benchstrictnonce")


async def _strict(context: AssignmentContext, tasks: list[PairTask]) -> dict[str, Any]:
    violations: list[str] = []
    for kind, model in _CLIENTS:
        wire = "openai" if kind in ("openai", "openai_compatible") else kind
        for n in (1, 4, 10):
            found = rejection_kind(wire, _client_body(kind, model, context, tasks[:n]))  # type: ignore[arg-type]
            if found is not None:
                violations.append(f"{kind}/{model}/{n}: {found}")
    caught: dict[str, bool] = {}
    async with running_server("generic", speed=1000.0) as url, httpx.AsyncClient() as http:
        for invalid in INVALID_KINDS:
            family: ProviderKind = "openai" if invalid.wire == "openai" else invalid.wire
            valid = _client_body(family, invalid.model, context, tasks[:4])
            broken = invalid.break_it(valid)
            path = _ENDPOINTS[invalid.wire].format(model=invalid.model)
            response = await http.post(url + path, json=broken, headers={"x-api-key": "k"})
            caught[invalid.name] = (
                response.status_code == 400
                and response.headers.get(KIND_HEADER) == invalid.name
                and rejection_kind(invalid.wire, valid) is None
            )
    never_sent = not violations
    return {
        "strict_sim_rejections_caught": sum(caught.values()) if never_sent else 0,
        "strict_sim_kinds": len(INVALID_KINDS),
        "strict_sim_client_violations": len(violations),
        "strict_sim": {"kinds": caught, "violations": violations},
    }


def _injection(seed: int) -> dict[str, float]:
    """The hostile-essay keys of :mod:`app.bench.injection`, when that module exists."""
    try:
        from app.bench.injection import injection_keys  # noqa: PLC0415
    except ImportError:
        return {}
    return dict(injection_keys(seed))


async def _caching(seed: int) -> dict[str, object]:
    """The prompt-caching keys of :mod:`app.bench.caching`."""
    from app.bench.caching import measure_caching  # noqa: PLC0415

    return dict(await measure_caching(seed))


def main(speed: float = 20.0, seed: int = 0) -> int:
    t0 = time.perf_counter()
    result = asyncio.run(_measure(speed, seed))
    result["seconds"] = time.perf_counter() - t0
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0
