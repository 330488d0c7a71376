//! `PERCPU_HASH`: one [`Table`] per CPU, each written only by its own CPU, lock-free and
//! allocation-free after creation.
//!
//! # Per-CPU key sets (a difference from Linux)
//!
//! Linux's per-CPU hash has one key set shared by all CPUs and a value per CPU per key. Here each
//! CPU has its own key set, so that a CPU never writes anything another CPU writes (no lock, no
//! atomic read-modify-write, no shared cache line on the update path). What differs:
//!
//! * `max_entries` is per CPU: each CPU can hold `max_entries` keys.
//! * `BPF_NOEXIST` / `BPF_EXIST` and `delete` look only at the calling CPU's keys: CPU 1 may
//!   insert a key CPU 0 already has, and deleting on CPU 0 leaves CPU 1's copy.
//! * The host view is Linux's: [`PercpuHash::keys`] is the union of the CPUs' keys, and
//!   [`PercpuHash::read_per_cpu`] gives a value for every CPU, zeros for a CPU that does not have
//!   the key (Linux's value for a CPU that never wrote it).
//!
//! # Clearing from the host
//!
//! The host must not write a CPU's table. [`PercpuHash::clear`] bumps each table's
//! `clear_requested` counter; the owning CPU, at its next operation on the map, sees it differ
//! from its `cleared` counter, wipes its table and copies the counter. Until then host reads
//! treat the table as empty. An update racing the clear may be wiped by it (it counts as having
//! happened before the clear).
//!
//! # Lookup pointers
//!
//! A pointer from [`PercpuHash::lookup`] points into CPU `c`'s slots, allocated at creation and
//! freed only with the map. Only CPU `c` deletes or reuses them: if the handler itself deletes
//! the key and inserts another that lands in the same slot, the pointer now shows the new key's
//! value (as with Linux's preallocated hash maps); it never dangles.

use alloc::boxed::Box;
use alloc::collections::BTreeSet;
use alloc::vec::Vec;
use core::ptr::NonNull;
use core::sync::atomic::AtomicU32;
use core::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use crossbeam_utils::CachePadded;

use super::error::MapError;
use super::table::Table;

/// One CPU's table and its clear handshake.
struct CpuTable {
    table: Table,
    /// Bumped by the host to ask for a clear.
    clear_requested: AtomicU32,
    /// The last `clear_requested` the owning CPU acted on.
    cleared: AtomicU32,
}

impl CpuTable {
    /// Called by the owning CPU before every operation: carries out a pending clear.
    #[inline(always)]
    fn sync(&self) {
        // Acquire: the clear request happens-before the wipe (nothing else is published with
        // it, but it keeps the handshake easy to reason about).
        let requested = self.clear_requested.load(Acquire);
        if requested != self.cleared.load(Relaxed) {
            self.wipe(requested);
        }
    }

    #[cold]
    fn wipe(&self, requested: u32) {
        self.table.wipe();
        // Release: a host that sees the new `cleared` sees the wiped table.
        self.cleared.store(requested, Release);
    }

    /// Whether host reads may look at the table (no clear is pending).
    fn visible(&self) -> bool {
        self.clear_requested.load(Acquire) == self.cleared.load(Acquire)
    }
}

/// A per-CPU hash map (see the module docs).
pub(crate) struct PercpuHash {
    tables: Box<[CachePadded<CpuTable>]>,
    value_size: u32,
}

impl PercpuHash {
    /// Empty tables for `cpus` CPUs (the spec has been validated).
    pub(crate) fn new(
        key_size: u32,
        value_size: u32,
        max_entries: u32,
        cpus: usize,
    ) -> Result<Self, MapError> {
        let mut tables = Vec::new();
        tables
            .try_reserve_exact(cpus)
            .map_err(|_| MapError::OutOfMemory {
                bytes: cpus * size_of::<CachePadded<CpuTable>>(),
            })?;
        for _ in 0..cpus {
            tables.push(CachePadded::new(CpuTable {
                table: Table::new(key_size, value_size, max_entries, false)?,
                clear_requested: AtomicU32::new(0),
                cleared: AtomicU32::new(0),
            }));
        }
        Ok(PercpuHash {
            tables: tables.into_boxed_slice(),
            value_size,
        })
    }

    /// CPU `cpu`'s table, synced (`cpu` checked by the caller).
    #[inline(always)]
    fn own(&self, cpu: usize) -> &Table {
        let cpu_table = &self.tables[cpu];
        cpu_table.sync();
        &cpu_table.table
    }

    /// CPU `cpu`'s value for `key`. On CPU `cpu` only.
    #[inline]
    pub(crate) fn lookup(&self, key: &[u8], cpu: usize) -> Option<NonNull<u8>> {
        self.own(cpu).lookup(key)
    }

    /// Sets CPU `cpu`'s value for `key`. On CPU `cpu` only.
    #[inline]
    pub(crate) fn update(
        &self,
        key: &[u8],
        value: &[u8],
        flags: u64,
        cpu: usize,
    ) -> Result<(), MapError> {
        self.own(cpu).update(key, value, flags)
    }

    /// Deletes CPU `cpu`'s copy of `key`. On CPU `cpu` only.
    pub(crate) fn delete(&self, key: &[u8], cpu: usize) -> Result<(), MapError> {
        self.own(cpu).delete(key)
    }

    /// Every CPU's value for `key` (zeros where a CPU lacks it), or `None` if no CPU has it.
    /// Any thread.
    pub(crate) fn read_per_cpu(&self, key: &[u8]) -> Option<Vec<Vec<u8>>> {
        let mut found = false;
        let values = self
            .tables
            .iter()
            .map(|cpu_table| {
                let mut value = alloc::vec![0; self.value_size as usize];
                if cpu_table.visible() && cpu_table.table.read(key, &mut value) {
                    found = true;
                } else {
                    value.fill(0);
                }
                value
            })
            .collect();
        found.then_some(values)
    }

    /// The union of the CPUs' keys, sorted. Any thread.
    pub(crate) fn keys(&self) -> Vec<Vec<u8>> {
        let mut keys = Vec::new();
        for cpu_table in self.tables.iter().filter(|t| t.visible()) {
            cpu_table.table.keys_into(&mut keys);
        }
        let unique: BTreeSet<Vec<u8>> = keys.into_iter().collect();
        unique.into_iter().collect()
    }

    /// The addresses of each CPU's slots.
    pub(crate) fn address_ranges(&self) -> impl Iterator<Item = core::ops::Range<usize>> + '_ {
        self.tables.iter().map(|t| t.table.address_range())
    }

    /// Asks every CPU to clear its table (see the module docs). Any thread.
    pub(crate) fn clear(&self) {
        for cpu_table in self.tables.iter() {
            cpu_table.clear_requested.fetch_add(1, Release);
        }
    }
}
