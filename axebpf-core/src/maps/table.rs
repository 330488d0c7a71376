//! The hash table under every hash map kind: preallocated open addressing (linear probing), keys
//! and values inline, one writer at a time, readers lock-free.
//!
//! # Layout
//!
//! `slots` = `max_entries` rounded up to a power of two, doubled (load factor ≤ 1/2). Each slot
//! is `[control][ref, LRU only][key words][value words]` in one run of [`Words`] allocated at
//! creation and never moved or freed until the table is dropped: allocation-free after creation,
//! and every lookup pointer stays valid (pointing at *some* slot's value) while the map lives.
//!
//! # Control word
//!
//! `tag (hash >> 32) << 32 | seq (30 bits) << 2 | state`, state one of `EMPTY`, `BUSY`
//! (being filled), `LIVE`, `TOMB` (deleted; probes go past it, inserts reuse it). `seq` grows on
//! every insert into the slot, so a slot that was deleted and refilled never shows the same
//! control word twice (until 2^30 refills of one slot during one read).
//!
//! # One writer, many readers
//!
//! The writer methods (`update`, `delete`, `lookup_for_writer` for LRU's reference bit, `wipe`)
//! must not run concurrently with each other: a per-CPU table is written only by its CPU, a
//! shared table only under its map's lock. Breaking that rule cannot cause undefined behaviour
//! (every word is an atomic) but can lose or duplicate keys. Readers (`lookup`, `read`,
//! `keys_into`) run on any thread at any time:
//!
//! * Insert: the writer stores `BUSY|seq+1` (Relaxed), then a Release fence, then the key and
//!   value words (Relaxed), then `LIVE|tag|seq+1` with a Release store.
//! * A reader loads the control word with Acquire; if it is `LIVE` it reads the key (Relaxed),
//!   then an Acquire fence, then the control word again (Relaxed), and trusts the key only if
//!   the two control words are equal. The first Acquire pairs with the writer's final Release
//!   (the reader sees the whole key); the fence pair makes a reader whose key loads saw any
//!   store of a later refill also see that refill's `BUSY` (or later) control word, so it
//!   retries. This is the seqlock protocol, with one sequence per slot. A reader therefore
//!   never returns a half-inserted key, nor a value that belonged to another key.
//! * Values are updated in place with word stores, so a reader racing an update of the same key
//!   can see a torn value (Linux's preallocated hash replaces the element instead).
//! * Delete stores `TOMB|seq` (Release). When the slot after it is `EMPTY`, the writer turns
//!   the run of tombstones ending at the deleted slot back into `EMPTY`: no live key can lie
//!   past an `EMPTY` slot on its probe path (inserts go into the first free slot of the path),
//!   so this keeps every key reachable.

use alloc::vec::Vec;
use core::ptr::NonNull;
use core::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, fence};

use super::error::MapError;
use super::spec::{BPF_ANY, BPF_EXIST, BPF_NOEXIST, hash_slots};
use super::words::{Words, eq_bytes, hash_bytes, load_bytes, store_bytes, value_ptr, words_for};

const EMPTY: u64 = 0;
const BUSY: u64 = 1;
const LIVE: u64 = 2;
const TOMB: u64 = 3;
const STATE: u64 = 0b11;
const SEQ: u64 = 0xffff_fffc;

/// The control word with `state`, same seq, no tag.
#[inline]
fn with_state(control: u64, state: u64) -> u64 {
    (control & SEQ) | state
}

/// The seq bits of the next fill of a slot whose control word is `control`.
#[inline]
fn next_seq(control: u64) -> u64 {
    (control & SEQ).wrapping_add(1 << 2) & SEQ
}

/// Where a key is, or where it would go.
enum Probe {
    /// The key is in `slot`, whose control word was `control` when its key was checked.
    Found { slot: usize, control: u64 },
    /// The key is absent; `free` is the first reusable slot of its probe path, if any.
    Absent { free: Option<usize> },
}

/// One hash table (see the module docs).
pub(crate) struct Table {
    words: Words,
    /// Slot index mask (`slots - 1`).
    mask: usize,
    /// `64 - log2(slots)`: the home slot is the hash's top bits.
    shift: u32,
    key_size: u32,
    value_size: u32,
    /// Offset of the key in a slot: 1, or 2 with LRU's reference word.
    key_offset: usize,
    key_words: usize,
    value_words: usize,
    /// Words per slot.
    stride: usize,
    lru: bool,
    max_entries: u32,
    /// Live keys. Written by the writer only (load + store, no read-modify-write).
    live: AtomicU32,
    /// LRU's clock hand. Writer only.
    hand: AtomicUsize,
}

