//! End to end through the per-vCPU rings: many producer threads, small rings, one drain; the
//! accounting must be exact whatever the interleaving.

use axtrace_tools::ring_check::{Config, run};

#[test]
fn many_vcpus_on_tiny_rings_account_for_every_record() {
    let config = Config {
        vcpus: 6,
        capacity: 8,
        records_per_vcpu: 50_000,
        batch: 3,
    };
    let report = run(config).unwrap();
    assert!(report.passed(), "{report:?}");
    assert_eq!(report.rings.len(), 6);
    let offered: u64 = report.rings.iter().map(|r| r.stats.produced).sum();
    let dropped: u64 = report.rings.iter().map(|r| r.stats.dropped).sum();
    assert_eq!(offered, 6 * 50_000);
    assert_eq!(report.drained() + dropped, offered);
}

#[test]
fn a_ring_large_enough_for_the_whole_run_drops_nothing() {
    let config = Config {
        vcpus: 2,
        capacity: 1 << 14,
        records_per_vcpu: 10_000,
        batch: 64,
    };
    let report = run(config).unwrap();
    assert!(report.passed(), "{report:?}");
    assert!(report.rings.iter().all(|r| r.stats.dropped == 0));
    assert_eq!(report.drained(), 20_000);
}
