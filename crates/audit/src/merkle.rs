//! RFC 6962 / RFC 9162 Merkle trees: hashing, roots, inclusion and consistency proofs and
//! their verifiers, and a compact frontier that keeps the root current in O(log n) per leaf.
//!
//! Hashing (RFC 6962 §2.1): `leaf = SHA-256(0x00 || data)`, `node = SHA-256(0x01 || l || r)`,
//! the empty tree's root is `SHA-256("")`, and a tree of `n > 1` leaves splits at the largest
//! power of two `k < n`. Verifiers follow RFC 9162 §2.1.3.2 and §2.1.4.2.

use crate::event::Hash;
use aws_lc_rs::digest::{Context, SHA256, digest};

/// Why a proof did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The index is not inside the tree.
    #[error("leaf index {index} is outside a tree of {size} leaves")]
    IndexOutOfRange {
        /// Leaf index.
        index: u64,
        /// Tree size.
        size: u64,
    },
    /// The proof has the wrong number of hashes for these sizes.
    #[error("proof has the wrong length for these tree sizes")]
    WrongLength,
    /// The sizes are not `0 < m <= n` (consistency).
    #[error("consistency needs 0 < old size <= new size (got {old} and {new})")]
    BadSizes {
        /// Old size.
        old: u64,
        /// New size.
        new: u64,
    },
    /// The recomputed root differs.
    #[error("the proof does not lead to the expected root")]
    RootMismatch,
}

/// `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut ctx = Context::new(&SHA256);
    ctx.update(&[0]);
    ctx.update(data);
    ctx.finish().as_ref().try_into().expect("32 bytes")
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut ctx = Context::new(&SHA256);
    ctx.update(&[1]);
    ctx.update(left);
    ctx.update(right);
    ctx.finish().as_ref().try_into().expect("32 bytes")
}

/// Root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    digest(&SHA256, b"").as_ref().try_into().expect("32 bytes")
}

/// Largest power of two strictly less than `n` (`n >= 2`).
fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// MTH over leaf hashes (RFC 6962 §2.1).
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// Audit path PATH(index, D[n]) for the leaf at `index` (RFC 6962 §2.1.1), leaf-side first.
pub fn inclusion_proof(leaves: &[Hash], index: usize) -> Result<Vec<Hash>, ProofError> {
    if index >= leaves.len() {
        return Err(ProofError::IndexOutOfRange {
            index: index as u64,
            size: leaves.len() as u64,
        });
    }
    fn path(leaves: &[Hash], m: usize, out: &mut Vec<Hash>) {
        let n = leaves.len();
        if n <= 1 {
            return;
        }
        let k = split(n);
        if m < k {
            path(&leaves[..k], m, out);
            out.push(root(&leaves[k..]));
        } else {
            path(&leaves[k..], m - k, out);
            out.push(root(&leaves[..k]));
        }
    }
    let mut out = Vec::new();
    path(leaves, index, &mut out);
    Ok(out)
}

