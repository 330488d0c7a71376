//! `ARRAY` and `PERCPU_ARRAY`: `max_entries` values indexed by a `u32` key, in place.
//!
//! One block of words per copy (one copy for `ARRAY`, one per CPU for `PERCPU_ARRAY`), each
//! block starting on a 128-byte boundary so two CPUs never write the same cache line (or
//! adjacent-line pair). A value is `value_size` rounded up to 8 bytes, 8-byte aligned.
//!
//! * lookup: bounds check and pointer arithmetic; no lock, no atomic read-modify-write.
//! * update: copies the value into its slot with word stores. In a per-CPU array only CPU `c`
//!   writes copy `c`. In a shared array two CPUs updating the same index at once interleave
//!   word by word, as Linux's array update (a plain `memcpy`) does.
//! * host reads and `clear` race with handlers: a value read while a CPU writes it may be torn
//!   (as in Linux); a handler's read-modify-write of a value racing `clear` may undo the clear
//!   of that value.
//!
//! Lookup pointers point into the block allocated at creation, which is freed only when the
//! map is dropped, so they stay valid as long as the map lives (nothing is ever deleted).

use alloc::vec::Vec;
use core::ptr::NonNull;
use core::sync::atomic::AtomicU64;

use super::error::MapError;
use super::spec::{BPF_ANY, BPF_EXIST, BPF_NOEXIST};
use super::words::{BLOCK_WORDS, Words, load_bytes, store_bytes, value_ptr, words_for};

/// An array with `copies` independent copies of its values.
pub(crate) struct ArrayStore {
    words: Words,
    max_entries: u32,
    value_size: u32,
    /// Words per value.
    value_words: usize,
    /// Words per copy, a whole number of blocks.
    copy_words: usize,
    copies: usize,
}

impl ArrayStore {
    /// A zeroed array of `copies` copies (the spec has been validated).
    pub(crate) fn new(max_entries: u32, value_size: u32, copies: usize) -> Result<Self, MapError> {
        let value_words = words_for(value_size as usize);
        let copy_words = (max_entries as usize * value_words).next_multiple_of(BLOCK_WORDS);
        Ok(ArrayStore {
            words: Words::zeroed(copy_words * copies)?,
            max_entries,
            value_size,
            value_words,
            copy_words,
            copies,
        })
    }

    /// The index a key names, if it is a 4-byte key in range.
    #[inline]
    fn index(&self, key: &[u8]) -> Result<usize, MapError> {
        let bytes: [u8; 4] = key.try_into().map_err(|_| MapError::KeySize {
            expected: 4,
            got: key.len(),
        })?;
        let index = u32::from_ne_bytes(bytes);
        if index >= self.max_entries {
            return Err(MapError::IndexOutOfRange {
                index,
                max_entries: self.max_entries,
            });
        }
        Ok(index as usize)
    }

    #[inline]
    fn slot(&self, copy: usize, index: usize) -> &[AtomicU64] {
        self.words.range(
            copy * self.copy_words + index * self.value_words,
            self.value_words,
        )
    }

    /// Where copy 0 keeps its values: (address of value 0, bytes from one value to the next,
    /// values), for JIT code that computes a lookup's pointer itself.
    pub(crate) fn layout(&self) -> (usize, usize, u32) {
        (
            self.words.all().as_ptr() as usize,
            self.value_words * 8,
            self.max_entries,
        )
    }

    /// The value at `key` in copy `copy` (`copy < copies`, checked by the caller).
    #[inline]
    pub(crate) fn lookup(&self, key: &[u8], copy: usize) -> Option<NonNull<u8>> {
        let index = self.index(key).ok()?;
        Some(value_ptr(self.slot(copy, index)))
    }

    /// Writes `value` at `key` in copy `copy`.
    #[inline]
    pub(crate) fn update(
        &self,
        key: &[u8],
        value: &[u8],
        flags: u64,
        copy: usize,
    ) -> Result<(), MapError> {
        let index = self.index(key)?;
        if value.len() != self.value_size as usize {
            return Err(MapError::ValueSize {
                expected: self.value_size,
                got: value.len(),
            });
        }
        match flags {
            BPF_ANY | BPF_EXIST => {}
            // Every index of an array exists.
            BPF_NOEXIST => return Err(MapError::Exists),
            _ => return Err(MapError::BadUpdateFlags(flags)),
        }
        store_bytes(self.slot(copy, index), value);
        Ok(())
    }

    /// Every copy's value at `key`, in copy order.
    pub(crate) fn read_copies(&self, key: &[u8]) -> Option<Vec<Vec<u8>>> {
        let index = self.index(key).ok()?;
        Some(
            (0..self.copies)
                .map(|copy| {
                    let mut value = alloc::vec![0; self.value_size as usize];
                    load_bytes(self.slot(copy, index), &mut value);
                    value
                })
                .collect(),
        )
    }

    /// Every index, as 4-byte keys.
    pub(crate) fn keys(&self) -> Vec<Vec<u8>> {
        (0..self.max_entries)
            .map(|i| i.to_ne_bytes().to_vec())
            .collect()
    }

    /// The addresses of the storage.
    pub(crate) fn address_range(&self) -> core::ops::Range<usize> {
        self.words.address_range()
    }

    /// Zeroes every value of every copy.
    pub(crate) fn clear(&self) {
        self.words.zero();
    }
}
