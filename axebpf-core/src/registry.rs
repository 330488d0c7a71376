//! Map handles: what a program's LD_IMM64 map reference is relocated to, and how a helper finds
//! the map again.
//!
//! A handle is a slot of a fixed global table plus the slot's generation, so a stale or forged
//! handle is refused (the helper returns an error code) instead of reaching freed memory. The
//! lookup is two atomic loads, no lock: helpers run at VM-exit time.
//!
//! Contract: a registered map outlives every program that references it. [`LoadedObject`]
//! (crate::object::LoadedObject) guarantees it by owning both and dropping programs first.

use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

use crate::maps::Map;

/// Maps that can be registered at once.
pub const CAPACITY: usize = 1024;

/// A registered map's handle, as written into the program's instructions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MapHandle(u32);

impl MapHandle {
    /// The value programs carry.
    pub const fn raw(self) -> u32 {
        self.0
    }

    /// A handle from the value a program carried (it may be stale or forged; every use checks).
    pub const fn from_raw(raw: u32) -> Self {
        Self(raw)
    }
}

/// The table is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("all {CAPACITY} map slots are in use")]
pub struct RegistryFull;

struct Slot {
    map: AtomicPtr<Map>,
    /// Bumped on every registration, so an old handle of a reused slot does not match.
    generation: AtomicU32,
}

static SLOTS: [Slot; CAPACITY] = [const {
    Slot {
        map: AtomicPtr::new(core::ptr::null_mut()),
        generation: AtomicU32::new(0),
    }
}; CAPACITY];

const SLOT_BITS: u32 = 10;
const _: () = assert!(1 << SLOT_BITS == CAPACITY);

/// Registers `map`; the caller keeps it alive (and at the same address) until [`unregister`].
pub fn register(map: &Map) -> Result<MapHandle, RegistryFull> {
    let ptr = map as *const Map as *mut Map;
    for (index, slot) in SLOTS.iter().enumerate() {
        // Claim a free slot (AcqRel: the winner sees the slot's previous clearing).
        if slot
            .map
            .compare_exchange(
                core::ptr::null_mut(),
                ptr,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
        {
            // Generation 0 is never handed out, so handle 0 is always invalid.
            let generation = slot
                .generation
                .fetch_add(1, Ordering::AcqRel)
                .wrapping_add(1)
                & 0x3f_ffff;
            let generation = if generation == 0 { 1 } else { generation };
            slot.generation.store(generation, Ordering::Release);
            return Ok(MapHandle((generation << SLOT_BITS) | index as u32));
        }
    }
    Err(RegistryFull)
}

/// Removes a map. No program referencing it may run any more.
pub fn unregister(handle: MapHandle) {
    if let Some(slot) = SLOTS.get((handle.0 & (CAPACITY as u32 - 1)) as usize)
        && slot.generation.load(Ordering::Acquire) == handle.0 >> SLOT_BITS
    {
        slot.generation.fetch_add(1, Ordering::AcqRel);
        slot.map.store(core::ptr::null_mut(), Ordering::Release);
    }
}

/// The map behind a handle a program passed to a helper, if it is a live handle.
#[inline]
pub fn lookup(raw: u64) -> Option<&'static Map> {
    let raw = u32::try_from(raw).ok()?;
    let slot = SLOTS.get((raw & (CAPACITY as u32 - 1)) as usize)?;
    // Acquire pairs with `register`'s Release: the map is fully built when seen.
    let map = slot.map.load(Ordering::Acquire);
    if map.is_null() || slot.generation.load(Ordering::Acquire) != raw >> SLOT_BITS {
        return None;
    }
    // SAFETY: a registered pointer stays valid until `unregister`, and by the registry's
    // contract no program that could pass its handle runs after that.
    Some(unsafe { &*map })
}
