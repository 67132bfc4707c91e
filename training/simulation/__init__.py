"""The closed-loop simulator (``mediarec simulate``): synthetic users, the real handlers, the
scheduled evaluation. A room of its own: it drives the local Lambda invocation (``local``) with
a synthetic world (``datasets``) and trains with the core."""

from training.simulation.loop import SimulationConfig, SimulationResult, position_bias, simulate

__all__ = ["SimulationConfig", "SimulationResult", "position_bias", "simulate"]
