"""optmod: a local OpenAI-compatible proxy that routes each request to the model with the best quality for the money."""

__version__ = "0.1.0"
