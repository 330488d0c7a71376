//! Which KVM backend serves `/dev/kvm`, and whether it opens: every timing this crate prints
//! carries [`Backend::label`], since an emulated backend's exits cost ~100× a hardware one's.

use std::path::Path;

/// What kind of KVM implementation the kernel has loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// `kvm_intel` (VMX) or `kvm_amd` (SVM): guest code runs on the CPU.
    Hardware(&'static str),
    /// `kvm_pvm`: a software backend; every guest instruction is emulated.
    EmulatedPvm,
    /// `kvm` is there but none of the vendor modules above (or modules are not visible).
    Unknown,
    /// No `kvm` module at all.
    None,
}

/// The detected backend and whether `/dev/kvm` is usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// The module that implements KVM.
    pub kind: BackendKind,
    /// `Ok` when `/dev/kvm` opens and speaks KVM API version 12; else why not.
    pub usable: Result<(), String>,
}

/// Whether module `name` is loaded: `/sys/module/<name>` or a line of `/proc/modules`.
fn module_loaded(name: &str, proc_modules: Option<&str>) -> bool {
    Path::new("/sys/module").join(name).exists()
        || proc_modules.is_some_and(|text| {
            text.lines()
                .any(|line| line.split_whitespace().next() == Some(name))
        })
}

impl Backend {
    /// Looks at the loaded modules and tries `/dev/kvm`.
    pub fn detect() -> Self {
        let proc_modules = std::fs::read_to_string("/proc/modules").ok();
        let loaded = |name| module_loaded(name, proc_modules.as_deref());
        let kind = if loaded("kvm_intel") {
            BackendKind::Hardware("kvm_intel")
        } else if loaded("kvm_amd") {
            BackendKind::Hardware("kvm_amd")
        } else if loaded("kvm_pvm") {
            BackendKind::EmulatedPvm
        } else if loaded("kvm") {
            BackendKind::Unknown
        } else {
            BackendKind::None
        };
        Self {
            kind,
            usable: open_dev_kvm(),
        }
    }

    /// The label every timing output prints: `hardware (kvm_intel)`, `emulated (pvm)` ….
    pub fn label(&self) -> String {
        match self.kind {
            BackendKind::Hardware(module) => format!("hardware ({module})"),
            BackendKind::EmulatedPvm => "emulated (pvm)".into(),
            BackendKind::Unknown => "unknown KVM backend".into(),
            BackendKind::None => "no KVM".into(),
        }
    }
}

/// Whether `text` is a label a run of this crate reports as its backend ([`Backend::label`]
/// of a usable backend, or the synthetic source's): how a reader knows a dump came from here.
pub fn is_run_label(text: &str) -> bool {
    text.starts_with("hardware (")
        || text == "emulated (pvm)"
        || text == "unknown KVM backend"
        || text == crate::synthetic::LABEL
}

/// Opens `/dev/kvm` and checks the API version.
fn open_dev_kvm() -> Result<(), String> {
    let kvm = kvm_ioctls::Kvm::new().map_err(|e| format!("cannot open /dev/kvm: {e}"))?;
    match kvm.get_api_version() {
        12 => Ok(()),
        other => Err(format!("/dev/kvm speaks KVM API version {other}, not 12")),
    }
}

/// `Ok` when `/dev/kvm` can run this crate's guests; else why not (for `skipped: …` lines).
pub fn kvm_usable() -> Result<(), String> {
    Backend::detect().usable
}
