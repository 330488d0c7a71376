//! The one exit table: every KVM exit kind maps to the right axtrace exit reason and details,
//! and the script generator's expected counts follow its mix (no KVM needed).

use axebpf_core::exit_reason::ExitReason as R;
use axtrace_kvm::exits::{self, ACCESS_READ, ACCESS_WRITE, Function, KvmExit, exit_detail};
use axtrace_kvm::layout::{DEVICE_WINDOW, DOORBELL_PORT, EXIT_PORT, HOLE, MSR_BASE};
use axtrace_kvm::script::{self, Mix};
use kvm_ioctls::VcpuExit;

/// Fails to compile when `KvmExit` grows a variant this test does not list below.
fn listed(exit: KvmExit) -> KvmExit {
    match exit {
        KvmExit::IoIn { .. }
        | KvmExit::IoOut { .. }
        | KvmExit::MmioRead { .. }
        | KvmExit::MmioWrite { .. }
        | KvmExit::Hlt
        | KvmExit::RdMsr { .. }
        | KvmExit::WrMsr { .. }
        | KvmExit::Interrupted
        | KvmExit::Intr
        | KvmExit::IrqWindowOpen
        | KvmExit::Hypercall { .. }
        | KvmExit::Shutdown
        | KvmExit::SystemEvent { .. }
        | KvmExit::FailEntry { .. }
        | KvmExit::InternalError
        | KvmExit::MemoryFault { .. }
        | KvmExit::Other { .. } => exit,
    }
}

#[test]
fn every_kvm_exit_kind_maps_to_its_reason() {
    let win = DEVICE_WINDOW.start + 0x40;
    let hole = HOLE.start + 8;
    let cases = [
        (
            KvmExit::IoIn {
                port: 0x1004,
                width: 4,
            },
            R::IoRead,
            4,
            0x1004,
            0,
            0,
        ),
        (
            KvmExit::IoOut {
                port: 0x1004,
                width: 4,
                data: 9,
            },
            R::IoWrite,
            4,
            0x1004,
            9,
            0,
        ),
        (
            KvmExit::IoOut {
                port: EXIT_PORT,
                width: 4,
                data: 0,
            },
            R::IoWrite,
            4,
            u64::from(EXIT_PORT),
            0,
            0,
        ),
        (
            KvmExit::MmioRead {
                addr: win,
                width: 8,
            },
            R::MmioRead,
            8,
            win,
            0,
            0,
        ),
        (
            KvmExit::MmioWrite {
                addr: win,
                width: 8,
                data: 5,
            },
            R::MmioWrite,
            8,
            win,
            5,
            0,
        ),
        (
            KvmExit::MmioRead {
                addr: hole,
                width: 8,
            },
            R::NestedPageFault,
            8,
            hole,
            0,
            ACCESS_READ,
        ),
        (
            KvmExit::MmioWrite {
                addr: hole,
                width: 4,
                data: 3,
            },
            R::NestedPageFault,
            4,
            hole,
            3,
            ACCESS_WRITE,
        ),
        (KvmExit::Hlt, R::Halt, 0, 0, 0, 0),
        (
            KvmExit::RdMsr { index: MSR_BASE },
            R::SysRegRead,
            8,
            u64::from(MSR_BASE),
            0,
            0,
        ),
        (
            KvmExit::WrMsr {
                index: MSR_BASE,
                data: 7,
            },
            R::SysRegWrite,
            8,
            u64::from(MSR_BASE),
            7,
            0,
        ),
        (KvmExit::Interrupted, R::ExternalInterrupt, 0, 0, 0, 0),
        (KvmExit::Intr, R::ExternalInterrupt, 0, 0, 0, 0),
        (KvmExit::IrqWindowOpen, R::Nothing, 0, 0, 0, 0),
        (KvmExit::Hypercall { nr: 12 }, R::Hypercall, 0, 12, 0, 0),
        (KvmExit::Shutdown, R::SystemDown, 0, 0, 0, 0),
        (KvmExit::SystemEvent { kind: 1 }, R::SystemDown, 0, 0, 1, 0),
        (KvmExit::FailEntry { reason: 33 }, R::FailEntry, 0, 33, 0, 0),
        (KvmExit::InternalError, R::FailEntry, 0, 0, 0, 0),
        (
            KvmExit::MemoryFault { gpa: 0x5000 },
            R::NestedPageFault,
            0,
            0x5000,
            0,
            0,
        ),
        (KvmExit::Other { code: 1 }, R::Other, 0, 1, 0, 0),
    ];
    for (exit, reason, width, addr, value, aux) in cases {
        let d = exit_detail(&listed(exit));
        assert_eq!(
            (d.reason, d.width, d.addr, d.value, d.aux),
            (reason, width, addr, value, aux),
            "{exit:?}"
        );
    }
}

