//! The exit script: what a guest vCPU does, one exit per entry, generated from a [`Mix`]; what
//! the VMM should count for it; and the check of what the guest stored.
//!
//! In guest memory a script is an array of 16-byte entries `{kind: u32, arg: u32, value: u64}`
//! ending with a [`Kind::End`] entry, followed by the result area: one `u64` "done" word, then
//! one `u64` per entry (entry `i`'s result at `8 + 8 * i`; only reads store one).

use std::collections::BTreeMap;

use axebpf_core::exit_reason::ExitReason;

use crate::exits::{self, Function};
use crate::layout::{DEVICE_WINDOW, HOLE, IO_BASE, MSR_BASE, MSR_COUNT};

/// What a script entry does (its `kind` word).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Kind {
    /// The end: write the done word, `OUT` to the exit port.
    End = 0,
    /// `OUT dx, eax`: `arg` = port, `value` = data (32-bit).
    Out = 1,
    /// `IN eax, dx`: `arg` = port; stores the value.
    In = 2,
    /// `mov [arg], value` (64-bit): `arg` = GPA.
    MmioWrite = 3,
    /// `mov rax, [arg]` (64-bit): `arg` = GPA; stores the value.
    MmioRead = 4,
    /// `HLT`.
    Hlt = 5,
    /// `RDMSR`: `arg` = MSR; stores `edx:eax`.
    RdMsr = 6,
    /// `WRMSR`: `arg` = MSR, `value` = data.
    WrMsr = 7,
    /// The doorbell: `OUT` of function `arg` to the doorbell port, `rbx` = `value`.
    Doorbell = 8,
    /// `jmp $` forever (a guest that never finishes: the watchdog's test).
    Spin = 9,
    /// `crc32 eax, dword [arg]` on a hole GPA: an MMIO access KVM's instruction emulator
    /// cannot decode, so `KVM_RUN` returns `KVM_EXIT_INTERNAL_ERROR` (`FailEntry`); the VMM
    /// skips the instruction and the guest goes on.
    Unemulated = 10,
}

/// One script entry, as laid out in guest memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// What to do.
    pub kind: Kind,
    /// Port, GPA, MSR or doorbell function.
    pub arg: u32,
    /// Data written, or the doorbell's first argument.
    pub value: u64,
}

/// Size of an entry in guest memory.
pub const ENTRY_SIZE: u64 = 16;

/// How many exits of each kind a vCPU's script makes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mix {
    /// `OUT` to ordinary ports (`IoWrite`).
    pub io_out: u32,
    /// `IN` from ordinary ports (`IoRead`).
    pub io_in: u32,
    /// MMIO writes in the device window (`MmioWrite`).
    pub mmio_write: u32,
    /// MMIO reads in the device window (`MmioRead`).
    pub mmio_read: u32,
    /// Accesses to the hole, alternately write and read (`NestedPageFault`).
    pub hole: u32,
    /// `HLT` (`Halt`).
    pub hlt: u32,
    /// `RDMSR` of forwarded MSRs (`SysRegRead`); dropped with a warning without the KVM cap.
    pub msr_read: u32,
    /// `WRMSR` of forwarded MSRs (`SysRegWrite`); dropped with a warning without the KVM cap.
    pub msr_write: u32,
    /// Doorbell calls per [`Function`], in [`Function::ALL`] order.
    pub doorbell: [u32; 6],
    /// Kicks: `KVM_RUN` with `immediate_exit` set, returning `EINTR` (`ExternalInterrupt`).
    pub kicks: u32,
    /// Hole accesses KVM cannot emulate (`FailEntry`, from `KVM_EXIT_INTERNAL_ERROR`).
    pub unemulated: u32,
    /// Never finish (spin after the script): only the watchdog ends the vCPU.
    pub spin: bool,
}

impl Mix {
    /// A small mix of every kind (about 100 exits).
    pub fn small() -> Self {
        Self {
            io_out: 10,
            io_in: 10,
            mmio_write: 8,
            mmio_read: 8,
            hole: 4,
            hlt: 5,
            msr_read: 3,
            msr_write: 2,
            doorbell: [2; 6],
            kicks: 3,
            unemulated: 1,
            spin: false,
        }
    }

