"""Pure filters that shrink tool outputs (diffs, test runs, listings, searches, builds, logs) for a model.

`compress_output(text, min_chars)` is the entry point; `FILTERS` is the table it dispatches on. Nothing here
does I/O or depends on anything but the text, so the same output always compresses to the same bytes.
"""

from optmod.compression.catalog import FILTER_NAMES, FILTERS, Compressed, OutputFilter, compress_output

__all__ = ["FILTERS", "FILTER_NAMES", "Compressed", "OutputFilter", "compress_output"]
