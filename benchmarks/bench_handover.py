"""The handover's two costs: export throughput, and search latency on a site-sized index.

Export: a site of generated documents (stand-in PDFs of a realistic size, random bytes so
nothing compresses) exported as a BagIt bag; the baseline is a plain ``cp -r`` of the same
archive folder. The ratio says what hashing (sha256 + sha512, and the re-hash of the source
against the index) adds to copying.

Search: ``--pages`` (default 100,000) page rows of German text drawn from the generator's
sentences, indexed through ``esak.index.texts`` (trigram FTS5); queries of one and two words,
compounds and umlaut variants, each timed over several runs. Aim: under 200 ms a query.
Also the index's size per page.

Run: .venv/bin/python benchmarks/bench_handover.py [--documents 400] [--pages 100000]
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from esak.export import export_site
from esak.index import texts
from esak.index.audit import record_existing
from esak.index.db import Index
from esak.synthetic.index import Shape, populate
from esak.workspace import Workspace

QUERIES = ("bewilligung", "Weiterbewilligungsantrag", "strasse", "Mueller", "Kosten Unterkunft",
           "bescheid", "krankenversichert", "Größe")  # fmt: skip
_TEXT = (
    "Bescheid über die Bewilligung von Leistungen zur Sicherung des Lebensunterhalts nach dem "
    "Zweiten Buch Sozialgesetzbuch Weiterbewilligungsantrag Bedarfsgemeinschaft Jobcenter "
    "Kosten für Unterkunft und Heizung werden in tatsächlicher Höhe anerkannt Mietvertrag "
    "Kaution Lohnabrechnung Verdienstbescheinigung Kontoauszug Überweisung Mühlenstraße "
    "Bocholter Straße Müller Schäfer Größe Änderungsbescheid krankenversichert Freibeträge "
    "Einkommen Erwerbstätigkeit Rechtsbehelfsbelehrung Widerspruch innerhalb eines Monats"
)
_WORDS = tuple(_TEXT.split())
_PARTS = ("ber be ge ver an auf aus ein zu ung heit keit schaft lich isch en er ern el tag "
          "haus werk amt geld miet lohn kost zahl stell recht antrag frist brief nach weis bei "
          "hilfe sach bear arbeit grund wohn raum")
_SYLLABLES = tuple(_PARTS.split())


def _vocabulary(rng: random.Random, size: int) -> list[str]:
    """German-looking words, the case file's words among them at every frequency: a Zipf
    vocabulary, so that a query word is on some pages and not on all of them."""
    made = {"".join(rng.choices(_SYLLABLES, k=rng.randint(2, 5))) for _ in range(size * 2)}
    vocabulary = sorted(made)[:size]
    rng.shuffle(vocabulary)
    for i, word in enumerate(_WORDS):
        vocabulary.insert(min(len(vocabulary), 300 + i * 90), word)
    return vocabulary


def _export(documents: int, size_kb: int) -> None:
    with tempfile.TemporaryDirectory(prefix="esak-bench-export-") as tmp:
        ws = Workspace(Path(tmp) / "ws").ensure()
        shape = Shape(households=documents // 4, documents_per_household=4,
                      pages_per_document=3, blank_per_document=0,
                      households_per_batch=40)  # fmt: skip
        with Index.open(ws.index_path) as index:
            populate(index, ws.archive_dir, "borken", shape)
            rng = random.Random(1)
            import hashlib

            with index.transaction() as db:
                for doc_id, path in db.execute("SELECT id, path FROM documents").fetchall():
                    data = rng.randbytes(size_kb * 1024)
                    (ws.archive_dir / path).write_bytes(data)
                    db.execute("UPDATE documents SET size = ?, sha256 = ? WHERE id = ?",
                               [len(data), hashlib.sha256(data).hexdigest(), doc_id])  # fmt: skip
                record_existing(db)
        total = sum(p.stat().st_size for p in ws.archive_dir.rglob("*.pdf"))
        started = time.perf_counter()
        subprocess.run(["cp", "-r", str(ws.archive_dir), str(Path(tmp) / "copy")], check=True)
        os.sync()
        cp_s = time.perf_counter() - started
        started = time.perf_counter()
        export_site(ws, "borken", Path(tmp) / "bag")
        os.sync()
        bag_s = time.perf_counter() - started
        mb = total / 1e6
        print(f"export: {documents} documents, {mb:.0f} MB")
        print(f"  cp -r   {cp_s:6.2f} s  {mb / cp_s:7.1f} MB/s")
        print(f"  export  {bag_s:6.2f} s  {mb / bag_s:7.1f} MB/s   ratio {bag_s / cp_s:.2f}×")
        shutil.rmtree(Path(tmp) / "bag", ignore_errors=True)


def _search(pages: int, repeat: int) -> None:
    rng = random.Random(2)
    with tempfile.TemporaryDirectory(prefix="esak-bench-search-") as tmp:
        ws = Workspace(Path(tmp) / "ws").ensure()
        with Index.open(ws.index_path) as index:
            docs = max(1, pages // 4)
            populate(index, None, "borken", Shape(households=max(1, docs // 5),
                                                  documents_per_household=5,
                                                  pages_per_document=4, blank_per_document=0,
                                                  households_per_batch=50))  # fmt: skip
            started = time.perf_counter()
            rows = index.db.execute("SELECT id, site, household, pages FROM documents").fetchall()
            vocabulary = _vocabulary(rng, 20_000)
            zipf = (1 / (rank + 1) ** 1.05 for rank in range(len(vocabulary)))
            weights = list(itertools.accumulate(zipf))
            with index.transaction() as db:
                for doc_id, site, household, n in rows:
                    body = [" ".join(rng.choices(vocabulary, cum_weights=weights, k=220))
                            for _ in range(n)]  # fmt: skip
                    texts.set_document_text(db, doc_id, site, household, body)
            indexed = time.perf_counter() - started
            size = texts.size(index)
            print(f"search: {size['pages']} pages indexed in {indexed:.1f} s; "
                  f"text {size['text_bytes'] / 1e6:.0f} MB, trigram index "
                  f"{size['fts_bytes'] / 1e6:.0f} MB ({size['fts_bytes'] / size['pages']:.0f} "
                  "bytes a page)")
            for query in QUERIES:
                times = []
                for _ in range(repeat):
                    started = time.perf_counter()
                    hits = texts.search(index, query, site="borken", limit=20)
                    times.append(time.perf_counter() - started)
                print(f"  {query!r:30} median {statistics.median(times) * 1000:7.1f} ms  "
                      f"max {max(times) * 1000:7.1f} ms  {len(hits)} hits")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--documents", type=int, default=400)
    ap.add_argument("--size-kb", type=int, default=300, help="size of each stand-in PDF")
    ap.add_argument("--pages", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    _export(args.documents, args.size_kb)
    _search(args.pages, args.repeat)


if __name__ == "__main__":
    main()
