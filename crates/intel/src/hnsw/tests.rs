use super::*;
use crate::rng::{SplitMix64, clustered_unit_vectors, random_unit_vectors};
use crate::{SharedIndex, recall};
use proptest::prelude::*;

fn build(data: &[f32], dim: usize, params: Params) -> HnswIndex {
    let mut index = HnswIndex::new(params).unwrap();
    for (i, v) in data.chunks_exact(dim).enumerate() {
        index.insert(i as u64, v).unwrap();
    }
    index
}

fn mean_recall(index: &HnswIndex, queries: &[f32], k: usize) -> f64 {
    let dim = index.params().dim;
    let n = queries.len() / dim;
    let total: f64 = queries
        .chunks_exact(dim)
        .map(|q| {
            let found = index.search(q, k).unwrap();
            let truth = index.exact_search(q, k, None).unwrap();
            recall(&found, &truth)
        })
        .sum();
    total / n as f64
}

#[test]
fn recall_at_10_on_random_unit_vectors_cosine() {
    let dim = 32;
    let data = random_unit_vectors(3000, dim, 1);
    let mut params = Params::new(dim, Metric::Cosine);
    params.ef_construction = 100;
    params.ef_search = 64;
    let index = build(&data, dim, params);
    let queries = random_unit_vectors(100, dim, 2);
    let r = mean_recall(&index, &queries, 10);
    assert!(r >= 0.95, "recall@10 = {r}");
}

#[test]
fn recall_at_10_on_clustered_vectors_l2() {
    let dim = 24;
    let data = clustered_unit_vectors(3000, dim, 20, 3, 4);
    let mut params = Params::new(dim, Metric::L2);
    params.ef_construction = 100;
    let index = build(&data, dim, params);
    let queries = clustered_unit_vectors(100, dim, 20, 3, 5);
    let r = mean_recall(&index, &queries, 10);
    assert!(r >= 0.95, "recall@10 = {r}");
}

#[test]
fn exact_search_is_sorted_and_exact() {
    let dim = 8;
    let data = random_unit_vectors(200, dim, 5);
    let index = build(&data, dim, Params::new(dim, Metric::L2));
    let q = random_unit_vectors(1, dim, 6);
    let hits = index.exact_search(&q, 5, None).unwrap();
    let mut all: Vec<(f32, u64)> = data
        .chunks_exact(dim)
        .enumerate()
        .map(|(i, v)| (crate::l2_squared(&q, v), i as u64))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let expected: Vec<u64> = all[..5].iter().map(|x| x.1).collect();
    assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), expected);
}

#[test]
fn deleted_entries_are_never_returned() {
    let dim = 16;
    let data = random_unit_vectors(1500, dim, 7);
    let mut params = Params::new(dim, Metric::Cosine);
    params.rebuild_threshold = 2.0; // keep the tombstones in the graph
    let mut index = build(&data, dim, params);
    let mut rng = SplitMix64::new(8);
    let mut gone = std::collections::HashSet::new();
    while gone.len() < 600 {
        let id = rng.below(1500);
        if gone.insert(id) {
            index.delete(id).unwrap();
        }
    }
    assert_eq!(index.tombstones(), 600);
    assert_eq!(index.len(), 900);
    let queries = random_unit_vectors(50, dim, 9);
    for q in queries.chunks_exact(dim) {
        let hits = index.search(q, 10).unwrap();
        assert_eq!(hits.len(), 10);
        assert!(hits.iter().all(|h| !gone.contains(&h.id)));
    }
    // The graph still finds the right answers around the tombstones.
    assert!(mean_recall(&index, &queries, 10) >= 0.9);
    // Deleting twice, or an unknown id, says so.
    let some = *gone.iter().next().unwrap();
    assert_eq!(index.delete(some), Err(Error::NotFound(some)));
}

#[test]
fn many_deletes_trigger_a_rebuild_without_tombstones() {
    let dim = 8;
    let data = random_unit_vectors(400, dim, 10);
    let mut index = build(&data, dim, Params::new(dim, Metric::L2));
    for id in 0..200 {
        index.delete(id).unwrap();
    }
    assert!(index.tombstones() < 100, "rebuilds dropped the tombstones");
    assert_eq!(index.len(), 200);
    let q = random_unit_vectors(1, dim, 11);
    let hits = index.search(&q, 200).unwrap();
    assert_eq!(hits.len(), 200);
    assert!(hits.iter().all(|h| h.id >= 200));
    // A deleted id can be inserted again.
    index.insert(5, &data[5 * dim..6 * dim]).unwrap();
    assert!(index.contains(5));
    assert_eq!(index.search(&data[5 * dim..6 * dim], 1).unwrap()[0].id, 5);
}

