//! `HASH` and `LRU_HASH`: one [`Table`] shared by all CPUs. Lookups are lock-free; updates and
//! deletes take the map's [`SpinLock`] (these are the cold kinds).
//!
//! Lookup pointers point into the slots allocated at creation, freed only with the map, so a
//! pointer stays readable and writable however other CPUs update or delete meanwhile. If the key
//! is deleted and its slot refilled by another key (or, for `LRU_HASH`, evicted), the pointer
//! shows the new key's value, as with Linux's preallocated hash maps. An update of the same key
//! writes the value in place, so a handler reading through its pointer meanwhile may see a torn
//! value (Linux swaps in a new element instead).

use alloc::vec::Vec;
use core::ptr::NonNull;
use core::sync::atomic::AtomicUsize;
use core::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use super::error::MapError;
use super::table::Table;

/// The lock owner id of host-side operations (`clear`): not a CPU, so never reported as a
/// re-entry.
pub(crate) const HOST: usize = usize::MAX - 1;
const FREE: usize = usize::MAX;

/// A `no_std` spinlock that knows its holder, so a handler re-entering a map on the CPU that
/// holds its lock gets `EBUSY` instead of deadlocking (Linux's hash maps do the same with their
/// per-CPU `map_locked` counters).
pub(crate) struct SpinLock {
    owner: AtomicUsize,
}

/// Holds a [`SpinLock`]; unlocks when dropped.
pub(crate) struct SpinGuard<'a>(&'a SpinLock);

impl SpinLock {
    pub(crate) const fn new() -> Self {
        SpinLock {
            owner: AtomicUsize::new(FREE),
        }
    }

    /// Takes the lock for `who` (a CPU index or [`HOST`]).
    pub(crate) fn lock(&self, who: usize) -> Result<SpinGuard<'_>, MapError> {
        loop {
            // Acquire: the previous holder's writes (released by `unlock`) are visible to us.
            match self
                .owner
                .compare_exchange_weak(FREE, who, Acquire, Relaxed)
            {
                Ok(_) => return Ok(SpinGuard(self)),
                Err(holder) if holder == who && who != HOST => {
                    return Err(MapError::Busy { cpu: who });
                }
                Err(_) => core::hint::spin_loop(),
            }
        }
    }
}

impl Drop for SpinGuard<'_> {
    fn drop(&mut self) {
        // Release: our writes to the table happen-before the next holder's.
        self.0.owner.store(FREE, Release);
    }
}

/// A shared hash map, plain or LRU.
pub(crate) struct SharedHash {
    table: Table,
    lock: SpinLock,
    value_size: u32,
}

impl SharedHash {
    /// An empty map (the spec has been validated).
    pub(crate) fn new(
        key_size: u32,
        value_size: u32,
        max_entries: u32,
        lru: bool,
    ) -> Result<Self, MapError> {
        Ok(SharedHash {
            table: Table::new(key_size, value_size, max_entries, lru)?,
            lock: SpinLock::new(),
            value_size,
        })
    }

    /// `key`'s value, lock-free.
    #[inline]
    pub(crate) fn lookup(&self, key: &[u8]) -> Option<NonNull<u8>> {
        self.table.lookup(key)
    }

    /// Inserts or replaces, under the lock.
    pub(crate) fn update(
        &self,
        key: &[u8],
        value: &[u8],
        flags: u64,
        cpu: usize,
    ) -> Result<(), MapError> {
        let _guard = self.lock.lock(cpu)?;
        self.table.update(key, value, flags)
    }

    /// Deletes, under the lock.
    pub(crate) fn delete(&self, key: &[u8], cpu: usize) -> Result<(), MapError> {
        let _guard = self.lock.lock(cpu)?;
        self.table.delete(key)
    }

    /// A copy of `key`'s value, lock-free.
    pub(crate) fn read(&self, key: &[u8]) -> Option<Vec<u8>> {
        let mut value = alloc::vec![0; self.value_size as usize];
        self.table.read(key, &mut value).then_some(value)
    }

    /// The live keys, lock-free.
    pub(crate) fn keys(&self) -> Vec<Vec<u8>> {
        let mut keys = Vec::new();
        self.table.keys_into(&mut keys);
        keys
    }

    /// The addresses of the slots.
    pub(crate) fn address_range(&self) -> core::ops::Range<usize> {
        self.table.address_range()
    }

    /// Removes every key, under the lock.
    pub(crate) fn clear(&self) {
        if let Ok(_guard) = self.lock.lock(HOST) {
            self.table.wipe();
        }
    }
}
