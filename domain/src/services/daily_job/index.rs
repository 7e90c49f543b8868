//! Lookup structures of the daily job's hot loop: a fast hasher for integer keys and an id index
//! that is a plain array when ids are dense (they are, for catalogs and customer tables).

use crate::fasthash::FastMap;

/// Ids at most this many times the number of entries (plus a margin) get a dense array.
const DENSE_FACTOR: usize = 4;
const DENSE_MARGIN: usize = 1_024;

/// Maps an id (as stored, possibly zero, negative or huge) to the position of its entry.
#[derive(Debug)]
pub(crate) enum IdIndex {
    /// `slots[id]` is the position plus one; 0 means absent.
    Dense(Vec<u32>),
    /// Any ids.
    Sparse(FastMap<i64, u32>),
}

impl IdIndex {
    /// Indexes `ids` by position; a repeated id maps to its last position.
    pub(crate) fn new(ids: &[i64]) -> Self {
        let dense_limit = ids
            .len()
            .saturating_mul(DENSE_FACTOR)
            .saturating_add(DENSE_MARGIN);
        let max = ids.iter().copied().max().unwrap_or(0);
        let all_positive = ids.iter().all(|&id| id > 0);
        match usize::try_from(max) {
            Ok(max) if all_positive && max < dense_limit => {
                // `max < dense_limit`, a small multiple of the id count: no overflow.
                let mut slots = vec![0u32; max.saturating_add(1)];
                for (pos, &id) in ids.iter().enumerate() {
                    let p = u32::try_from(pos.saturating_add(1));
                    let slot = usize::try_from(id).ok().and_then(|i| slots.get_mut(i));
                    if let (Some(slot), Ok(p)) = (slot, p) {
                        *slot = p;
                    }
                }
                Self::Dense(slots)
            }
            _ => Self::Sparse(
                ids.iter()
                    .enumerate()
                    .filter_map(|(pos, &id)| u32::try_from(pos).ok().map(|p| (id, p)))
                    .collect(),
            ),
        }
    }

    /// The position of `id`'s entry.
    pub(crate) fn get(&self, id: i64) -> Option<u32> {
        match self {
            Self::Dense(slots) => usize::try_from(id)
                .ok()
                .and_then(|i| slots.get(i))
                .and_then(|&p| p.checked_sub(1)),
            Self::Sparse(map) => map.get(&id).copied(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_and_sparse_indexes_answer_alike() {
        let dense = IdIndex::new(&[3, 1, 7]);
        let sparse = IdIndex::new(&[3, 1, 7_000_000_000]);
        assert!(matches!(dense, IdIndex::Dense(_)));
        assert!(matches!(sparse, IdIndex::Sparse(_)));
        for index in [&dense, &sparse] {
            assert_eq!(index.get(3), Some(0));
            assert_eq!(index.get(1), Some(1));
            assert_eq!(index.get(2), None);
            assert_eq!(index.get(0), None);
            assert_eq!(index.get(-3), None);
            assert_eq!(index.get(i64::MAX), None);
        }
        assert_eq!(dense.get(7), Some(2));
        assert_eq!(sparse.get(7_000_000_000), Some(2));
    }

    #[test]
    fn keys_that_differ_only_in_their_high_half_spread_over_buckets() {
        use std::hash::BuildHasher;
        let build = crate::fasthash::FxBuildHasher;
        let mut low_bits: Vec<u64> = (0u64..64)
            .map(|product| build.hash_one(product << 32 | 7) & 0xff)
            .collect();
        low_bits.sort_unstable();
        low_bits.dedup();
        assert!(
            low_bits.len() > 32,
            "only {} distinct buckets of 256",
            low_bits.len()
        );
    }

    #[test]
    fn a_repeated_id_maps_to_its_last_entry() {
        assert_eq!(IdIndex::new(&[5, 5]).get(5), Some(1));
        assert_eq!(IdIndex::new(&[-5, -5]).get(-5), Some(1));
    }
}
