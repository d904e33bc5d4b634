"""The tamper-evident audit log: RFC 6962 tree hashes and proofs, the events, checkpoints and
`esak audit verify` finding every kind of change."""

from __future__ import annotations

import hashlib

import pytest

from esak.index import merkle

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
