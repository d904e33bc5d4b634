"""The ingest pipeline: reading, classifying and archiving scanned pages."""
