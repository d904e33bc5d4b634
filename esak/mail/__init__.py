"""Incoming mail (Posteingang): the scanning provider's daily scans of the letters citizens,
employers and landlords send, each filed in its household's e-file, never in a wrong one.

- ``route``: pure logic, from a letter's codes and OCR words to a household or a reason;
- ``letters``: pure logic, the pages of a delivery file split into letters;
- ``task``: the worker's part: a letter OCR'd into PDF/A, its numbers read a second time;
- ``ingest``: ``esak mail ingest``, the pipeline of a delivery; ``commit``: one file's
  letters archived or made Klärfälle in one transaction; ``report``: what a delivery came to;
- ``stats``: ``esak mail stats``.
"""
