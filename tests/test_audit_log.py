"""The tamper-evident audit log: RFC 6962 tree hashes and proofs, the events, checkpoints and
`esak audit verify` finding every kind of change."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import grp
import hashlib
import json
import os
import random
import re
import shutil
import sqlite3
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from esak.cli import cli
from esak.errors import ExitCode
from esak.index import db as index_db
from esak.index import keeps, merkle
from esak.index.audit import append_audit, leaf_hex, record_existing, recorded_run
from esak.index.db import Index, schema_version
from esak.synthetic import (
    random_person,
    render_blank_page,
    render_content_page,
    render_cover_sheet,
    render_separator,
)
from esak.synthetic.index import Shape, populate
from esak.workspace import PRIVATE, Access, ShareResult, Workspace
from tests.conftest import write_pdf

# --- the Merkle tree -----------------------------------------------------------------------

#: The published RFC 6962 test tree; every vector below is from transparency-dev/merkle,
#: proof/verify_test.go at commit 02194e9afb6c1d95b5381350007963aa70fff472 (``leaves``,
#: ``roots``, ``inclusionProofs``, ``consistencyProofs``), cross-checked against the same
#: values in the CPPMerkleTree tests of certificate-transparency's Go package ``merkletree``
#: (roots, paths to leaves 1 and 6, consistency 1→8, 6→8, 2→5).
LEAVES = [
    bytes.fromhex(h)
    for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
              "606162636465666768696a6b6c6d6e6f")
]  # fmt: skip
#: Its root for sizes 1..8.
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
HASHES = [merkle.leaf_hash(d) for d in LEAVES]


def _hex(values: list[bytes]) -> list[str]:
    return [v.hex() for v in values]


def test_roots_of_the_reference_tree_for_every_size():
    """Vectors: transparency-dev/merkle, proof/verify_test.go (``leaves``, ``roots`` and
    ``sha256EmptyTreeHash``), the roots also in certificate-transparency's ``merkletree``
    tests (``rootForTestLeaves``)."""
    assert merkle.root([]).hex() == hashlib.sha256(b"").hexdigest()
    assert merkle.root([]).hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    for size in range(1, 9):
        assert merkle.tree_hash(LEAVES[:size]).hex() == ROOTS[size - 1], size


#: transparency-dev/merkle, proof/verify_test.go, ``inclusionProofs`` (its leaf numbers
#: count from 1; here the index counts from 0).
INCLUSION = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip

#: transparency-dev/merkle, proof/verify_test.go, ``consistencyProofs``.
CONSISTENCY = [
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (1, 1, []),
]  # fmt: skip


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_inclusion_proofs_of_the_reference_tree(index, size, proof):
    """Vectors: transparency-dev/merkle, proof/verify_test.go (commit 02194e9a); the paths to
    leaves 1 and 6 (from 1) also in certificate-transparency's ``merkletree`` tests."""
    hashes = HASHES[:size]
    assert _hex(merkle.inclusion_proof(hashes, index)) == proof
    root = bytes.fromhex(ROOTS[size - 1])
    path = [bytes.fromhex(p) for p in proof]
    assert merkle.verify_inclusion(HASHES[index], index, size, path, root)
    assert not merkle.verify_inclusion(HASHES[index], index + 1, size, path, root)
    assert not merkle.verify_inclusion(HASHES[index], index, size * 2, path, root)
    assert not merkle.verify_inclusion(merkle.leaf_hash(b"other"), index, size, path, root)
    assert not merkle.verify_inclusion(HASHES[index], index, size, [*path, root], root)


@pytest.mark.parametrize(("m", "n", "proof"), CONSISTENCY)
def test_consistency_proofs_of_the_reference_tree(m, n, proof):
    """Vectors: transparency-dev/merkle, proof/verify_test.go (commit 02194e9a)."""
    assert _hex(merkle.consistency_proof(HASHES[:n], m)) == proof
    root_m, root_n = bytes.fromhex(ROOTS[m - 1]), bytes.fromhex(ROOTS[n - 1])
    path = [bytes.fromhex(p) for p in proof]
    assert merkle.verify_consistency(m, n, root_m, root_n, path)
    if m < n:
        assert not merkle.verify_consistency(m, n, root_n, root_m, path)  # swapped roots
        assert not merkle.verify_consistency(m + 1, n, root_m, root_n, path)
        assert not merkle.verify_consistency(m, n, root_m, root_n, path[:-1])
        assert not merkle.verify_consistency(m, n, root_m, root_n, [*path, root_m])
        assert not merkle.verify_consistency(m, n, root_m, root_n, [])


