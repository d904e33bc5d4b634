"""The Merkle tree hash of RFC 6962 §2.1 (RFC 9162 §2.1), with inclusion and consistency proofs.

Leaf hash ``SHA-256(0x00 || data)``, node hash ``SHA-256(0x01 || left || right)``; a tree of
``n > 1`` leaves splits at the largest power of two smaller than ``n``; the empty tree's hash is
``SHA-256("")``. The proofs are generated as RFC 6962 §2.1.1 and §2.1.2 define them and verified
with the algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2, so that any RFC 6962 implementation can
check what esak produces. Pure standard library; functions take leaf *hashes* (32 bytes each).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _mth(hashes: Sequence[bytes], lo: int, hi: int) -> bytes:
    if hi - lo == 1:
        return hashes[lo]
    k = lo + _split(hi - lo)
    return node_hash(_mth(hashes, lo, k), _mth(hashes, k, hi))


def root(hashes: Sequence[bytes]) -> bytes:
    """MTH of the leaves whose hashes are ``hashes``."""
    return _mth(hashes, 0, len(hashes)) if hashes else EMPTY_ROOT


def tree_hash(leaves: Sequence[bytes]) -> bytes:
    """MTH of the leaf data ``leaves``."""
    return root([leaf_hash(d) for d in leaves])


def inclusion_proof(hashes: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, D[n]) of RFC 6962 §2.1.1."""
    if not 0 <= index < len(hashes):
        raise ValueError(f"leaf {index} is not in a tree of {len(hashes)}")
    proof: list[bytes] = []
    lo, hi = 0, len(hashes)
    while hi - lo > 1:
        k = lo + _split(hi - lo)
        if index < k:
            proof.append(_mth(hashes, k, hi))
            hi = k
        else:
            proof.append(_mth(hashes, lo, k))
            lo = k
    return proof[::-1]


def consistency_proof(hashes: Sequence[bytes], m: int) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 6962 §2.1.2: the first ``m`` leaves against all of them."""
    n = len(hashes)
    if not 0 <= m <= n:
        raise ValueError(f"a tree of {m} is not a prefix of a tree of {n}")
    if m in (0, n):
        return []
    proof: list[bytes] = []
    lo, hi, whole = 0, n, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            proof.append(_mth(hashes, lo + k, hi))
            hi = lo + k
        else:
            proof.append(_mth(hashes, lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    if not whole:
        proof.append(_mth(hashes, lo, hi))
    return proof[::-1]


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: is ``leaf`` the hash at ``index`` of the tree of ``size``?"""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == expected_root


def verify_consistency(
    m: int, n: int, root_m: bytes, root_n: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: is the tree of ``m`` with ``root_m`` a prefix of the one of ``n``?"""
    if not 0 <= m <= n:
        return False
    if m == n:
        return not proof and root_m == root_n
    if m == 0:
        return not proof and root_m == EMPTY_ROOT
    if not proof:
        return False
    path = [root_m, *proof] if m & (m - 1) == 0 else list(proof)
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == root_m and sr == root_n
