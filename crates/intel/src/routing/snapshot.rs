//! The router's learned state as bytes, saved after every learning cycle and loaded at open,
//! so a restarted router ranks exactly as before (floats are kept bit-exact).
//!
//! Format version 2 (1 had a diagonal Fisher), little-endian: magic `"MCPFLRN1"` | version u32 | fingerprint (dim,
//! projection dims, projection seed, feature length: u64 each) | learned-through seq u64 |
//! cycles, seen, recomputed u64 | last cycle (flag u8, then cycle u64, trajectories u64,
//! loss f64, regret f64, patterns u64) | agents (count u32, per agent: name, successes u64,
//! reward sum f64, model: see `ArmModel::write`) | pattern bank (`PatternBank::write`) | checksum u64 over everything before it.
//! Strings are a u32 byte length and UTF-8; vectors a u32 length and their items.
//!
//! The fingerprint ties a snapshot to the configuration it was learned under: a snapshot of
//! another embedding dimension or projection is not used (learning is then rebuilt from the
//! stored trajectories that fit).

use crate::persist::checksum;

const MAGIC: &[u8; 8] = b"MCPFLRN1";
/// The snapshot format this build writes and reads.
pub const SNAPSHOT_VERSION: u32 = 2;

/// Appends values to a snapshot.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    out: Vec<u8>,
}

impl Writer {
    pub(crate) fn new() -> Self {
        let mut w = Self::default();
        w.out.extend_from_slice(MAGIC);
        w.u32(SNAPSHOT_VERSION);
        w
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.out.push(v);
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).expect("snapshot collections are far below 4G items"));
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn f64(&mut self, v: f64) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn str(&mut self, s: &str) {
        self.len(s.len());
        self.out.extend_from_slice(s.as_bytes());
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.out.extend_from_slice(&(b.len() as u64).to_le_bytes());
        self.out.extend_from_slice(b);
    }

    pub(crate) fn f64s(&mut self, v: &[f64]) {
        self.len(v.len());
        v.iter().for_each(|x| self.f64(*x));
    }

    pub(crate) fn f32s(&mut self, v: &[f32]) {
        self.len(v.len());
        v.iter()
            .for_each(|x| self.out.extend_from_slice(&x.to_le_bytes()));
    }

    /// The finished, checksummed snapshot.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        let sum = checksum(&self.out);
        self.u64(sum);
        self.out
    }
}

/// Reads a snapshot back; every read checks the bounds, so corrupt bytes give an error.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

/// Why a snapshot was not used.
pub(crate) type ReadResult<T> = Result<T, String>;

impl<'a> Reader<'a> {
    /// Checks magic, version and checksum; the reader then stands after the version.
    pub(crate) fn open(bytes: &'a [u8]) -> ReadResult<Self> {
        if bytes.len() < MAGIC.len() + 4 + 8 || &bytes[..8] != MAGIC {
            return Err("not a learning snapshot (bad magic)".into());
        }
        let (body, sum) = bytes.split_at(bytes.len() - 8);
        if checksum(body) != u64::from_le_bytes(sum.try_into().expect("8 bytes")) {
            return Err("checksum mismatch (torn or corrupt)".into());
        }
        let mut r = Self { rest: &body[8..] };
        let version = r.u32()?;
        if version != SNAPSHOT_VERSION {
            return Err(format!(
                "format version {version}, this build reads {SNAPSHOT_VERSION}"
            ));
        }
        Ok(r)
    }

    fn take(&mut self, n: usize) -> ReadResult<&'a [u8]> {
        if self.rest.len() < n {
            return Err("truncated".into());
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    pub(crate) fn u8(&mut self) -> ReadResult<u8> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u32(&mut self) -> ReadResult<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }

    /// A collection length, refused if the remaining bytes cannot hold `item` bytes each.
    pub(crate) fn len(&mut self, item: usize) -> ReadResult<usize> {
        let n = self.u32()? as usize;
        if n.saturating_mul(item.max(1)) > self.rest.len() {
            return Err(format!("length {n} exceeds the snapshot"));
        }
        Ok(n)
    }

    pub(crate) fn u64(&mut self) -> ReadResult<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }

    pub(crate) fn f64(&mut self) -> ReadResult<f64> {
        Ok(f64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }

    pub(crate) fn str(&mut self) -> ReadResult<String> {
        let n = self.len(1)?;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| "a name is not UTF-8".to_string())
    }

    pub(crate) fn bytes(&mut self) -> ReadResult<&'a [u8]> {
        let n = usize::try_from(self.u64()?).map_err(|_| "oversized blob".to_string())?;
        self.take(n)
    }

    pub(crate) fn f64s(&mut self, expect: usize) -> ReadResult<Vec<f64>> {
        let n = self.len(8)?;
        if n != expect {
            return Err(format!("{n} values where {expect} were expected"));
        }
        (0..n).map(|_| self.f64()).collect()
    }

    pub(crate) fn f32s(&mut self, expect: usize) -> ReadResult<Vec<f32>> {
        let n = self.len(4)?;
        if n != expect {
            return Err(format!("{n} values where {expect} were expected"));
        }
        (0..n)
            .map(|_| Ok(f32::from_le_bytes(self.take(4)?.try_into().expect("4"))))
            .collect()
    }

    /// Fails unless everything was read.
    pub(crate) fn end(self) -> ReadResult<()> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(format!("{} unexpected trailing bytes", self.rest.len()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_bit_exact_and_damage_is_refused() {
        let mut w = Writer::new();
        w.u8(7);
        w.str("ü agent");
        w.f64s(&[0.1 + 0.2, -0.0, f64::MIN_POSITIVE]);
        w.f32s(&[1.0 / 3.0]);
        w.bytes(&[1, 2, 3]);
        let bytes = w.finish();
        let mut r = Reader::open(&bytes).unwrap();
        assert_eq!(r.u8().unwrap(), 7);
        assert_eq!(r.str().unwrap(), "ü agent");
        let f = r.f64s(3).unwrap();
        assert_eq!(f[0].to_bits(), (0.1f64 + 0.2).to_bits());
        assert_eq!(f[1].to_bits(), (-0.0f64).to_bits());
        assert_eq!(r.f32s(1).unwrap(), [1.0f32 / 3.0]);
        assert_eq!(r.bytes().unwrap(), [1, 2, 3]);
        r.end().unwrap();

        for i in [0, 9, bytes.len() / 2, bytes.len() - 1] {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            assert!(Reader::open(&bad).is_err(), "flipped byte {i}");
        }
        assert!(Reader::open(&bytes[..bytes.len() - 3]).is_err());
        let mut r = Reader::open(&bytes).unwrap();
        r.u8().unwrap();
        assert!(r.f64s(3).is_err(), "a string is not three floats");
    }
}