def test_proofs_round_trip_for_every_leaf_and_prefix_of_trees_up_to_16():
    hashes = [merkle.leaf_hash(bytes([i, i * 7 % 256])) for i in range(16)]
    for n in range(1, 17):
        tree = hashes[:n]
        root = merkle.root(tree)
        for i in range(n):
            proof = merkle.inclusion_proof(tree, i)
            assert merkle.verify_inclusion(tree[i], i, n, proof, root)
            assert not merkle.verify_inclusion(tree[(i + 1) % n], i, n, proof, root) or n == 1
            for bad in range(len(proof)):
                wrong = list(proof)
                wrong[bad] = bytes([wrong[bad][0] ^ 8]) + wrong[bad][1:]
                assert not merkle.verify_inclusion(tree[i], i, n, wrong, root)
        for m in range(0, n + 1):
            proof = merkle.consistency_proof(tree, m)
            assert merkle.verify_consistency(m, n, merkle.root(tree[:m]), root, proof)
            if 0 < m < n:
                other = merkle.root([merkle.leaf_hash(b"x"), *tree[1:m]])
                assert not merkle.verify_consistency(m, n, other, root, proof)
                for bad in range(len(proof)):
                    wrong = list(proof)
                    wrong[bad] = bytes([wrong[bad][0] ^ 16]) + wrong[bad][1:]
                    assert not merkle.verify_consistency(m, n, merkle.root(tree[:m]), root, wrong)
    assert not merkle.verify_consistency(3, 2, merkle.root(hashes[:3]), merkle.root(hashes[:2]), [])


# --- the log of a real workspace -------------------------------------------------------------

DPI = 150
HOUSEHOLD = "95401BG0000401"


def esak(ws: Path, *args: str):
    return CliRunner().invoke(cli, ["--workspace", str(ws), *args], catch_exceptions=False)


def audit_verify(ws: Path, *args: str) -> tuple[int, dict]:
    result = esak(ws, "audit", "verify", *args, "--json")
    return result.exit_code, json.loads(result.stdout)


def codes(report: dict) -> set[str]:
    return {p["code"] for p in report["problems"]}


@contextlib.contextmanager
def tamper(ws: Path):
    """The index opened as someone with a shell on the machine would: sqlite3, no esak, the
    append-only triggers dropped first."""
    db = sqlite3.connect(ws / "index.sqlite", isolation_level=None)
    try:
        db.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        db.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
        yield db
    finally:
        db.close()


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> Path:
    """A real ingest (one batch: cover, page, separator, page, blank back), a verification
    that opens a Klärfall (the household is not expected) and a person closing it."""
    root = tmp_path_factory.mktemp("audit")
    rng = random.Random(14)
    person = random_person(rng)
    pages = [
        render_cover_sheet(HOUSEHOLD, site="borken", dpi=DPI, rng=rng),
        render_content_page(rng, "schreiben", dpi=DPI, person=person, household=HOUSEHOLD),
        render_separator("PATCHT", dpi=DPI, rng=rng),
        render_content_page(rng, "lohnabrechnung", dpi=DPI, person=person, household=HOUSEHOLD),
        render_blank_page(rng, dpi=DPI),
    ]
    write_pdf(pages, root / "delivery" / "batch_001.pdf", DPI)
    ws = root / "ws"
    result = esak(ws, "ingest", "--site", "borken", str(root / "delivery"), "--workers", "1")
    assert result.exit_code == 0, result.output
    assert esak(ws, "verify", "--site", "borken").exit_code == 1  # not expected: a case
    case = json.loads(esak(ws, "clarify", "list", "--json").stdout)["cases"][0]
    closed = esak(ws, "clarify", "close", str(case["id"]), "--by", "A. Admin",
                  "--reason", "Akte gehört nach Rhede")  # fmt: skip
    assert closed.exit_code == 0, closed.output
    return ws


@pytest.fixture
def ws(ingested, tmp_path) -> Path:
    """A copy of the ingested workspace, to change."""
    shutil.copytree(ingested, tmp_path / "ws")
    return tmp_path / "ws"


