"""Aggregated ratings per secretary term, the case three rates, review flags, charts and exports."""