    /// The same mix `factor` times over.
    pub fn times(self, factor: u32) -> Self {
        Self {
            io_out: self.io_out * factor,
            io_in: self.io_in * factor,
            mmio_write: self.mmio_write * factor,
            mmio_read: self.mmio_read * factor,
            hole: self.hole * factor,
            hlt: self.hlt * factor,
            msr_read: self.msr_read * factor,
            msr_write: self.msr_write * factor,
            doorbell: self.doorbell.map(|n| n * factor),
            kicks: self.kicks * factor,
            unemulated: self.unemulated * factor,
            spin: self.spin,
        }
    }

    /// Whether the mix uses forwarded MSRs.
    pub fn uses_msrs(&self) -> bool {
        self.msr_read + self.msr_write > 0
    }

    /// The mix without MSR accesses.
    pub fn without_msrs(self) -> Self {
        Self {
            msr_read: 0,
            msr_write: 0,
            ..self
        }
    }
}

/// Makes a kind's `i`-th entry.
type MakeEntry = Box<dyn Fn(u32) -> Entry>;

/// The script of vCPU `vcpu` of VM `vm`: the mix's entries interleaved round-robin, addresses
/// spread over `working_set` distinct ports / GPAs / MSRs per kind, values unique per entry.
pub fn generate(mix: &Mix, working_set: u32, vm: u16, vcpu: u16) -> Vec<Entry> {
    let ws = working_set.max(1);
    let tag = (u64::from(vm) << 48) | (u64::from(vcpu) << 32);
    let mut queues: Vec<(u32, MakeEntry)> = vec![
        (
            mix.io_out,
            Box::new(move |i| entry(Kind::Out, port(i, ws), tag | u64::from(i))),
        ),
        (
            mix.io_in,
            Box::new(move |i| entry(Kind::In, port(i, ws), 0)),
        ),
        (
            mix.mmio_write,
            Box::new(move |i| {
                entry(
                    Kind::MmioWrite,
                    gpa(DEVICE_WINDOW.start, i, ws),
                    tag | u64::from(i),
                )
            }),
        ),
        (
            mix.mmio_read,
            Box::new(move |i| entry(Kind::MmioRead, gpa(DEVICE_WINDOW.start, i, ws), 0)),
        ),
        (
            mix.hole,
            Box::new(move |i| {
                let kind = if i % 2 == 0 {
                    Kind::MmioWrite
                } else {
                    Kind::MmioRead
                };
                entry(kind, gpa(HOLE.start, i, ws), tag | u64::from(i))
            }),
        ),
        (mix.hlt, Box::new(|_| entry(Kind::Hlt, 0, 0))),
        (
            mix.msr_read,
            Box::new(move |i| entry(Kind::RdMsr, msr(i, ws), 0)),
        ),
        (
            mix.msr_write,
            Box::new(move |i| entry(Kind::WrMsr, msr(i, ws), tag | u64::from(i))),
        ),
    ];
    queues.push((
        mix.unemulated,
        Box::new(move |i| entry(Kind::Unemulated, gpa(HOLE.start, i, ws), 0)),
    ));
    for (function, &count) in Function::ALL.iter().zip(&mix.doorbell) {
        let nr = *function as u32;
        queues.push((
            count,
            Box::new(move |i| entry(Kind::Doorbell, nr, tag | u64::from(i))),
        ));
    }
    let mut script = Vec::new();
    let mut round = 0;
    while queues.iter().any(|(count, _)| *count > round) {
        for (count, make) in &queues {
            if *count > round {
                script.push(make(round));
            }
        }
        round += 1;
    }
    if mix.spin {
        script.push(entry(Kind::Spin, 0, 0));
    }
    script.push(entry(Kind::End, 0, 0));
    script
}

fn entry(kind: Kind, arg: u32, value: u64) -> Entry {
    Entry { kind, arg, value }
}