def test_ingest_verify_and_klaerfaelle_are_in_the_log_and_it_verifies(ingested):
    db = sqlite3.connect(ingested / "index.sqlite")
    try:
        kinds = [r[0] for r in db.execute("SELECT kind FROM audit_log ORDER BY seq")]
        (documents,) = db.execute("SELECT COUNT(*) FROM documents").fetchone()
        (runs,) = db.execute("SELECT COUNT(*) FROM runs").fetchone()
        (events,) = db.execute("SELECT COUNT(*) FROM case_events").fetchone()
        closed = db.execute(
            "SELECT data FROM audit_log WHERE kind = 'case_event' ORDER BY seq DESC LIMIT 1"
        ).fetchone()
    finally:
        db.close()
    assert documents == 2 and runs == 3 and events >= 2
    assert kinds.count("document_archived") == documents
    assert kinds.count("run_started") == kinds.count("run_finished") == runs
    assert kinds.count("case_event") == events
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    data = json.loads(closed[0])
    assert (data["action"], data["by_name"], data["reason"]) == (
        "close", "A. Admin", "Akte gehört nach Rhede"
    )  # fmt: skip
    code, report = audit_verify(ingested)
    assert code == ExitCode.OK, report
    assert report["intact"] is True and report["problems"] == []
    assert report["size"] == len(kinds) and report["files_checked"] == documents
    assert re.fullmatch(r"[0-9a-f]{64}", report["root"])
    human = esak(ingested, "--lang", "en", "audit", "verify")
    assert human.exit_code == 0 and "audit log intact" in human.output