/// Consistency proof PROOF(m, D[n]) between the first `m` leaves and all of them (RFC 6962
/// §2.1.2).
pub fn consistency_proof(leaves: &[Hash], m: usize) -> Result<Vec<Hash>, ProofError> {
    let n = leaves.len();
    if m == 0 || m > n {
        return Err(ProofError::BadSizes {
            old: m as u64,
            new: n as u64,
        });
    }
    fn subproof(m: usize, leaves: &[Hash], whole: bool, out: &mut Vec<Hash>) {
        let n = leaves.len();
        if m == n {
            if !whole {
                out.push(root(leaves));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            subproof(m, &leaves[..k], whole, out);
            out.push(root(&leaves[k..]));
        } else {
            subproof(m - k, &leaves[k..], false, out);
            out.push(root(&leaves[..k]));
        }
    }
    let mut out = Vec::new();
    subproof(m, leaves, true, &mut out);
    Ok(out)
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    expected_root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return Err(ProofError::WrongLength);
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(ProofError::WrongLength);
    }
    if &r != expected_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verifies a consistency proof between a tree of `old` leaves with root `old_root` and one of
/// `new` leaves with root `new_root` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old == 0 || old > new {
        return Err(ProofError::BadSizes { old, new });
    }
    if old == new {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    // When old is a power of two, the old root itself is the first node of the path.
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    if path.is_empty() {
        return Err(ProofError::WrongLength);
    }
    let (mut f_n, mut s_n) = (old - 1, new - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if s_n == 0 {
            return Err(ProofError::WrongLength);
        }
        if f_n & 1 == 1 || f_n == s_n {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(ProofError::WrongLength);
    }
    if &fr != old_root || &sr != new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The roots of the perfect subtrees that make up a tree of `len` leaves (one per set bit of
/// `len`, largest first): enough to append a leaf and compute the root in O(log n).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    len: u64,
    /// (height, root) of each perfect subtree, left to right.
    nodes: Vec<(u32, Hash)>,
}

impl Frontier {
    /// Leaves so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether no leaf was pushed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends one leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut node = (0u32, leaf);
        while let Some(&(h, left)) = self.nodes.last() {
            if h != node.0 {
                break;
            }
            self.nodes.pop();
            node = (h + 1, node_hash(&left, &node.1));
        }
        self.nodes.push(node);
        self.len += 1;
    }

    /// The tree root over every leaf pushed (equal to [`root`] over the same leaves).
    pub fn root(&self) -> Hash {
        let mut iter = self.nodes.iter().rev();
        let Some(&(_, mut r)) = iter.next() else {
            return empty_root();
        };
        for (_, left) in iter {
            r = node_hash(left, &r);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(&(i as u64).to_be_bytes()))
            .collect()
    }

    fn hex(h: &Hash) -> String {
        mcpflow_secrets::hex::encode(h)
    }

    /// Roots from the Certificate Transparency reference test data (the eight leaves below).
    #[test]
    fn matches_rfc6962_reference_roots() {
        let data: [&[u8]; 8] = [
            b"",
            &[0x00],
            &[0x10],
            &[0x20, 0x21],
            &[0x30, 0x31],
            &[0x40, 0x41, 0x42, 0x43],
            &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            &[
                0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d,
                0x6e, 0x6f,
            ],
        ];
        let expected = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let hashes: Vec<Hash> = data.iter().map(|d| leaf_hash(d)).collect();
        for n in 1..=8 {
            assert_eq!(hex(&root(&hashes[..n])), expected[n - 1], "size {n}");
        }
        assert_eq!(
            hex(&empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn rfc6962_example_proof_shapes() {
        // RFC 6962 §2.1.3: the tree of 7 leaves a..g.
        let l = leaves(7);
        // Inclusion of d (index 3): [c, g(a,b), h(e,f,g)].
        let p = inclusion_proof(&l, 3).unwrap();
        assert_eq!(p, vec![l[2], root(&l[0..2]), root(&l[4..7])]);
        // Consistency between 3 and 7: [c, d, g, l] in the RFC's naming.
        let c = consistency_proof(&l, 3).unwrap();
        assert_eq!(c, vec![l[2], l[3], root(&l[0..2]), root(&l[4..7])]);
        // Between 4 and 7: [l].
        assert_eq!(consistency_proof(&l, 4).unwrap(), vec![root(&l[4..7])]);
        // Between 6 and 7: [i, j, k].
        assert_eq!(
            consistency_proof(&l, 6).unwrap(),
            vec![root(&l[4..6]), l[6], root(&l[0..4])]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn frontier_equals_recursive_root(n in 0usize..300) {
            let l = leaves(n);
            let mut f = Frontier::default();
            for h in &l { f.push(*h); }
            prop_assert_eq!(f.root(), root(&l));
            prop_assert_eq!(f.len(), n as u64);
        }

        #[test]
        fn any_leaf_in_any_tree_verifies(n in 1usize..200, pick in any::<prop::sample::Index>()) {
            let l = leaves(n);
            let i = pick.index(n);
            let r = root(&l);
            let proof = inclusion_proof(&l, i).unwrap();
            prop_assert_eq!(verify_inclusion(&l[i], i as u64, n as u64, &proof, &r), Ok(()));
        }

        #[test]
        fn tampered_inclusion_fails(
            n in 2usize..200,
            pick in any::<prop::sample::Index>(),
            which in any::<prop::sample::Index>(),
            bit in 0u8..8,
            mode in 0u8..5,
        ) {
            let l = leaves(n);
            let i = pick.index(n);
            let mut r = root(&l);
            let mut proof = inclusion_proof(&l, i).unwrap();
            let (mut leaf, mut index, mut size) = (l[i], i as u64, n as u64);
            match mode {
                0 => { let j = which.index(proof.len()); proof[j][0] ^= 1 << bit; }
                1 => leaf[31] ^= 1 << bit,
                2 => index = (index + 1) % size,
                3 => { proof.pop(); }
                // A bigger tree's head. (Only the size alone is not bound by the path: a signed
                // head binds size and root together.)
                _ => { size += 1; r = root(&leaves(n + 1)); }
            }
            prop_assert!(verify_inclusion(&leaf, index, size, &proof, &r).is_err());
        }

        #[test]
        fn consistency_between_any_m_le_n(n in 1usize..200, pick in any::<prop::sample::Index>()) {
            let l = leaves(n);
            let m = pick.index(n) + 1;
            let proof = consistency_proof(&l, m).unwrap();
            prop_assert_eq!(
                verify_consistency(m as u64, n as u64, &root(&l[..m]), &root(&l), &proof),
                Ok(())
            );
        }

        #[test]
        fn tampered_consistency_fails(
            n in 2usize..200,
            pick in any::<prop::sample::Index>(),
            which in any::<prop::sample::Index>(),
            mode in 0u8..4,
        ) {
            let l = leaves(n);
            let m = pick.index(n - 1) + 1; // m < n so the proof is non-trivial
            let mut proof = consistency_proof(&l, m).unwrap();
            let (mut old_root, mut new_root) = (root(&l[..m]), root(&l));
            match mode {
                0 => { let j = which.index(proof.len()); proof[j][5] ^= 0x20; }
                1 => old_root[0] ^= 1,
                2 => new_root[0] ^= 1,
                _ => { proof.push([7; 32]); }
            }
            prop_assert!(verify_consistency(m as u64, n as u64, &old_root, &new_root, &proof).is_err());
        }

        #[test]
        fn a_different_prefix_is_not_consistent(n in 2usize..100, pick in any::<prop::sample::Index>()) {
            let l = leaves(n);
            let m = pick.index(n - 1) + 1;
            let mut forked = l.clone();
            forked[m - 1] = leaf_hash(b"forged");
            let proof = consistency_proof(&l, m).unwrap();
            prop_assert!(verify_consistency(m as u64, n as u64, &root(&forked[..m]), &root(&l), &proof).is_err());
        }
    }
}
