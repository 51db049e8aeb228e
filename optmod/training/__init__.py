"""Offline training and evaluation of the learned routers: data loading, metrics, evaluation, commands.

Nothing here runs on the proxy's request path except what `optmod.encoders` and the routers import.
"""