def test_events_are_appended_only_inside_a_transaction_and_never_changed(tmp_path):
    with Index.open(tmp_path / "index.sqlite") as index:
        with pytest.raises(RuntimeError, match="inside the transaction"):
            append_audit(index.db, "case_event", None, {})
        with index.transaction() as db:
            assert append_audit(db, "note", None, {"b": 1, "a": "ä"}) == 0
            assert append_audit(db, "note", ("runs", 7), {}) == 1
        at, data, leaf = index.db.execute(
            "SELECT at, data, leaf_hash FROM audit_log WHERE seq = 0"
        ).fetchone()
        assert data == '{"a":"\\u00e4","b":1}'
        entry = f'{{"at":"{at}","data":{data},"kind":"note","ref":null,"seq":0}}'.encode()
        assert leaf == hashlib.sha256(b"\x00" + entry).hexdigest()
        for statement in ("UPDATE audit_log SET kind = 'x'", "DELETE FROM audit_log"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"), index.transaction():
                index.db.execute(statement)


def test_an_edited_event_is_found(ws):
    with tamper(ws) as db:
        db.execute(
            "UPDATE audit_log SET data = replace(data, 'A. Admin', 'B. Niemand') "
            "WHERE data LIKE '%A. Admin%'"
        )
    code, report = audit_verify(ws)
    assert code == ExitCode.INTEGRITY and report["intact"] is False
    assert "event_changed" in codes(report)
    # Its hash recomputed too: the event no longer says what the case_events row says.
    with tamper(ws) as db:
        for seq, at, kind, ref, data in db.execute(
            "SELECT seq, at, kind, ref, data FROM audit_log"
        ).fetchall():
            db.execute(
                "UPDATE audit_log SET leaf_hash = ? WHERE seq = ?",
                [leaf_hex(seq, at, kind, ref, json.loads(data)), seq],
            )
    code, report = audit_verify(ws)
    assert code == ExitCode.INTEGRITY
    assert codes(report) == {"row_changed"}
    changed = {(p["table"], p["field"]): p for p in report["problems"]}
    assert set(changed) == {("case_events", "by_name"), ("runs", "options")}  # clarify's --by
    problem = changed["case_events", "by_name"]
    assert (problem["actual"], problem["logged"]) == ("A. Admin", "B. Niemand")


def test_a_removed_event_is_found_alone_and_against_a_checkpoint(ws, tmp_path):
    assert esak(ws, "audit", "checkpoint", "-o", str(tmp_path / "cp.json")).exit_code == 0
    with tamper(ws) as db:
        db.execute("DELETE FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)")
    code, report = audit_verify(ws)
    # The last event was the end of the last run: its row says it finished, the log not.
    assert code == ExitCode.INTEGRITY and "row_changed" in codes(report)
    code, report = audit_verify(ws, "--checkpoint", str(tmp_path / "cp.json"))
    assert code == ExitCode.INTEGRITY and "log_shorter" in codes(report)
    assert report["checkpoint"]["signature_valid"] is True
    with tamper(ws) as db:
        db.execute("DELETE FROM audit_log WHERE seq = 3")
    code, report = audit_verify(ws)
    assert code == ExitCode.INTEGRITY
    assert {"first": 3, "last": 3} in [
        {k: p[k] for k in ("first", "last")} for p in report["problems"] if "first" in p
    ]


def test_a_documents_row_edited_in_the_index_is_found(ws):
    with tamper(ws) as db:
        db.execute("UPDATE documents SET sha256 = ? WHERE id = 1", ["0" * 64])
    code, report = audit_verify(ws)
    assert code == ExitCode.INTEGRITY
    (problem,) = report["problems"]
    assert (problem["code"], problem["table"], problem["id"], problem["field"]) == (
        "row_changed", "documents", 1, "sha256"
    )  # fmt: skip


def test_a_removed_or_added_row_is_found(ws):
    with tamper(ws) as db:
        db.execute("DELETE FROM pages WHERE document_id = 2")
        db.execute("DELETE FROM documents WHERE id = 2")
        db.execute("INSERT INTO runs (command, esak_version, started_at) VALUES ('x', '0', 'now')")
    code, report = audit_verify(ws)
    assert code == ExitCode.INTEGRITY
    assert {("row_removed", "documents"), ("row_not_logged", "runs")} <= {
        (p["code"], p["table"]) for p in report["problems"]
    }


def test_a_changed_byte_in_an_archived_pdf_is_found(ws):
    db = sqlite3.connect(ws / "index.sqlite")
    (path,) = db.execute("SELECT path FROM documents WHERE id = 1").fetchone()
    db.close()
    target = ws / "archive" / path
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    code, report = audit_verify(ws)
    assert code == ExitCode.INTEGRITY
    (problem,) = report["problems"]
    assert (problem["code"], problem["path"]) == ("file_changed", path)
    target.unlink()
    code, report = audit_verify(ws)
    assert code == ExitCode.INTEGRITY and codes(report) == {"file_missing"}


def test_a_log_rewritten_from_scratch_passes_alone_but_not_against_an_older_checkpoint(
    ws, tmp_path
):
    checkpoint = tmp_path / "cp.json"
    result = esak(ws, "audit", "checkpoint", "-o", str(checkpoint), "--json")
    assert result.exit_code == 0, result.output
    size = json.loads(result.stdout)["checkpoint"]["size"]
    # The log grows: the checkpoint still proves it is the same log.
    assert esak(ws, "verify", "--site", "borken").exit_code == 1
    code, report = audit_verify(ws, "--checkpoint", str(checkpoint))
    assert code == ExitCode.OK, report
    assert report["size"] > size and report["checkpoint"]["consistent"] is True
    assert report["checkpoint"]["consistency_proof"]
    # Rewritten from scratch, agreeing with every row of the index.
    with tamper(ws) as db:
        db.execute("DELETE FROM audit_log")
    with Index.open(ws / "index.sqlite") as index, index.transaction() as db:
        written = record_existing(db)
        for n in range(written, size + 5):  # as long as the checkpointed log, and longer
            append_audit(db, "note", None, {"n": n})
    code, report = audit_verify(ws)
    assert code == ExitCode.OK, report
    code, report = audit_verify(ws, "--checkpoint", str(checkpoint))
    assert code == ExitCode.INTEGRITY
    assert codes(report) == {"log_rewritten"}
    assert report["checkpoint"]["signature_valid"] is True
    human = esak(ws, "--lang", "en", "audit", "verify", "--checkpoint", str(checkpoint))
    assert human.exit_code == ExitCode.INTEGRITY
    assert "NOT intact" in human.output and "not an extension of the checkpoint" in human.output


def test_a_checkpoint_with_a_bad_signature_or_another_key_fails(ws, tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from esak.verify.audit import key_id, signed_text

    good = tmp_path / "cp.json"
    assert esak(ws, "audit", "checkpoint", "-o", str(good)).exit_code == 0
    doc = json.loads(good.read_text())
    signature = bytearray(base64.b64decode(doc["signature"]))
    signature[0] ^= 0x80
    for changed in (
        {"signature": base64.b64encode(bytes(signature)).decode()},
        {"size": doc["size"] - 1},
        {"root": "0" * 64},
        {"time": "2020-01-01T00:00:00+01:00"},
        {"signature": "not base64!"},
    ):
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({**doc, **changed}))
        code, report = audit_verify(ws, "--checkpoint", str(bad))
        assert code == ExitCode.INTEGRITY, changed
        assert "checkpoint_signature" in codes(report)
    # Signed by a key of someone else's: valid, but not the workspace's key.
    other = Ed25519PrivateKey.generate()
    from esak.verify.audit import _public_pem

    forged = {**doc, "key_id": key_id(other.public_key()),
              "public_key": _public_pem(other.public_key())}  # fmt: skip
    forged["signature"] = base64.b64encode(
        other.sign(signed_text(doc["origin"], doc["size"], doc["root"], doc["time"]))
    ).decode()
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    code, report = audit_verify(ws, "--checkpoint", str(tmp_path / "forged.json"))
    assert code == ExitCode.INTEGRITY and codes(report) == {"signing_key_replaced"}
    # The key file taken away: the checkpoint's key is no longer the workspace's.
    (ws / "audit-key.pem").unlink()
    code, report = audit_verify(ws, "--checkpoint", str(good))
    assert code == ExitCode.INTEGRITY and codes(report) == {"signing_key_gone"}
    # Not a checkpoint at all: the wrong input, not tampering.
    (tmp_path / "other.json").write_text('{"size": "three"}')
    result = esak(ws, "audit", "verify", "--checkpoint", str(tmp_path / "other.json"), "--json")
    assert result.exit_code == ExitCode.INPUT
    assert "not an esak audit checkpoint" in json.loads(result.stdout)["error"]


def test_the_checkpoint_can_be_checked_without_esak(ws, tmp_path):
    """What README says: the signed text and the public key are all an outsider needs."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    result = esak(ws, "audit", "checkpoint", "-o", str(tmp_path / "cp.json"), "--json")
    out = json.loads(result.stdout)
    doc = json.loads((tmp_path / "cp.json").read_text())
    assert out["checkpoint"] == doc and out["key_created"] is True
    assert set(doc) == {"format", "origin", "size", "root", "time", "key_id", "public_key",
                        "signature"}  # fmt: skip
    assert doc["origin"] == f"esak {ws}"
    assert dt.datetime.fromisoformat(doc["time"]).utcoffset() is not None
    text = f"{doc['origin']}\n{doc['size']}\n{doc['root']}\n{doc['time']}\n".encode()
    load_pem_public_key(doc["public_key"].encode()).verify(base64.b64decode(doc["signature"]), text)
    _, report = audit_verify(ws)
    assert (doc["size"], doc["root"]) == (report["size"], report["root"])
    # A second checkpoint uses the same key.
    again = esak(ws, "audit", "checkpoint", "-o", str(tmp_path / "cp2.json"), "--json")
    assert json.loads(again.stdout)["key_created"] is False
    assert json.loads((tmp_path / "cp2.json").read_text())["key_id"] == doc["key_id"]


def test_the_key_file_is_owner_only_and_stays_so_when_the_workspace_is_shared(ws, tmp_path):
    assert esak(ws, "audit", "checkpoint", "-o", str(tmp_path / "cp.json")).exit_code == 0
    key = ws / "audit-key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    gid = os.getgid()
    workspace = Workspace(ws)
    workspace._apply_everywhere(Access(grp.getgrgid(gid).gr_name, gid), ShareResult(ws, PRIVATE))
    assert stat.S_IMODE((ws / "index.sqlite").stat().st_mode) == 0o640
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    key.chmod(0o640)  # by hand: refused until it is owner-only again
    result = esak(ws, "audit", "checkpoint", "-o", str(tmp_path / "cp2.json"), "--json")
    assert result.exit_code == ExitCode.WORKSPACE
    assert "may be read by others" in json.loads(result.stdout)["error"]


def test_a_damaged_log_gets_no_checkpoint(ws, tmp_path):
    with tamper(ws) as db:
        db.execute("UPDATE audit_log SET at = '2020-01-01T00:00:00+00:00' WHERE seq = 0")
    result = esak(ws, "audit", "checkpoint", "-o", str(tmp_path / "cp.json"), "--json")
    assert result.exit_code == ExitCode.INTEGRITY
    assert not (tmp_path / "cp.json").exists()


# --- an index from before the log, and the rows that bypass it -----------------------------


def test_an_older_index_gets_its_rows_on_record_and_verifies(tmp_path, monkeypatch):
    """Schema 5 with data: the migration records every run, document and case event."""
    ws = Workspace(tmp_path / "ws").ensure()
    monkeypatch.setattr(index_db, "MIGRATIONS", index_db.MIGRATIONS[:5])
    with Index.open(ws.index_path) as index:
        populate(index, ws.archive_dir, "borken", Shape(households=2, households_per_batch=2))
    monkeypatch.undo()
    with Index.open(ws.index_path) as index:
        assert index.schema_version == schema_version() >= 6
        (documents,) = index.db.execute("SELECT COUNT(*) FROM documents").fetchone()
        kinds = [r[0] for r in index.db.execute("SELECT kind FROM audit_log ORDER BY seq")]
        assert kinds == ["on_record"] * documents
    code, report = audit_verify(ws.root)
    assert code == ExitCode.OK, report
    assert report["files_checked"] == documents


def test_rows_written_around_the_log_are_found(tmp_path):
    """esak.synthetic.index.populate writes documents directly, as a tool beside esak would."""
    ws = Workspace(tmp_path / "ws").ensure()
    with Index.open(ws.index_path) as index:
        populate(index, ws.archive_dir, "borken", Shape(households=1, households_per_batch=1))
    code, report = audit_verify(ws.root)
    assert code == ExitCode.INTEGRITY
    assert codes(report) == {"row_not_logged"}
    assert {p["table"] for p in report["problems"]} == {"documents"}


def test_a_replaced_document_is_an_event_and_its_new_file_is_checked(tmp_path):
    """blanks keep: the document's new file replaces the old one (keeps.supersede_document)."""
    ws = Workspace(tmp_path / "ws").ensure()
    with Index.open(ws.index_path) as index:
        with recorded_run(index, "blanks keep", "borken", {}) as run, index.transaction() as db:
            delivery = (
                db["deliveries"]
                .insert({"site": "borken", "path": "/d", "first_seen": "2021-03-01T00:00:00+00:00"})
                .last_pk
            )
            file_id = db["input_files"].insert(
                {"delivery_id": delivery, "site": "borken", "relpath": "a.pdf", "format": "pdf",
                 "outcome": "ingested", "ingested_at": "2021-03-01T00:00:00+00:00"}
            ).last_pk  # fmt: skip
            rel = f"borken/{HOUSEHOLD}/band-01/0001.pdf"
            old, new = b"%PDF-1.7 old\n", b"%PDF-1.7 new, one page more\n"
            (ws.archive_dir / rel).parent.mkdir(parents=True)
            (ws.archive_dir / rel).write_bytes(old)
            doc = keeps.add_document(
                db,
                {"site": "borken", "household": HOUSEHOLD, "volume": 1, "seq": 1, "path": rel,
                 "pages": 1, "size": len(old), "sha256": hashlib.sha256(old).hexdigest(),
                 "pdfa": "2B", "text_chars": 10, "file_id": file_id},
            )  # fmt: skip
        with recorded_run(index, "blanks keep", "borken", {}) as run, index.transaction() as db:
            before = keeps.document_state(index, doc).record()
            after = {"pages": 2, "size": len(new), "sha256": hashlib.sha256(new).hexdigest(),
                     "pdfa": "2B", "text_chars": 12}  # fmt: skip
            keeps.supersede_document(db, doc, before, after, run.id, "kept")
            (ws.archive_dir / rel).write_bytes(new)
        replaced = index.db.execute(
            "SELECT data FROM audit_log WHERE kind = 'document_replaced'"
        ).fetchone()
    data = json.loads(replaced[0])
    assert data["sha256"] == after["sha256"] and data["old_sha256"] == before["sha256"]
    assert (data["pages"], data["old_pages"]) == (2, 1)
    code, report = audit_verify(ws.root)
    assert code == ExitCode.OK, report
    (ws.archive_dir / rel).write_bytes(old)  # the old file put back behind esak's back
    code, report = audit_verify(ws.root)
    assert code == ExitCode.INTEGRITY and codes(report) == {"file_changed"}


def test_an_empty_workspace_has_an_empty_log(tmp_path):
    (tmp_path / "ws").mkdir()
    code, report = audit_verify(tmp_path / "ws")
    assert code == ExitCode.OK
    assert report["size"] == 0 and report["root"] == hashlib.sha256(b"").hexdigest()
    result = esak(tmp_path / "ws", "audit", "checkpoint", "-o", str(tmp_path / "cp.json"))
    assert result.exit_code == ExitCode.WORKSPACE  # nothing to vouch for, no key made
    assert not (tmp_path / "ws" / "audit-key.pem").exists()