#[test]
fn filter_is_respected() {
    let dim = 16;
    let data = random_unit_vectors(2000, dim, 12);
    let index = build(&data, dim, Params::new(dim, Metric::Cosine));
    let queries = random_unit_vectors(30, dim, 13);
    let even = |id: u64| id.is_multiple_of(2);
    let mut total = 0.0;
    for q in queries.chunks_exact(dim) {
        let hits = index.search_filtered(q, 10, &even).unwrap();
        assert_eq!(hits.len(), 10);
        assert!(hits.iter().all(|h| h.id.is_multiple_of(2)));
        total += recall(&hits, &index.exact_search(q, 10, Some(&even)).unwrap());
    }
    assert!(total / 30.0 >= 0.95, "filtered recall {}", total / 30.0);
    // A filter matching only three entries still returns exactly those three.
    let rare = |id: u64| matches!(id, 7 | 700 | 1999);
    let hits = index.search_filtered(&queries[..dim], 10, &rare).unwrap();
    let mut ids: Vec<u64> = hits.iter().map(|h| h.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, [7, 700, 1999]);
}

#[test]
fn bytes_round_trip_gives_identical_results() {
    let dim = 12;
    let data = random_unit_vectors(800, dim, 14);
    let mut index = build(&data[..700 * dim], dim, Params::new(dim, Metric::Cosine));
    for id in [3, 50, 699] {
        index.delete(id).unwrap();
    }
    let mut loaded = HnswIndex::from_bytes(&index.to_bytes()).unwrap();
    assert_eq!(loaded.len(), index.len());
    assert_eq!(loaded.tombstones(), 3);
    let queries = random_unit_vectors(40, dim, 15);
    for q in queries.chunks_exact(dim) {
        assert_eq!(index.search(q, 10).unwrap(), loaded.search(q, 10).unwrap());
    }
    // Same random state too: inserting the same vectors after loading builds the same graph.
    for (i, v) in data.chunks_exact(dim).enumerate().skip(700) {
        index.insert(i as u64, v).unwrap();
        loaded.insert(i as u64, v).unwrap();
    }
    assert_eq!(index.to_bytes(), loaded.to_bytes());
}

#[test]
fn empty_index_round_trips_and_searches() {
    let index = HnswIndex::new(Params::new(4, Metric::L2)).unwrap();
    let loaded = HnswIndex::from_bytes(&index.to_bytes()).unwrap();
    assert!(loaded.search(&[0.0; 4], 3).unwrap().is_empty());
}

#[test]
fn damaged_bytes_are_refused_with_a_reason() {
    let dim = 4;
    let index = build(
        &random_unit_vectors(50, dim, 16),
        dim,
        Params::new(dim, Metric::L2),
    );
    let good = index.to_bytes();
    assert_eq!(HnswIndex::from_bytes(b"nope").unwrap_err(), Error::BadMagic);
    let mut v2 = good.clone();
    v2[8] = 2;
    assert_eq!(
        HnswIndex::from_bytes(&v2).unwrap_err(),
        Error::UnsupportedVersion {
            found: 2,
            supported: crate::FORMAT_VERSION
        }
    );
    let mut flipped = good.clone();
    flipped[100] ^= 0x40;
    assert!(matches!(
        HnswIndex::from_bytes(&flipped),
        Err(Error::ChecksumMismatch { .. })
    ));
    assert!(HnswIndex::from_bytes(&good[..good.len() - 20]).is_err());
    assert!(HnswIndex::from_bytes(&good[..14]).is_err());
}

