"""From processed rows to typed analysis results: which rows enter, the engine calls, the
layout of the results."""
