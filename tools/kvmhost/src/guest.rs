//! The guest: 64-bit code generated with iced-x86's `CodeAssembler` that walks its exit script
//! (see [`crate::script`]), and the long-mode machine state it starts in.
//!
//! Registers at entry: `rsi` = the script, `rdi` = the result area. Each entry's operation is
//! one exit; reads store their value at `rdi + 8 + 8 * index`. At the end the guest writes
//! [`DONE_MAGIC`] to the result area's first word and does an `OUT` to [`EXIT_PORT`].

use iced_x86::code_asm::*;
use kvm_bindings::{kvm_regs, kvm_segment, kvm_sregs};

use crate::layout::{CODE, DONE_MAGIC, DOORBELL_PORT, EXIT_PORT, GDT, PD, PDPT, PML4};
use crate::script::Kind;

/// Assembles the script walker at [`CODE`].
pub fn code() -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(64)?;
    let mut next = a.create_label();
    let mut advance = a.create_label();
    let mut end = a.create_label();
    let mut ops: Vec<(Kind, CodeLabel)> = [
        Kind::Out,
        Kind::In,
        Kind::MmioWrite,
        Kind::MmioRead,
        Kind::Hlt,
        Kind::RdMsr,
        Kind::WrMsr,
        Kind::Doorbell,
        Kind::Spin,
        Kind::Unemulated,
    ]
    .into_iter()
    .map(|kind| (kind, a.create_label()))
    .collect();

    // r15 = the done word; rdi = entry 0's result.
    a.mov(r15, rdi)?;
    a.add(rdi, 8)?;
    a.set_label(&mut next)?;
    a.mov(eax, dword_ptr(rsi))?;
    a.mov(edx, dword_ptr(rsi + 4))?;
    a.mov(rbx, qword_ptr(rsi + 8))?;
    for (kind, label) in &ops {
        a.cmp(eax, *kind as u32)?;
        a.je(*label)?;
    }
    a.jmp(end)?;

    for (kind, label) in &mut ops {
        a.set_label(label)?;
        match kind {
            Kind::Out => {
                a.mov(eax, ebx)?;
                a.out(dx, eax)?;
            }
            Kind::In => {
                a.in_(eax, dx)?;
                a.mov(qword_ptr(rdi), rax)?;
            }
            Kind::MmioWrite => a.mov(qword_ptr(rdx), rbx)?,
            Kind::MmioRead => {
                a.mov(rax, qword_ptr(rdx))?;
                a.mov(qword_ptr(rdi), rax)?;
            }
            Kind::Hlt => a.hlt()?,
            Kind::RdMsr => {
                a.mov(ecx, edx)?;
                a.rdmsr()?;
                a.shl(rdx, 32)?;
                a.or(rax, rdx)?;
                a.mov(qword_ptr(rdi), rax)?;
            }
            Kind::WrMsr => {
                a.mov(ecx, edx)?;
                a.mov(eax, ebx)?;
                a.mov(rdx, rbx)?;
                a.shr(rdx, 32)?;
                a.wrmsr()?;
            }
            Kind::Doorbell => {
                a.mov(eax, edx)?;
                a.mov(edx, u32::from(DOORBELL_PORT))?;
                a.out(dx, eax)?;
            }
            Kind::Spin => {
                let here = *label;
                a.jmp(here)?;
            }
            Kind::Unemulated => a.crc32(eax, dword_ptr(rdx))?,
            Kind::End => unreachable!("End is not dispatched"),
        }
        a.jmp(advance)?;
    }

    a.set_label(&mut advance)?;
    a.add(rsi, crate::script::ENTRY_SIZE as i32)?;
    a.add(rdi, 8)?;
    a.jmp(next)?;

    a.set_label(&mut end)?;
    a.mov(rax, DONE_MAGIC)?;
    a.mov(qword_ptr(r15), rax)?;
    a.mov(edx, u32::from(EXIT_PORT))?;
    a.out(dx, eax)?;
    a.hlt()?;
    a.jmp(end)?;
    a.assemble(CODE)
}

/// Page-table and GDT bytes to write at their GPAs: `(gpa, bytes)`.
pub fn system_tables() -> Vec<(u64, Vec<u8>)> {
    const PRESENT_RW: u64 = 0b11;
    const HUGE: u64 = 1 << 7;
    let pml4 = (PDPT | PRESENT_RW).to_le_bytes().to_vec();
    let pdpt = (PD | PRESENT_RW).to_le_bytes().to_vec();
    let pd = (0..512u64)
        .flat_map(|i| ((i << 21) | PRESENT_RW | HUGE).to_le_bytes())
        .collect();
    let gdt = [0u64, GDT_CODE, GDT_DATA]
        .iter()
        .flat_map(|d| d.to_le_bytes())
        .collect();
    vec![(PML4, pml4), (PDPT, pdpt), (PD, pd), (GDT, gdt)]
}

/// 64-bit code segment descriptor (L, P, S, execute/read).
const GDT_CODE: u64 = 0x00af_9b00_0000_ffff;
/// Data segment descriptor (P, S, read/write, 4 GiB).
const GDT_DATA: u64 = 0x00cf_9300_0000_ffff;

/// Long mode on top of `sregs` (as `KVM_GET_SREGS` returned them).
pub fn long_mode(sregs: &mut kvm_sregs) {
    const CR0_PE: u64 = 1;
    const CR0_ET: u64 = 1 << 4;
    const CR0_NE: u64 = 1 << 5;
    const CR0_PG: u64 = 1 << 31;
    const CR4_PAE: u64 = 1 << 5;
    const EFER_LME: u64 = 1 << 8;
    const EFER_LMA: u64 = 1 << 10;
    let segment = |selector: u16, code: bool| kvm_segment {
        base: 0,
        limit: 0xffff_ffff,
        selector,
        type_: if code { 0xb } else { 0x3 },
        present: 1,
        dpl: 0,
        db: u8::from(!code),
        s: 1,
        l: u8::from(code),
        g: 1,
        avl: 0,
        unusable: 0,
        padding: 0,
    };
    sregs.cs = segment(0x8, true);
    let data = segment(0x10, false);
    sregs.ds = data;
    sregs.es = data;
    sregs.fs = data;
    sregs.gs = data;
    sregs.ss = data;
    sregs.gdt.base = GDT;
    sregs.gdt.limit = 3 * 8 - 1;
    sregs.cr3 = PML4;
    sregs.cr4 = CR4_PAE;
    sregs.cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_PG;
    sregs.efer = EFER_LME | EFER_LMA;
}

/// The general registers at entry: `rip` = [`CODE`], `rsi` = script, `rdi` = result area.
pub fn entry_regs(script: u64, results: u64) -> kvm_regs {
    kvm_regs {
        rip: CODE,
        rflags: 2,
        rsi: script,
        rdi: results,
        rsp: crate::layout::SCRIPTS,
        ..Default::default()
    }
}
