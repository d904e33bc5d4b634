"""Test and demo data generation, outside the pipeline.

Nothing in here is imported by ingest, inspect or verify: these modules make synthetic scans
(and the truth about them) so that tests and demos can check the pipeline against pages whose
right answer is known, without real case files, which may not leave the job centre.
"""