#[test]
fn bad_input_gets_clear_errors() {
    assert!(matches!(
        HnswIndex::new(Params::new(0, Metric::L2)),
        Err(Error::InvalidParams(_))
    ));
    let mut p = Params::new(4, Metric::L2);
    p.m = 1;
    assert!(matches!(HnswIndex::new(p), Err(Error::InvalidParams(_))));
    let mut index = HnswIndex::new(Params::new(4, Metric::Cosine)).unwrap();
    index.insert(1, &[1.0, 0.0, 0.0, 0.0]).unwrap();
    assert_eq!(
        index.insert(1, &[0.0, 1.0, 0.0, 0.0]),
        Err(Error::DuplicateId(1))
    );
    assert_eq!(
        index.insert(2, &[1.0, 0.0]),
        Err(Error::DimensionMismatch {
            expected: 4,
            got: 2
        })
    );
    assert!(matches!(
        index.insert(2, &[1.0, f32::NAN, 0.0, 0.0]),
        Err(Error::NonFinite { position: 1, .. })
    ));
    assert_eq!(index.insert(2, &[0.0; 4]), Err(Error::ZeroVector));
    assert_eq!(index.search(&[1.0, 0.0, 0.0, 0.0], 0), Err(Error::ZeroK));
    assert!(matches!(
        index.search(&[1.0; 5], 1),
        Err(Error::DimensionMismatch { .. })
    ));
    assert!(matches!(
        index.search_with(&[1.0; 4], 1, Some(0), None),
        Err(Error::InvalidParams(_))
    ));
    assert_eq!(index.delete(9), Err(Error::NotFound(9)));
    assert_eq!(index.len(), 1, "failed inserts leave nothing behind");
    // Messages say what to do.
    let msg = Error::DimensionMismatch {
        expected: 384,
        got: 768,
    }
    .to_string();
    assert!(msg.contains("384") && msg.contains("768"));
}

#[test]
fn parallel_searches_agree_with_serial_ones() {
    let dim = 16;
    let data = random_unit_vectors(1000, dim, 17);
    let shared = SharedIndex::new(build(&data, dim, Params::new(dim, Metric::Cosine)));
    let queries = random_unit_vectors(40, dim, 18);
    let serial: Vec<Vec<Hit>> = queries
        .chunks_exact(dim)
        .map(|q| shared.search(q, 5).unwrap())
        .collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    queries
                        .chunks_exact(dim)
                        .map(|q| shared.search(q, 5).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), serial);
        }
    });
    shared.insert(5000, &data[..dim]).unwrap();
    assert_eq!(shared.read(|i| i.len()), 1001);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// On small random indexes with random deletes and filters: results are sorted, live,
    /// filtered, carry true distances, and have the full expected length.
    #[test]
    fn small_indexes_keep_their_invariants(
        n in 1usize..60,
        dim in 1usize..10,
        seed in any::<u64>(),
        m in 2usize..8,
        k in 1usize..12,
        deletes in proptest::collection::vec(any::<u16>(), 0..20),
        modulus in 1u64..4,
        l2 in any::<bool>(),
    ) {
        let metric = if l2 { Metric::L2 } else { Metric::Cosine };
        let data = random_unit_vectors(n, dim, seed);
        let mut params = Params::new(dim, metric);
        params.m = m;
        params.ef_construction = 16;
        params.seed = seed;
        let mut index = build(&data, dim, params);
        for d in deletes {
            let _ = index.delete(u64::from(d) % n as u64);
        }
        let filter = move |id: u64| id.is_multiple_of(modulus);
        let q = random_unit_vectors(1, dim, seed ^ 1);
        let hits = index.search_filtered(&q, k, &filter).unwrap();
        let eligible = index.ids().filter(|&id| filter(id)).count();
        prop_assert_eq!(hits.len(), k.min(eligible));
        prop_assert!(hits.windows(2).all(|w| w[0].distance <= w[1].distance));
        for h in &hits {
            prop_assert!(index.contains(h.id) && filter(h.id));
            let qv = crate::distance::prepare(&q, dim, metric).unwrap();
            let d = metric.distance(&qv, index.vector(h.id).unwrap());
            prop_assert!((d - h.distance).abs() < 1e-5);
        }
        let loaded = HnswIndex::from_bytes(&index.to_bytes()).unwrap();
        prop_assert_eq!(loaded.search_filtered(&q, k, &filter).unwrap(), hits);
    }

    /// Any damage to the bytes is an error (or, if it lands in padding-free data that stays
    /// consistent, a valid index) — never a panic.
    #[test]
    fn damaged_bytes_never_panic(pos in any::<usize>(), byte in any::<u8>(), cut in any::<usize>()) {
        let dim = 3;
        let index = build(&random_unit_vectors(20, dim, 1), dim, Params::new(dim, Metric::L2));
        let mut bytes = index.to_bytes();
        let p = pos % bytes.len();
        bytes[p] = byte;
        let _ = HnswIndex::from_bytes(&bytes);
        let _ = HnswIndex::from_bytes(&bytes[..cut % bytes.len()]);
    }
}
