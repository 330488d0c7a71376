//! Tracepoints end to end on the host: static keys patched at run time, filters, programs
//! attached and detached while other threads fire the tracepoint.
//!
//! Tracepoints are process-wide, so each test uses its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axebpf_core::context::VcpuRunExit;
use axebpf_core::exit_reason::ExitReason;
use axebpf_core::filter::Filter;
use axebpf_core::object::LoadedObject;
use axebpf_core::platform::host::HostPlatform;
use axebpf_core::runtime::ExecMode;
use axebpf_core::tracepoint::{self, AttachedProgram, ExitDetail};
use axebpf_core::{trace_vmm_hypercall, trace_vmm_irq_inject, trace_vmm_vcpu_run_exit};

const EXIT_COUNT: &[u8] = include_bytes!("../bpf/exit_count.bpf.o");

fn counter_program(name: &str, mode: ExecMode) -> Arc<AttachedProgram> {
    let object = Arc::new(LoadedObject::load(EXIT_COUNT, mode).unwrap());
    Arc::new(AttachedProgram::new(name.into(), object, 0).unwrap())
}

/// Exits counted by `exit_count` for (vm, reason), all CPUs.
fn counted(program: &AttachedProgram, vm: u32, reason: ExitReason) -> u64 {
    let key = [vm.to_le_bytes(), reason.code().to_le_bytes()].concat();
    program
        .object()
        .map("exit_counts")
        .unwrap()
        .read_per_cpu(&key)
        .map_or(0, |values| {
            values
                .iter()
                .map(|v| u64::from_le_bytes(v[..8].try_into().unwrap()))
                .sum()
        })
}

#[test]
fn a_disabled_site_does_nothing_and_enabling_patches_it_in() {
    HostPlatform::install();
    let tp = &tracepoint::VCPU_RUN_EXIT;
    let program = counter_program("count", ExecMode::Jit);
    tp.attach(program.clone());
    for _ in 0..10 {
        trace_vmm_vcpu_run_exit!(1, 0, ExitReason::IoRead);
    }
    assert_eq!(tp.stats().hits, 0, "disabled: the site is a NOP");
    tp.set_enabled(true).unwrap();
    assert!(tp.is_enabled());
    for _ in 0..10 {
        trace_vmm_vcpu_run_exit!(1, 0, ExitReason::IoRead);
    }
    let detail = ExitDetail {
        reason: ExitReason::MmioWrite,
        width: 4,
        addr: 0xfee0_0000,
        value: 7,
        aux: 0,
    };
    trace_vmm_vcpu_run_exit!(2usize, 3usize, detail);
    tp.set_enabled(false).unwrap();
    for _ in 0..10 {
        trace_vmm_vcpu_run_exit!(1, 0, ExitReason::IoRead);
    }
    assert_eq!(tp.stats().hits, 11);
    assert_eq!(counted(&program, 1, ExitReason::IoRead), 10);
    assert_eq!(counted(&program, 2, ExitReason::MmioWrite), 1);

    // The filter runs before the programs.
    tp.set_filter(Some(
        Filter::compile("exit_reason == 6 && vm_id == 1", "vcpu_run_exit").unwrap(),
    ));
    tp.set_enabled(true).unwrap();
    trace_vmm_vcpu_run_exit!(1, 0, ExitReason::IoRead);
    trace_vmm_vcpu_run_exit!(1, 0, ExitReason::Halt);
    trace_vmm_vcpu_run_exit!(9, 0, ExitReason::IoRead);
    tp.set_enabled(false).unwrap();
    let stats = tp.stats();
    assert_eq!((stats.hits, stats.filtered), (14, 2));
    assert_eq!(counted(&program, 1, ExitReason::IoRead), 11);
    assert_eq!(counted(&program, 1, ExitReason::Halt), 0);
    tp.detach("count").unwrap();
    tp.set_filter(None);
}

#[test]
fn programs_attach_and_detach_while_another_thread_fires() {
    HostPlatform::install();
    let tp = &tracepoint::HYPERCALL;
    tp.set_enabled(true).unwrap();
    let stop = AtomicBool::new(false);
    let fired = std::thread::scope(|scope| {
        let firing = scope.spawn(|| {
            let mut fired = 0u64;
            while !stop.load(Ordering::Relaxed) {
                trace_vmm_hypercall!(7, 1, 2, 3, 4);
                fired += 1;
            }
            fired
        });
        for round in 0..200 {
            let mode = if round % 2 == 0 {
                ExecMode::Jit
            } else {
                ExecMode::Interpreter
            };
            tp.attach(counter_program("a", mode));
            tp.attach(counter_program("b", mode));
            tp.detach("a").unwrap();
            tp.detach("b").unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        firing.join().unwrap()
    });
    tp.set_enabled(false).unwrap();
    assert!(fired > 0);
    assert_eq!(tp.stats().hits, fired, "every firing was counted");
    assert_eq!(tp.stats().errors, 0);
    assert!(tp.detach("a").is_err());
}

#[test]
fn keys_toggle_while_another_thread_runs_through_the_site() {
    HostPlatform::install();
    let tp = &tracepoint::IRQ_INJECT;
    let stop = AtomicBool::new(false);
    let runs = std::sync::atomic::AtomicU64::new(0);
    let wait_for_runs_past = |n: u64| {
        while runs.load(Ordering::Relaxed) <= n {
            std::thread::yield_now();
        }
    };
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                trace_vmm_irq_inject!(32);
                runs.fetch_add(1, Ordering::Relaxed);
            }
        });
        // Toggle only while the other thread is running through the site (a loaded machine may
        // start it late), and let it run through the final state too.
        wait_for_runs_past(0);
        for _ in 0..100 {
            tp.set_enabled(true).unwrap();
            tp.set_enabled(false).unwrap();
        }
        wait_for_runs_past(runs.load(Ordering::Relaxed));
        stop.store(true, Ordering::Relaxed);
    });
    assert!(!tp.is_enabled());
}

#[test]
fn unknown_tracepoints_are_named_in_the_error() {
    let error = tracepoint::find("vmm:nope").err().unwrap();
    assert!(error.to_string().contains("vmm:nope"));
    assert_eq!(
        tracepoint::find("vcpu_run_exit").unwrap().name,
        "vcpu_run_exit"
    );
    assert_eq!(tracepoint::ALL.len(), 8);
    let _ = VcpuRunExit::default();
}

#[test]
fn concurrent_attaches_and_detaches_all_land() {
    HostPlatform::install();
    let tp = &tracepoint::VCPU_SCHED;
    let object = Arc::new(LoadedObject::load(EXIT_COUNT, ExecMode::Interpreter).unwrap());
    let program = |name: String| Arc::new(AttachedProgram::new(name, object.clone(), 0).unwrap());
    // Each change copies the list and installs the copy: two writers building on the same old
    // list would lose one of the changes.
    std::thread::scope(|scope| {
        for thread in 0..4 {
            let program = &program;
            scope.spawn(move || {
                for i in 0..50 {
                    tp.attach(program(format!("t{thread}-{i}")));
                }
            });
        }
    });
    assert_eq!(tp.describe().1.len(), 200);
    std::thread::scope(|scope| {
        for thread in 0..4 {
            scope.spawn(move || {
                for i in 0..50 {
                    tp.detach(&format!("t{thread}-{i}")).unwrap();
                }
            });
        }
    });
    assert!(tp.describe().1.is_empty());
}
