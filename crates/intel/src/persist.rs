//! The index as bytes, so a store can keep it.
//!
//! Format version 1, little-endian:
//!
//! ```text
//! magic "MCPFHNSW" | version u32 | metric u8 | dim u32 | m u32 | ef_construction u32
//! | ef_search u32 | seed u64 | rebuild_threshold f64 | rng state u64
//! | slots u32 | entry u32 (u32::MAX = none) | max_level u32
//! | per slot: id u64, level u8, deleted u8, dim × f32,
//! |           bottom links (count u32, count × u32), per upper layer (count u32, count × u32)
//! | checksum u64 over everything before it
//! ```
//!
//! Loading checks the checksum first, then every count, link and level against the header,
//! so corrupt bytes give an error, never a panic or an index that misbehaves later.

use crate::distance::Metric;
use crate::error::{Error, Result};
use crate::hnsw::{HnswIndex, MAX_LEVEL, Params};
use crate::rng::SplitMix64;
use std::collections::HashMap;

const MAGIC: &[u8; 8] = b"MCPFHNSW";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
const NONE: u32 = u32::MAX;

/// 64-bit word-at-a-time FNV-style hash: catches torn and flipped bytes, fast on 100+ MB.
/// Not a defence against tampering.
pub(crate) fn checksum(bytes: &[u8]) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01B3;
    let mut h: u64 = 0xCBF2_9CE4_8422_2325 ^ bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("chunk of 8"));
        h = (h ^ w).wrapping_mul(PRIME);
        h ^= h >> 29;
    }
    for &b in chunks.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(PRIME);
    }
    h
}

