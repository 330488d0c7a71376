//! AxVisor's real `AxVCpuExitReason` (axvcpu 0.3.0) maps to the seed's trace codes and carries
//! its details into the exit context. Runs with `--features axvcpu` (the test command does).

use axaddrspace::device::{AccessWidth, Port, SysRegAddr};
use axaddrspace::{GuestPhysAddr, MappingFlags};
use axebpf_core::exit_reason::ExitReason;
use axebpf_core::tracepoint::ExitDetail;
use axvcpu::AxVCpuExitReason as E;

fn detail(exit: E) -> ExitDetail {
    ExitDetail::from(&exit)
}

#[test]
fn every_variant_has_the_seeds_code_and_its_details() {
    let gpa = GuestPhysAddr::from(0xfee0_0040usize);
    let cases = [
        (
            E::Hypercall {
                nr: 9,
                args: [1, 2, 3, 4, 5, 6],
            },
            1,
            0,
            9,
            1,
        ),
        (
            E::MmioRead {
                addr: gpa,
                width: AccessWidth::Dword,
                reg: 3,
                reg_width: AccessWidth::Qword,
                signed_ext: false,
            },
            2,
            4,
            0xfee0_0040,
            0,
        ),
        (
            E::MmioWrite {
                addr: gpa,
                width: AccessWidth::Word,
                data: 0xbeef,
            },
            3,
            2,
            0xfee0_0040,
            0xbeef,
        ),
        (
            E::SysRegRead {
                addr: SysRegAddr(0x1b),
                reg: 0,
            },
            4,
            8,
            0x1b,
            0,
        ),
        (
            E::SysRegWrite {
                addr: SysRegAddr(0x1b),
                value: 77,
            },
            5,
            8,
            0x1b,
            77,
        ),
        (
            E::IoRead {
                port: Port(0x3f8),
                width: AccessWidth::Byte,
            },
            6,
            1,
            0x3f8,
            0,
        ),
        (
            E::IoWrite {
                port: Port(0x3f8),
                width: AccessWidth::Byte,
                data: 0x41,
            },
            7,
            1,
            0x3f8,
            0x41,
        ),
        (E::ExternalInterrupt { vector: 32 }, 8, 0, 32, 0),
        (
            E::NestedPageFault {
                addr: gpa,
                access_flags: MappingFlags::WRITE,
            },
            9,
            0,
            0xfee0_0040,
            0,
        ),
        (E::Halt, 10, 0, 0, 0),
        (
            E::CpuUp {
                target_cpu: 1,
                entry_point: gpa,
                arg: 5,
            },
            11,
            0,
            1,
            0xfee0_0040,
        ),
        (E::CpuDown { _state: 0 }, 12, 0, 0, 0),
        (E::SystemDown, 13, 0, 0, 0),
        (E::Nothing, 14, 0, 0, 0),
        (
            E::FailEntry {
                hardware_entry_failure_reason: 33,
            },
            15,
            0,
            33,
            0,
        ),
        (
            E::SendIPI {
                target_cpu: 2,
                target_cpu_aux: 0,
                send_to_all: false,
                send_to_self: false,
                vector: 0xfd,
            },
            16,
            0,
            2,
            0xfd,
        ),
    ];
    for (exit, code, width, addr, value) in cases {
        let name = format!("{exit:?}");
        let d = detail(exit);
        assert_eq!(d.reason.code(), code, "{name}");
        assert_eq!(d.reason, ExitReason::from_code(code), "{name}");
        assert_eq!((d.width, d.addr, d.value), (width, addr, value), "{name}");
    }
    assert_eq!(
        detail(E::NestedPageFault {
            addr: gpa,
            access_flags: MappingFlags::WRITE
        })
        .aux,
        MappingFlags::WRITE.bits() as u64
    );
}
