//! A fast, non-cryptographic hasher for maps keyed by our own ids: rustc's Fx hash, from the
//! `rustc-hash` crate. The standard SipHash resists collision attacks on untrusted keys; product,
//! customer and event ids in the hot paths are not attacker-chosen strings, and SipHash dominated
//! the processor's profile.

pub use rustc_hash::{FxBuildHasher, FxHasher};

/// A `HashMap` with [`FxHasher`].
pub type FastMap<K, V> = rustc_hash::FxHashMap<K, V>;
/// A `HashSet` with [`FxHasher`].
pub type FastSet<K> = rustc_hash::FxHashSet<K>;
