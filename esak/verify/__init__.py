"""Checks and reports: completeness, page accounting, fixity."""
