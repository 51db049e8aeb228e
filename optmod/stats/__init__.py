"""Request statistics for `/api/stats` and the dashboard, folded incrementally from the log records.

`aggregate` keeps the running state (minute and hour buckets, a ring of recent rows); `tally` holds the
compact row of a request and the additive counters; `render` turns counters into the API body.
"""

from optmod.stats.aggregate import MAX_LAST_N, RangeError, RebuildResult, StatsAggregate, parse_range

__all__ = ["MAX_LAST_N", "RangeError", "RebuildResult", "StatsAggregate", "parse_range"]
