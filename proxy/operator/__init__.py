"""The operator's page (/admin) and its JSON twin (/admin/api/...): figures every replica
reads from the same Redis time buckets (tally.py writes them, figures.py reads them)."""
