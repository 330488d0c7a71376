//! Static-key text patching for aarch64: a site is one 4-byte instruction, NOP or `B`.
//!
//! AxVisor maps its kernel text read+execute only, so the word is written through a writable
//! alias of the text's physical page ([`writable_alias`]), then the caches are made coherent
//! the way the architecture asks for modified code (clean the D-cache line to the point of
//! unification, invalidate the I-cache line, `DSB ISH`, `ISB`). NOP ↔ `B` are among the instructions the Arm
//! ARM allows to be modified while other CPUs execute them (the "concurrent modification and
//! execution" list), so no CPU is stopped: a CPU runs either the old or the new instruction,
//! as Linux's arm64 jump labels rely on.

use core::arch::asm;

use ax_api::modules::{ax_hal, ax_mm};
use ax_hal::mem::{MemoryAddr, PAGE_SIZE_4K, PhysAddr, VirtAddr, VirtAddrRange};
use ax_hal::paging::MappingFlags;
use axebpf_core::platform::PatchError;

/// `NOP`.
pub const NOP: u32 = 0xd503_201f;
/// `B imm26`: the opcode bits and the mask of the immediate.
const B_OPCODE: u32 = 0x1400_0000;
const B_IMM26: u32 = 0x03ff_ffff;

/// The instruction static-keys asks for, made right: static-keys 0.8.2 encodes a `B` as
/// `(offset as u32) / 4` with the opcode ORed into the top byte, which for a backward jump
/// (negative offset) leaves ones in bits 26..31 and so is no branch at all. The low 26 bits
/// are the correct two's-complement immediate either way, so re-encoding them fixes it.
pub fn site_instruction(word: u32) -> u32 {
    if word == NOP {
        NOP
    } else {
        B_OPCODE | (word & B_IMM26)
    }
}

/// Whether `word` is a site's instruction in either state.
pub fn is_site_instruction(word: u32) -> bool {
    word == NOP || word & !B_IMM26 == B_OPCODE
}

/// Writes the 4-byte site instruction `bytes` at `addr` (see the module docs).
///
/// # Safety
/// `addr` must be a static-key site of this kernel's text and `bytes` its NOP or its jump.
pub unsafe fn patch(addr: *mut u8, bytes: &[u8]) -> Result<(), PatchError> {
    let fail = |reason| PatchError {
        addr: addr as usize,
        reason,
    };
    let word: [u8; 4] = bytes
        .try_into()
        .map_err(|_| fail("an aarch64 site is one 4-byte instruction"))?;
    if addr as usize % 4 != 0 {
        return Err(fail("the site is not 4-byte aligned"));
    }
    let word = site_instruction(u32::from_le_bytes(word));

    let paddr = ax_hal::mem::virt_to_phys(VirtAddr::from(addr as usize));
    let page = paddr.align_down_4k();
    let offset = paddr.as_usize() - page.as_usize();
    let alias = writable_alias(page).map_err(fail)?;
    let alias_word = (alias + offset) as *mut u32;
    // SAFETY: `alias_word` is the writable alias of the aligned site word; a single aligned
    // 32-bit store is single-copy atomic, so an executing CPU sees the old or the new
    // instruction. The maintenance sequence is the architecture's for modified code: clean the
    // written line to the point of unification, invalidate the executed line (both broadcast
    // to the inner-shareable domain), complete both, resynchronise this CPU's fetch.
    unsafe {
        core::ptr::write_volatile(alias_word, word);
        asm!(
            "dc cvau, {alias}",
            "dsb ish",
            "ic ivau, {code}",
            "dsb ish",
            "isb",
            alias = in(reg) alias_word,
            code = in(reg) addr,
            options(nostack)
        );
    }
    Ok(())
}

/// Text pages that hold sites (a handful) → their writable alias. Callers are serialised by
/// axebpf-core's key lock.
static ALIASES: std::sync::Mutex<alloc::vec::Vec<(usize, usize)>> =
    std::sync::Mutex::new(alloc::vec::Vec::new());

/// The writable alias of text page `page`, mapped on first use and kept: unmapping needs
/// ax_mm's TLB shootdown, an IPI round every other CPU must answer, which hung (under QEMU
/// `-icount`) while the kernel address space's lock was held with interrupts off. A kept alias
/// is one extra writable mapping per text page with sites, at an address only this module
/// knows.
fn writable_alias(page: PhysAddr) -> Result<usize, &'static str> {
    let mut aliases = ALIASES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(&(_, alias)) = aliases.iter().find(|(p, _)| *p == page.as_usize()) {
        return Ok(alias);
    }
    let mut aspace = ax_mm::kernel_aspace().lock_irqsave();
    let limit = VirtAddrRange::new(aspace.base(), aspace.end());
    let alias = aspace
        .find_free_area(aspace.base(), PAGE_SIZE_4K, limit)
        .ok_or("no free kernel address for the writable alias")?;
    aspace
        .map_linear(
            alias,
            page,
            PAGE_SIZE_4K,
            MappingFlags::READ | MappingFlags::WRITE,
        )
        .map_err(|_| "could not map the writable alias of the text page")?;
    aliases.push((page.as_usize(), alias.as_usize()));
    Ok(alias.as_usize())
}

/// The instruction word at `addr` (to show and check a site's state).
///
/// # Safety
/// `addr` must be 4-byte aligned, mapped and readable.
pub unsafe fn read_word(addr: usize) -> u32 {
    // SAFETY: the caller's contract.
    unsafe { core::ptr::read_volatile(addr as *const u32) }
}