#[test]
fn doorbell_functions_map_to_their_reasons() {
    let want = [
        (0, R::Hypercall),
        (1, R::CpuUp),
        (2, R::CpuDown),
        (3, R::SendIpi),
        (4, R::SystemDown),
        (5, R::Nothing),
        (6, R::Other),
    ];
    for (nr, reason) in want {
        let exit = KvmExit::IoOut {
            port: DOORBELL_PORT,
            width: 4,
            data: nr,
        };
        let d = exit_detail(&exit);
        assert_eq!((d.reason, d.addr), (reason, nr), "function {nr}");
        assert_eq!(
            Function::from_nr(nr as u32).map(Function::reason),
            (nr < 6).then_some(reason)
        );
    }
}

#[test]
fn kvm_ioctls_exits_become_owned_exits() {
    let mut data = [0u8; 4];
    assert_eq!(
        KvmExit::from_vcpu_exit(&VcpuExit::IoIn(0x60, &mut data)),
        KvmExit::IoIn {
            port: 0x60,
            width: 4
        }
    );
    assert_eq!(
        KvmExit::from_vcpu_exit(&VcpuExit::IoOut(0x61, &[1, 2])),
        KvmExit::IoOut {
            port: 0x61,
            width: 2,
            data: 0x0201
        }
    );
    let mut mmio = [0u8; 8];
    assert_eq!(
        KvmExit::from_vcpu_exit(&VcpuExit::MmioRead(0x1000_0000, &mut mmio)),
        KvmExit::MmioRead {
            addr: 0x1000_0000,
            width: 8
        }
    );
    assert_eq!(
        KvmExit::from_vcpu_exit(&VcpuExit::MmioWrite(0x2000_0000, &[0xff; 8])),
        KvmExit::MmioWrite {
            addr: 0x2000_0000,
            width: 8,
            data: u64::MAX
        }
    );
    assert_eq!(KvmExit::from_vcpu_exit(&VcpuExit::Hlt), KvmExit::Hlt);
    assert_eq!(
        KvmExit::from_vcpu_exit(&VcpuExit::Shutdown),
        KvmExit::Shutdown
    );
    assert_eq!(
        KvmExit::from_vcpu_exit(&VcpuExit::InternalError),
        KvmExit::InternalError
    );
    assert_eq!(
        KvmExit::from_vcpu_exit(&VcpuExit::FailEntry(7, 0)),
        KvmExit::FailEntry { reason: 7 }
    );
    assert_eq!(
        KvmExit::from_vcpu_exit(&VcpuExit::Unsupported(99)),
        KvmExit::Other { code: 99 }
    );
    assert_eq!(exits::hole_read_value(2), 0xffff);
}

#[test]
fn a_scripts_expected_counts_follow_its_mix() {
    let mix = Mix::small();
    let script = script::generate(&mix, 4, 1, 2);
    let counts = script::expected_counts(&script, mix.kicks);
    let get = |r| counts.get(&r).copied().unwrap_or(0);
    assert_eq!(
        get(R::IoWrite),
        u64::from(mix.io_out) + 1,
        "plus the exit port"
    );
    assert_eq!(get(R::IoRead), u64::from(mix.io_in));
    assert_eq!(get(R::MmioWrite), u64::from(mix.mmio_write));
    assert_eq!(get(R::MmioRead), u64::from(mix.mmio_read));
    assert_eq!(get(R::NestedPageFault), u64::from(mix.hole));
    assert_eq!(get(R::Halt), u64::from(mix.hlt));
    assert_eq!(get(R::SysRegRead), u64::from(mix.msr_read));
    assert_eq!(get(R::SysRegWrite), u64::from(mix.msr_write));
    assert_eq!(get(R::ExternalInterrupt), u64::from(mix.kicks));
    for (function, n) in Function::ALL.iter().zip(mix.doorbell) {
        assert_eq!(get(function.reason()), u64::from(n), "{function:?}");
    }
    assert_eq!(script.last().unwrap().kind, script::Kind::End);
    // Working set 4: at most 4 distinct ports.
    let ports: std::collections::BTreeSet<u32> = script
        .iter()
        .filter(|e| e.kind == script::Kind::Out)
        .map(|e| e.arg)
        .collect();
    assert_eq!(ports.len(), 4);
}
