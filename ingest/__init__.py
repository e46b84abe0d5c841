"""Stage `ingest`: read every file of an inbox (contract §1) into raw text tables with provenance."""