impl HnswIndex {
    /// Serialises the index (format [`FORMAT_VERSION`], checksummed).
    pub fn to_bytes(&self) -> Vec<u8> {
        let p = &self.params;
        let mut out = Vec::with_capacity(self.vectors.len() * 4 + self.links0.len() * 4 + 128);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.push(p.metric.code());
        for v in [p.dim, p.m, p.ef_construction, p.ef_search] {
            out.extend_from_slice(&(v as u32).to_le_bytes());
        }
        out.extend_from_slice(&p.seed.to_le_bytes());
        out.extend_from_slice(&p.rebuild_threshold.to_le_bytes());
        out.extend_from_slice(&self.rng.state().to_le_bytes());
        out.extend_from_slice(&(self.ids.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.entry.unwrap_or(NONE).to_le_bytes());
        out.extend_from_slice(&(self.max_level as u32).to_le_bytes());
        for slot in 0..self.ids.len() as u32 {
            let s = slot as usize;
            out.extend_from_slice(&self.ids[s].to_le_bytes());
            out.push(self.levels[s]);
            out.push(u8::from(self.deleted[s]));
            for x in self.row(slot) {
                out.extend_from_slice(&x.to_le_bytes());
            }
            for layer in 0..=self.levels[s] as usize {
                let links = self.links(slot, layer);
                out.extend_from_slice(&(links.len() as u32).to_le_bytes());
                for l in links {
                    out.extend_from_slice(&l.to_le_bytes());
                }
            }
        }
        let sum = checksum(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// Loads an index written by [`HnswIndex::to_bytes`], checking it thoroughly.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(Error::BadMagic);
        }
        let mut r = Reader { bytes, pos: 8 };
        let version = r.u32()?;
        if version != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        if bytes.len() < 8 + 4 + 8 {
            return Err(Error::Truncated {
                offset: bytes.len(),
                needed: 8 + 4 + 8 - bytes.len(),
            });
        }
        let (body, trailer) = bytes.split_at(bytes.len() - 8);
        let stored = u64::from_le_bytes(trailer.try_into().expect("8 bytes"));
        let computed = checksum(body);
        if stored != computed {
            return Err(Error::ChecksumMismatch { stored, computed });
        }
        let mut r = Reader {
            bytes: body,
            pos: r.pos,
        };
        let metric = Metric::from_code(r.u8()?)
            .ok_or_else(|| Error::Corrupt("unknown metric code".into()))?;
        let dim = r.u32()? as usize;
        let m = r.u32()? as usize;
        let ef_construction = r.u32()? as usize;
        let ef_search = r.u32()? as usize;
        let seed = r.u64()?;
        let rebuild_threshold = f64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes"));
        let params = Params {
            dim,
            metric,
            m,
            ef_construction,
            ef_search,
            seed,
            rebuild_threshold,
        };
        let mut index =
            HnswIndex::new(params).map_err(|e| Error::Corrupt(format!("header: {e}")))?;
        index.rng = SplitMix64::new(r.u64()?);
        let slots = r.u32()? as usize;
        let entry = r.u32()?;
        let max_level = r.u32()? as usize;
        // Each slot takes at least this many bytes: refuse absurd counts before allocating.
        let min_slot = 8 + 2 + dim * 4 + 4;
        if slots.saturating_mul(min_slot) > r.remaining() {
            return Err(Error::Corrupt(format!(
                "{slots} slots cannot fit in {} bytes",
                r.remaining()
            )));
        }
        let m0 = index.m0();
        index.vectors.reserve(slots * dim);
        index.links0.reserve(slots * (m0 + 1));
        let mut slot_of = HashMap::with_capacity(slots);
        for slot in 0..slots {
            let id = r.u64()?;
            let level = r.u8()? as usize;
            if level > MAX_LEVEL || level > max_level {
                return Err(Error::Corrupt(format!("slot {slot} has level {level}")));
            }
            let deleted = match r.u8()? {
                0 => false,
                1 => true,
                other => return Err(Error::Corrupt(format!("slot {slot} deleted flag {other}"))),
            };
            for x in r.take(dim * 4)?.chunks_exact(4) {
                let x = f32::from_le_bytes(x.try_into().expect("4 bytes"));
                if !x.is_finite() {
                    return Err(Error::Corrupt(format!(
                        "slot {slot} has a non-finite component"
                    )));
                }
                index.vectors.push(x);
            }
            index.ids.push(id);
            index.levels.push(level as u8);
            index.deleted.push(deleted);
            index.links0.extend_zeroed(m0 + 1);
            index.upper.push(vec![0; level * (m + 1)]);
            for layer in 0..=level {
                let cap = if layer == 0 { m0 } else { m };
                let n = r.u32()? as usize;
                if n > cap {
                    return Err(Error::Corrupt(format!(
                        "slot {slot} has {n} links on layer {layer} (at most {cap})"
                    )));
                }
                let mut links = Vec::with_capacity(n);
                for _ in 0..n {
                    let l = r.u32()?;
                    if l as usize >= slots {
                        return Err(Error::Corrupt(format!("slot {slot} links to missing {l}")));
                    }
                    links.push(l);
                }
                index.set_links(slot as u32, layer, &links);
            }
            if deleted {
                index.deleted_count += 1;
            } else if slot_of.insert(id, slot as u32).is_some() {
                return Err(Error::Corrupt(format!("id {id} is live twice")));
            }
        }
        // Upper-layer links must point at nodes that exist on that layer.
        for slot in 0..slots as u32 {
            for layer in 1..=index.levels[slot as usize] as usize {
                if let Some(&bad) = index
                    .links(slot, layer)
                    .iter()
                    .find(|&&l| (index.levels[l as usize] as usize) < layer)
                {
                    return Err(Error::Corrupt(format!(
                        "slot {slot} links to {bad} on layer {layer}, above its level"
                    )));
                }
            }
        }
        if r.remaining() != 0 {
            return Err(Error::Corrupt(format!("{} trailing bytes", r.remaining())));
        }
        index.entry = match (entry, slots) {
            (NONE, 0) => None,
            (e, _) if (e as usize) < slots && index.levels[e as usize] as usize == max_level => {
                Some(e)
            }
            _ => return Err(Error::Corrupt(format!("entry point {entry} is invalid"))),
        };
        index.max_level = max_level;
        index.slot_of = slot_of;
        Ok(index)
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(Error::Truncated {
                offset: self.pos,
                needed: n - self.remaining(),
            });
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
}
