"""The limit with Tesseract inside the process: tesserocr, one API object per worker process.

``python benchmarks/limit_tesserocr.py --jobs N --dpi D --lang deu OUT IMAGE...`` reads every
image with ``ProcessPages`` and writes ``OUT/<stem>.hocr`` and ``.txt``, as the CLI limit
(``tesseract IMG OUT --dpi D -l deu hocr txt``) does; N processes, each loading the model
once and reusing it for all its pages. Run as its own process by ``bench_ingest.py`` so that
its CPU is counted like any other run's.
"""

from __future__ import annotations

import argparse
import os
import sys
from multiprocessing import get_context
from pathlib import Path

_api = None
_out: Path
_dpi = 300


def _init(tessdata: str, lang: str, out: str, dpi: int) -> None:
    global _api, _out, _dpi
    import tesserocr

    _api = tesserocr.PyTessBaseAPI(path=tessdata, lang=lang, psm=tesserocr.PSM.AUTO)
    _api.SetVariable("tessedit_create_hocr", "1")
    _api.SetVariable("tessedit_create_txt", "1")
    _out, _dpi = Path(out), dpi


def _one(image: str) -> str | None:
    assert _api is not None
    _api.SetVariable("user_defined_dpi", str(_dpi))
    if not _api.ProcessPages(str(_out / Path(image).stem), image):
        return f"{Path(image).name}: ProcessPages failed"
    _api.Clear()
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--dpi", type=int, default=300)
    parser.add_argument("--lang", default="deu")
    parser.add_argument("--tessdata", default="/usr/share/tesseract-ocr/5/tessdata/")
    parser.add_argument("out", type=Path)
    parser.add_argument("images", nargs="+")
    args = parser.parse_args(argv)
    os.environ["OMP_THREAD_LIMIT"] = "1"
    context = get_context("spawn")
    init = (args.tessdata, args.lang, str(args.out), args.dpi)
    with context.Pool(args.jobs, initializer=_init, initargs=init) as pool:
        failures = [f for f in pool.imap_unordered(_one, args.images) if f]
    for failure in failures[:5]:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