fn port(i: u32, ws: u32) -> u32 {
    u32::from(IO_BASE) + 4 * (i % ws)
}

fn gpa(base: u64, i: u32, ws: u32) -> u32 {
    (base + 8 * u64::from(i % ws)) as u32
}

fn msr(i: u32, ws: u32) -> u32 {
    MSR_BASE + i % ws.min(MSR_COUNT)
}

/// The exits the VMM should count for `script` plus `kicks` kicks, by reason (the end's `OUT`
/// to the exit port is one `IoWrite`). Derived from the entries, not from the exit table.
pub fn expected_counts(script: &[Entry], kicks: u32) -> BTreeMap<ExitReason, u64> {
    let mut counts = BTreeMap::new();
    let mut add = |reason| *counts.entry(reason).or_insert(0) += 1;
    for e in script {
        let hole = exits::in_hole(u64::from(e.arg));
        match e.kind {
            Kind::End | Kind::Out => add(ExitReason::IoWrite),
            Kind::In => add(ExitReason::IoRead),
            Kind::MmioWrite | Kind::MmioRead if hole => add(ExitReason::NestedPageFault),
            Kind::MmioWrite => add(ExitReason::MmioWrite),
            Kind::MmioRead => add(ExitReason::MmioRead),
            Kind::Hlt => add(ExitReason::Halt),
            Kind::Unemulated => add(ExitReason::FailEntry),
            Kind::RdMsr => add(ExitReason::SysRegRead),
            Kind::WrMsr => add(ExitReason::SysRegWrite),
            Kind::Doorbell => {
                add(Function::from_nr(e.arg).map_or(ExitReason::Other, Function::reason))
            }
            Kind::Spin => {}
        }
    }
    for _ in 0..kicks {
        add(ExitReason::ExternalInterrupt);
    }
    counts
}

/// What the guest should have stored for entry `e` (reads only).
pub fn expected_result(e: &Entry) -> Option<u64> {
    let arg = u64::from(e.arg);
    match e.kind {
        Kind::In => Some(u64::from(exits::io_in_value(e.arg as u16))),
        Kind::MmioRead if exits::in_hole(arg) => Some(exits::hole_read_value(8)),
        Kind::MmioRead => Some(exits::mmio_read_value(arg)),
        Kind::RdMsr => Some(exits::msr_read_value(e.arg)),
        _ => None,
    }
}

/// The check of a vCPU's result area.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultCheck {
    /// The guest wrote the done word.
    pub done: bool,
    /// Read entries checked.
    pub checked: usize,
    /// `(entry index, expected, found)` for every wrong result.
    pub mismatches: Vec<(usize, u64, u64)>,
}

impl ResultCheck {
    /// Done, and every stored value is what the VMM supplied.
    pub fn ok(&self) -> bool {
        self.done && self.mismatches.is_empty()
    }
}

/// Checks a result area (`done` word, then one word per entry) against `script`.
pub fn check_results(script: &[Entry], done_word: u64, results: &[u64]) -> ResultCheck {
    let mut check = ResultCheck {
        done: done_word == crate::layout::DONE_MAGIC,
        ..ResultCheck::default()
    };
    for (index, e) in script.iter().enumerate() {
        if let Some(want) = expected_result(e) {
            check.checked += 1;
            let found = results.get(index).copied().unwrap_or(0);
            if found != want {
                check.mismatches.push((index, want, found));
            }
        }
    }
    check
}

/// Bytes of the script and its result area in guest memory.
pub fn footprint(entries: usize) -> u64 {
    let entries = entries as u64;
    (entries * ENTRY_SIZE + 8 + entries * 8).next_multiple_of(4096)
}

/// The script's bytes as guest memory holds them.
pub fn encode(script: &[Entry]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(script.len() * ENTRY_SIZE as usize);
    for e in script {
        bytes.extend_from_slice(&(e.kind as u32).to_le_bytes());
        bytes.extend_from_slice(&e.arg.to_le_bytes());
        bytes.extend_from_slice(&e.value.to_le_bytes());
    }
    bytes
}
