"""The daemon's life: start-up in order, serve until told to stop, shut down within the time limit."""

from __future__ import annotations

import asyncio
import signal

from executor.config.settings import Settings
from executor.observability.logging import get_logger
from executor.service.http import HttpServer, build_app
from executor.service.state import ServiceState
from executor.store.store import Store

log = get_logger("executor.service")


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


class Daemon:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state = ServiceState()
        self._stop = asyncio.Event()

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        store = Store.open(self.settings.database.url)
        http: HttpServer | None = None
        try:
            await store.upgrade()
            host, port = _split(self.settings.ingress.http)
            http = HttpServer(build_app(self.state), host, port)
            await http.start()
            self.state.mark_ready()
            log.info(
                "ready",
                http=http.url,
                exchange=self.settings.exchange.name.value,
                mode=self.settings.exchange.mode.value,
                account=self.settings.exchange.account,
                database=store.dialect,
            )
            await self._stop.wait()
            log.info("stopping", reason="signal")
            self.state.mark_not_ready("stopping")
        finally:
            timeout = self.settings.service.shutdown_timeout_seconds
            await asyncio.wait_for(self._shutdown(http, store), timeout)
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        log.info("stopped")

    async def _shutdown(self, http: HttpServer | None, store: Store) -> None:
        if http is not None:
            await http.stop()
        await store.close()
