"""A local exchange: a matching engine behind Binance USDⓈ-M and Phemex REST dialects for unmodified ccxt."""

from adapters.sim.config import SimConfig, SimConfigError, load_sim_config
from adapters.sim.persistence import SimStateError
from adapters.sim.server import SimServer

__all__ = ["SimConfig", "SimConfigError", "SimServer", "SimStateError", "load_sim_config"]