impl Table {
    /// An empty table for up to `max_entries` keys (the spec has been validated, so the sizes
    /// fit in memory).
    pub(crate) fn new(
        key_size: u32,
        value_size: u32,
        max_entries: u32,
        lru: bool,
    ) -> Result<Self, MapError> {
        let slots = hash_slots(max_entries) as usize;
        let key_offset = 1 + usize::from(lru);
        let key_words = words_for(key_size as usize);
        let value_words = words_for(value_size as usize);
        let stride = key_offset + key_words + value_words;
        Ok(Table {
            words: Words::zeroed(slots * stride)?,
            mask: slots - 1,
            shift: 64 - slots.trailing_zeros(),
            key_size,
            value_size,
            key_offset,
            key_words,
            value_words,
            stride,
            lru,
            max_entries,
            live: AtomicU32::new(0),
            hand: AtomicUsize::new(0),
        })
    }

    #[inline]
    fn slots(&self) -> usize {
        self.mask + 1
    }

    #[inline]
    fn control(&self, slot: usize) -> &AtomicU64 {
        &self.words.all()[slot * self.stride]
    }

    /// LRU's reference word (only when `lru`).
    #[inline]
    fn reference(&self, slot: usize) -> &AtomicU64 {
        &self.words.all()[slot * self.stride + 1]
    }

    #[inline]
    fn key(&self, slot: usize) -> &[AtomicU64] {
        self.words
            .range(slot * self.stride + self.key_offset, self.key_words)
    }

    #[inline]
    fn value(&self, slot: usize) -> &[AtomicU64] {
        self.words.range(
            slot * self.stride + self.key_offset + self.key_words,
            self.value_words,
        )
    }

    #[inline]
    fn check_key(&self, key: &[u8]) -> Result<(), MapError> {
        if key.len() == self.key_size as usize {
            Ok(())
        } else {
            Err(MapError::KeySize {
                expected: self.key_size,
                got: key.len(),
            })
        }
    }

    /// Finds `key` (of the right length). Safe for readers: see the module docs.
    #[inline]
    fn probe(&self, key: &[u8], hash: u64) -> Probe {
        let tag = hash >> 32;
        let mut slot = (hash >> self.shift) as usize;
        let mut free = None;
        let mut probed = 0;
        while probed < self.slots() {
            let control = self.control(slot).load(Acquire);
            match control & STATE {
                EMPTY => {
                    return Probe::Absent {
                        free: free.or(Some(slot)),
                    };
                }
                TOMB => {
                    free = free.or(Some(slot));
                }
                LIVE if control >> 32 == tag && eq_bytes(self.key(slot), key) => {
                    // Pairs with the writer's Release fence before it refills the slot: if the
                    // key loads saw a refill, this load sees its control word (see module docs).
                    fence(Acquire);
                    if self.control(slot).load(Relaxed) == control {
                        return Probe::Found { slot, control };
                    }
                    // The slot changed while we read it: look at it again.
                    continue;
                }
                _ => {}
            }
            slot = (slot + 1) & self.mask;
            probed += 1;
        }
        Probe::Absent { free }
    }

    /// Marks an LRU slot recently used (a plain store, and only when the bit is clear, so hot
    /// keys do not keep writing a shared line).
    #[inline]
    fn touch(&self, slot: usize) {
        if self.lru && self.reference(slot).load(Relaxed) == 0 {
            self.reference(slot).store(1, Relaxed);
        }
    }

    /// A pointer to `key`'s value. Any thread.
    #[inline]
    pub(crate) fn lookup(&self, key: &[u8]) -> Option<NonNull<u8>> {
        if key.len() != self.key_size as usize {
            return None;
        }
        match self.probe(key, hash_bytes(key)) {
            Probe::Found { slot, .. } => {
                self.touch(slot);
                Some(value_ptr(self.value(slot)))
            }
            Probe::Absent { .. } => None,
        }
    }

    /// Copies `key`'s value into `out` (`value_size` long) if present. Any thread; retries
    /// while the slot is being refilled, so the value is one that belonged to `key`.
    pub(crate) fn read(&self, key: &[u8], out: &mut [u8]) -> bool {
        if key.len() != self.key_size as usize {
            return false;
        }
        let hash = hash_bytes(key);
        loop {
            match self.probe(key, hash) {
                Probe::Found { slot, control } => {
                    load_bytes(self.value(slot), out);
                    // Same seqlock check as for the key in `probe`.
                    fence(Acquire);
                    if self.control(slot).load(Relaxed) == control {
                        return true;
                    }
                }
                Probe::Absent { .. } => return false,
            }
        }
    }

    /// Appends every live key to `out`. Any thread; each key is whole (seq-checked), the set is
    /// not a snapshot if the writer runs meanwhile.
    pub(crate) fn keys_into(&self, out: &mut Vec<Vec<u8>>) {
        for slot in 0..self.slots() {
            loop {
                let control = self.control(slot).load(Acquire);
                if control & STATE != LIVE {
                    break;
                }
                let mut key = alloc::vec![0; self.key_size as usize];
                load_bytes(self.key(slot), &mut key);
                fence(Acquire);
                if self.control(slot).load(Relaxed) == control {
                    out.push(key);
                    break;
                }
            }
        }
    }

