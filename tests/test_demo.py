"""``make demo`` end to end: the generated delivery, every planted problem found, every
Klärfall resolved, the QA sample, the transfer notes and the audit log (real OCR, 150 dpi)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from esak.cli import cli
from esak.errors import ExitCode
from esak.synthetic.demo import run_demo

pytestmark = pytest.mark.slow


def test_the_demo_ends_complete_with_its_evidence(tmp_path, german):
    result = run_demo(tmp_path / "demo", dpi=150)
    failed = [name for name, passed in result.checks if not passed]
    assert failed == [] and result.exit_code == ExitCode.OK
    assert result.verification.status == "incomplete"  # the planted problems, first
    assert result.final is not None and result.final.status == "complete"
    assert len(result.resolutions) == len(result.final.resolved_cases) >= 5
    assert any("checked by" in line and "passed" in line for line in result.evidence)
    # The release check, step by step: blocked at first, releasable after the backup.
    assert "blocked by" in result.release[0] and "open_cases" in result.release[0]
    assert result.release[-1].startswith("after the backup: releasable")
    page = result.html_report.read_text(encoding="utf-8")
    assert "Vollständig — kann abgenommen werden" in page  # German, as the Jobcenter reads it
    # The CLI reads the same workspace again: nothing to do, the same verdict.
    ws = tmp_path / "demo" / "workspace"
    out = CliRunner().invoke(cli, ["--workspace", str(ws), "audit", "verify", "--json"])
    assert out.exit_code == ExitCode.OK and json.loads(out.stdout)["intact"]
