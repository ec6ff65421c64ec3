//! The message pattern the swarm examples share with `mcpflow bench swarm`.

/// (from, to) for message `i` among `n` members: a random member and one of the next four in
/// join order (so a ring routes 1–4 hops instead of a quarter of the ring on average).
pub fn pair(i: u64, n: u64) -> (u64, u64) {
    let mut z = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z ^= z >> 29;
    let from = z % n;
    let step = 1 + (z >> 40) % 4.min(n - 1);
    (from, (from + step) % n)
}
