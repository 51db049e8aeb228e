"""A simulated OpenAI-compatible provider pool: the upstream of the tests, of demo mode and of the benchmarks.

profiles.py  ModelProfile: one simulated model (delays, answer length, context window, usage style)
faults.py    Fault and the queue that hands faults to the next matching requests
usage.py     prompt tokens and the prefix cache, usage in OpenAI / DeepSeek / OpenRouter shape
answers.py   deterministic text answers and schema-filled tool calls
wire.py      completions, stream chunks and error bodies as bytes
replies.py   pacing and writing answers; one reply per fault kind
journal.py   what was received, for assertions
control.py   /_sim/* endpoints for a simulator in another process
server.py    SimulatedProvider (aiohttp) and serve_forever
command.py   `python -m optmod.simulator` and run_simulator
"""

from optmod.simulator.command import run_simulator
from optmod.simulator.faults import FAULT_KINDS, Fault, FaultSpecError
from optmod.simulator.journal import ReceivedRequest
from optmod.simulator.profiles import ModelProfile, demo_profiles, generic_profiles
from optmod.simulator.server import SimulatedProvider, serve_forever

__all__ = [
    "FAULT_KINDS",
    "Fault",
    "FaultSpecError",
    "ModelProfile",
    "ReceivedRequest",
    "SimulatedProvider",
    "demo_profiles",
    "generic_profiles",
    "run_simulator",
    "serve_forever",
]