    /// Inserts or replaces `key`'s value. Writer only.
    #[inline]
    pub(crate) fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), MapError> {
        self.check_key(key)?;
        if value.len() != self.value_size as usize {
            return Err(MapError::ValueSize {
                expected: self.value_size,
                got: value.len(),
            });
        }
        if !matches!(flags, BPF_ANY | BPF_NOEXIST | BPF_EXIST) {
            return Err(MapError::BadUpdateFlags(flags));
        }
        let hash = hash_bytes(key);
        match self.probe(key, hash) {
            Probe::Found { slot, .. } => {
                if flags == BPF_NOEXIST {
                    return Err(MapError::Exists);
                }
                store_bytes(self.value(slot), value);
                self.touch(slot);
                Ok(())
            }
            Probe::Absent { free } => {
                if flags == BPF_EXIST {
                    return Err(MapError::NotFound);
                }
                let full = MapError::Full {
                    max_entries: self.max_entries,
                };
                let live = self.live.load(Relaxed);
                if live >= self.max_entries {
                    if !self.lru {
                        return Err(full);
                    }
                    // Eviction only turns a live slot into a tombstone, so `free` is still
                    // the first reusable slot on the key's path.
                    self.evict_one();
                }
                let slot = free.ok_or(full)?;
                self.fill(slot, key, value, hash);
                Ok(())
            }
        }
    }

    /// Writes a new key into free `slot` (see "Insert" in the module docs).
    #[inline]
    fn fill(&self, slot: usize, key: &[u8], value: &[u8], hash: u64) {
        let control = self.control(slot);
        let seq = next_seq(control.load(Relaxed));
        control.store(seq | BUSY, Relaxed);
        // Orders the BUSY store before the key and value stores for any reader whose loads see
        // those stores (pairs with the readers' Acquire fences).
        fence(Release);
        store_bytes(self.key(slot), key);
        store_bytes(self.value(slot), value);
        if self.lru {
            // As in Linux's LRU, inserting is not a use: only lookups and updates set the bit.
            self.reference(slot).store(0, Relaxed);
        }
        // Publishes the key and value: pairs with the readers' Acquire load of the control word.
        control.store((hash >> 32) << 32 | seq | LIVE, Release);
        self.live.store(self.live.load(Relaxed) + 1, Relaxed);
    }

    /// Deletes `key`. Writer only.
    pub(crate) fn delete(&self, key: &[u8]) -> Result<(), MapError> {
        self.check_key(key)?;
        match self.probe(key, hash_bytes(key)) {
            Probe::Found { slot, control } => {
                self.remove(slot, control);
                // Tombstones just before an EMPTY slot end no probe path: make them EMPTY.
                if self.control((slot + 1) & self.mask).load(Relaxed) & STATE == EMPTY {
                    let mut at = slot;
                    for _ in 0..self.slots() {
                        let control = self.control(at).load(Relaxed);
                        if control & STATE != TOMB {
                            break;
                        }
                        self.control(at).store(with_state(control, EMPTY), Release);
                        at = at.wrapping_sub(1) & self.mask;
                    }
                }
                Ok(())
            }
            Probe::Absent { .. } => Err(MapError::NotFound),
        }
    }

    /// Turns live `slot` into a tombstone. Writer only.
    fn remove(&self, slot: usize, control: u64) {
        // Release is not needed for data (none is written) but keeps readers' views ordered.
        self.control(slot).store(with_state(control, TOMB), Release);
        self.live.store(self.live.load(Relaxed) - 1, Relaxed);
    }

    /// Evicts one live key, approximately the least recently used (the CLOCK algorithm: the
    /// hand clears reference bits until it finds a slot whose bit is clear). Writer only.
    fn evict_one(&self) {
        let mut hand = self.hand.load(Relaxed);
        // Two sweeps clear every bit; the third evicts the first live slot whatever its bit (a
        // reader may set bits again behind the hand).
        for sweep in 0..3 * self.slots() {
            let slot = hand;
            hand = (hand + 1) & self.mask;
            let control = self.control(slot).load(Relaxed);
            if control & STATE != LIVE {
                continue;
            }
            if sweep < 2 * self.slots() && self.reference(slot).load(Relaxed) != 0 {
                self.reference(slot).store(0, Relaxed);
                continue;
            }
            self.remove(slot, control);
            break;
        }
        self.hand.store(hand, Relaxed);
    }

    /// The addresses of the slots.
    pub(crate) fn address_range(&self) -> core::ops::Range<usize> {
        self.words.address_range()
    }

    /// Removes every key. Writer only.
    pub(crate) fn wipe(&self) {
        for slot in 0..self.slots() {
            let control = self.control(slot).load(Relaxed);
            if control & STATE != EMPTY {
                self.control(slot)
                    .store(with_state(control, EMPTY), Release);
            }
        }
        self.live.store(0, Relaxed);
    }
}
