//! Prints a run's report: `cargo run -p axtrace-kvm --example measure -- [VMS] [VCPUS] [FACTOR]`
//! (the small mix × FACTOR per vCPU). Every timing line names the backend.

fn main() {
    let args: Vec<u32> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers: VMS VCPUS FACTOR"))
        .collect();
    let arg = |i: usize, default| args.get(i).copied().unwrap_or(default);
    if let Err(why) = axtrace_kvm::kvm_usable() {
        println!("skipped: /dev/kvm not usable: {why}");
        return;
    }
    let config = axtrace_kvm::Config {
        vms: arg(0, 1) as u16,
        vcpus: arg(1, 1) as u16,
        mix: axtrace_kvm::Mix::small().times(arg(2, 10)),
        working_set: 64,
        deadline: std::time::Duration::from_secs(60),
        first_vm_id: 0,
    };
    match axtrace_kvm::run(&config) {
        Ok(report) => print!("{}", report.summary()),
        Err(e) => eprintln!("error: {e}"),
    }
}
