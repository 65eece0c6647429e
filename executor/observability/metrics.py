"""Prometheus metrics, on a registry of the daemon's own so that several daemons in one test never clash."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.signals = Counter(
            "executor_signals_total",
            "Signals received, by ingress status",
            ["status"],
            registry=self.registry,
        )
        self.decisions = Counter(
            "executor_decisions_total",
            "Risk decisions, by reason code (accepted for an accepted one)",
            ["reason"],
            registry=self.registry,
        )
        self.orders = Counter(
            "executor_orders_total",
            "Order state changes, by kind and state",
            ["kind", "state"],
            registry=self.registry,
        )
        self.signal_to_wire = Histogram(
            "executor_signal_to_wire_seconds",
            "From a signal's arrival at ingress to its entry request leaving for the exchange (after any "
            "throttle wait; observed once it has gone)",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.equity = Gauge("executor_equity", "Account equity in the quote currency", registry=self.registry)
        self.day_loss = Gauge("executor_day_loss", "Today's loss (positive = loss)", registry=self.registry)
        self.day_loss_limit = Gauge("executor_day_loss_limit", "Today's loss limit", registry=self.registry)
        self.breaker_tripped = Gauge(
            "executor_breaker_tripped", "1 while the daily-loss breaker is tripped", registry=self.registry
        )
        self.alerts = Counter(
            "executor_alerts_total", "Alerts raised, by kind", ["kind"], registry=self.registry
        )
        self.component_up = Gauge(
            "executor_component_up",
            "1 while a watched part works (ingress sources, the database), 0 while it does not",
            ["component"],
            registry=self.registry,
        )
        self.ready = Gauge("executor_ready", "1 while /ready answers 200", registry=self.registry)
        self.stream_live = Gauge(
            "executor_stream_live",
            "1 while an exchange market stream delivers, 0 while connecting or down (prices from REST)",
            ["stream"],
            registry=self.registry,
        )
        self.stream_age = Gauge(
            "executor_stream_age_seconds",
            "Seconds since an exchange stream's last message (-1 before the first; the user data stream "
            "counts its pongs, as it is silent while nothing happens)",
            ["stream"],
            registry=self.registry,
        )
        self.user_events = Counter(
            "executor_user_events_total",
            "Events received from the exchange's user data stream, by kind",
            ["kind"],
            registry=self.registry,
        )
        self.user_stream_resyncs = Counter(
            "executor_user_stream_resyncs_total",
            "Full REST resyncs after a user-stream gap (a connection, stall or listen-key expiry)",
            registry=self.registry,
        )
        self.tasks = Gauge(
            "executor_asyncio_tasks",
            "asyncio tasks alive when scraped (flat in a healthy daemon)",
            registry=self.registry,
        )
        self.tasks.set_function(_task_count)

    def order_moved(self, kind: str, state: str) -> None:
        self.orders.labels(kind=kind, state=state).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _task_count() -> float:
    try:
        return float(len(asyncio.all_tasks()))
    except RuntimeError:  # scraped outside the event loop (a test, a thread)
        return 0.0
