"""Prometheus measures of the judging layer (names keep the meaning the platform used)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class LLMMetrics:
    """One registry per process (or per test), holding every judging measure."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "llm_requests", "Pair verdicts requested", ["mode", "provider", "model"], registry=r
        )
        self.calls = Counter(
            "llm_calls", "Provider calls made", ["mode", "provider", "model", "outcome"], registry=r
        )
        self.batches_started = Counter(
            "llm_batches_started", "Provider batches started", ["mode", "provider"], registry=r
        )
        self.items_per_call = Histogram(
            "llm_items_per_call",
            "Pairs per provider call",
            ["provider", "model"],
            buckets=(1, 2, 3, 4, 5, 6, 8, 10),
            registry=r,
        )
        self.queue_wait = Histogram(
            "llm_queue_wait_seconds",
            "Time a pair waited between being queued and its call starting",
            ["provider"],
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300),
            registry=r,
        )
        self.tokens = Counter(
            "llm_tokens", "Tokens by kind", ["provider", "model", "kind"], registry=r
        )
        self.cost = Counter("llm_cost_usd", "Cost in USD", ["provider", "model"], registry=r)
        self.errors = Counter(
            "llm_errors", "Failures by category", ["provider", "model", "category"], registry=r
        )
        self.circuit_open = Gauge(
            "llm_circuit_open",
            "1 while the provider's circuit breaker is open",
            ["provider"],
            registry=r,
        )

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """The current value of a sample (0 when absent), e.g. ``value("llm_calls_total", …)``."""
        got = self.registry.get_sample_value(name, labels or {})
        return float(got) if got is not None else 0.0
