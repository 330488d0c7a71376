//! Map storage: preallocated, never-moving blocks of `AtomicU64` words, and the byte copies,
//! comparisons and hash that work on them.
//!
//! Every map value lives in words like these. Rust code only ever touches them with atomic
//! loads and stores (`Relaxed` unless a comment says otherwise; on x86_64 and aarch64 these are
//! plain `mov`/`ldr`/`str`), so a host reader racing a handler that writes the same value can
//! see a torn value but never causes undefined behaviour; a JIT-compiled handler writing through
//! a lookup pointer is machine code outside the Rust memory model and does the same plain
//! stores. Values start on 8-byte boundaries and their length is rounded up to whole words, as
//! Linux does for map values.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::error::MapError;

/// Bytes per word.
pub(crate) const WORD: usize = 8;
/// Words per block: a block is two cache lines, the unit the adjacent-line prefetcher pulls in
/// together on x86_64, so two CPUs' blocks never share a prefetch pair.
pub(crate) const BLOCK_WORDS: usize = 16;

/// Words needed for `bytes` bytes.
pub(crate) const fn words_for(bytes: usize) -> usize {
    bytes.div_ceil(WORD)
}

/// Two cache lines of words, aligned to their size.
#[repr(C, align(128))]
struct Block([AtomicU64; BLOCK_WORDS]);

impl Block {
    const fn zeroed() -> Self {
        Block([const { AtomicU64::new(0) }; BLOCK_WORDS])
    }
}

/// A zero-initialised run of words, allocated once at map creation and freed only when the map
/// is dropped: a pointer into it stays valid for the map's lifetime.
pub(crate) struct Words {
    blocks: Box<[Block]>,
}

impl Words {
    /// Allocates at least `words` zeroed words (whole blocks), or fails with `ENOMEM`.
    pub(crate) fn zeroed(words: usize) -> Result<Self, MapError> {
        let count = words.div_ceil(BLOCK_WORDS).max(1);
        let mut blocks = Vec::new();
        blocks
            .try_reserve_exact(count)
            .map_err(|_| MapError::OutOfMemory {
                bytes: count.saturating_mul(size_of::<Block>()),
            })?;
        blocks.resize_with(count, Block::zeroed);
        Ok(Words {
            blocks: blocks.into_boxed_slice(),
        })
    }

    /// All the words.
    #[inline]
    pub(crate) fn all(&self) -> &[AtomicU64] {
        // SAFETY: `Block` is `repr(C)` around `[AtomicU64; BLOCK_WORDS]` with size equal to its
        // alignment (128 = 16 × 8), so the blocks are `len × BLOCK_WORDS` contiguous, initialised
        // `AtomicU64`s; the slice borrows `self`, so it cannot outlive the allocation.
        unsafe {
            core::slice::from_raw_parts(
                self.blocks.as_ptr().cast::<AtomicU64>(),
                self.blocks.len() * BLOCK_WORDS,
            )
        }
    }

    /// The `len` words from `start`.
    #[inline]
    pub(crate) fn range(&self, start: usize, len: usize) -> &[AtomicU64] {
        &self.all()[start..start + len]
    }

    /// The addresses of the whole allocation.
    pub(crate) fn address_range(&self) -> core::ops::Range<usize> {
        let start = self.blocks.as_ptr() as usize;
        start..start + self.blocks.len() * size_of::<Block>()
    }

    /// Sets every word to zero.
    pub(crate) fn zero(&self) {
        for word in self.all() {
            word.store(0, Relaxed);
        }
    }
}

/// A pointer to the first byte of `words`, with provenance over all of them, for a handler to
/// read and write in place.
#[inline]
pub(crate) fn value_ptr(words: &[AtomicU64]) -> NonNull<u8> {
    // `AtomicU64` is an `UnsafeCell`, so writing through a pointer derived from a shared
    // reference to it is allowed.
    NonNull::from(words).cast::<u8>()
}

/// Word `i` of `bytes`, zero-padded past the end.
#[inline(always)]
fn chunk(bytes: &[u8], i: usize) -> u64 {
    let start = i * WORD;
    match bytes.get(start..start + WORD) {
        Some(full) => u64::from_ne_bytes(full.try_into().unwrap_or([0; WORD])),
        None => {
            let mut buf = [0u8; WORD];
            let tail = &bytes[start.min(bytes.len())..];
            buf[..tail.len()].copy_from_slice(tail);
            u64::from_ne_bytes(buf)
        }
    }
}

/// Copies `src` into `dst` (`dst.len() == words_for(src.len())`; the padding past `src` is
/// zeroed).
#[inline]
pub(crate) fn store_bytes(dst: &[AtomicU64], src: &[u8]) {
    for (i, word) in dst.iter().enumerate() {
        word.store(chunk(src, i), Relaxed);
    }
}

/// Copies `dst.len()` bytes out of `src`.
#[inline]
pub(crate) fn load_bytes(src: &[AtomicU64], dst: &mut [u8]) {
    for (word, out) in src.iter().zip(dst.chunks_mut(WORD)) {
        let bytes = word.load(Relaxed).to_ne_bytes();
        out.copy_from_slice(&bytes[..out.len()]);
    }
}

/// Whether `words` hold `key` (as written by [`store_bytes`]).
#[inline]
pub(crate) fn eq_bytes(words: &[AtomicU64], key: &[u8]) -> bool {
    words
        .iter()
        .enumerate()
        .all(|(i, word)| word.load(Relaxed) == chunk(key, i))
}

/// The multiplier of FxHash (rustc's hasher), a 64-bit odd constant with well-spread bits.
const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// A fast, non-cryptographic hash of `key`: FxHash over 8-byte chunks, then one more multiply so
/// the *high* bits (which index the table) depend on every input bit. Keys come from handlers
/// we load ourselves, not from an adversary, so no seed is needed.
#[inline]
pub(crate) fn hash_bytes(key: &[u8]) -> u64 {
    let mut hash = key.len() as u64;
    for i in 0..words_for(key.len()) {
        hash = (hash.rotate_left(5) ^ chunk(key, i)).wrapping_mul(FX_SEED);
    }
    (hash ^ (hash >> 29)).wrapping_mul(FX_SEED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_with_zero_padding() {
        let words = Words::zeroed(3).unwrap();
        let src: Vec<u8> = (1..=13).collect();
        let dst = words.range(0, words_for(src.len()));
        store_bytes(dst, &src);
        let mut out = [0u8; 13];
        load_bytes(dst, &mut out);
        assert_eq!(out.as_slice(), src.as_slice());
        assert!(eq_bytes(dst, &src));
        assert!(!eq_bytes(dst, &[1u8; 13]));
        assert_eq!(dst[1].load(Relaxed).to_ne_bytes()[5..], [0, 0, 0]);
    }

    #[test]
    fn storage_is_block_aligned() {
        let words = Words::zeroed(17).unwrap();
        assert_eq!(words.all().len(), 32);
        assert_eq!(words.all().as_ptr() as usize % 128, 0);
    }

    #[test]
    fn hash_spreads_small_keys_in_the_high_bits() {
        let mut seen = alloc::collections::BTreeSet::new();
        for k in 0u32..1024 {
            seen.insert(hash_bytes(&k.to_ne_bytes()) >> 54);
        }
        // 1024 keys into 1024 buckets: a decent hash fills well over half of them.
        assert!(seen.len() > 600, "{} buckets used", seen.len());
    }
}
