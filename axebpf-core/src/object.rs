//! A loaded eBPF object: its maps created and registered, its programs relocated against them
//! and ready to run. What `trace load` does, minus attaching.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::helpers::{ALL_HELPERS, Helper};
use crate::loader::{self, LoadError};
use crate::maps::{Map, MapError};
use crate::platform;
use crate::registry::{self, MapHandle, RegistryFull};
use crate::runtime::{ArrayLayout, ExecMode, Program, RuntimeError};
use crate::tracepoint;
use crate::verifier::{self, MapInfo, Report, Target, VerifyError};

/// Why an object could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The ELF object is malformed or unsupported.
    #[error(transparent)]
    Parse(#[from] LoadError),
    /// A map could not be created.
    #[error("map `{name}`: {error}")]
    Map {
        /// The map's name in the object.
        name: String,
        /// Why.
        error: MapError,
    },
    /// Too many maps are registered.
    #[error(transparent)]
    Registry(#[from] RegistryFull),
    /// A program cannot run.
    #[error("program `{name}` (section `{section}`): {error}")]
    Program {
        /// The program's name.
        name: String,
        /// Its section.
        section: String,
        /// Why.
        error: RuntimeError,
    },
    /// The verifier refused a program.
    #[error("program `{name}` (section `{section}`): {error}")]
    Verify {
        /// The program's name.
        name: String,
        /// Its section.
        section: String,
        /// Why (with the log up to the refusal when one was asked for).
        error: alloc::boxed::Box<VerifyError>,
    },
    /// A program's context is unknown: its section names no VMM tracepoint and none was given.
    #[error(
        "program `{name}` (section `{section}`): {reason}, so the verifier cannot know its \
         context; attach it to a VMM tracepoint"
    )]
    NoTracepoint {
        /// The program's name.
        name: String,
        /// Its section.
        section: String,
        /// Why no tracepoint was found.
        reason: String,
    },
    /// No platform is installed (per-CPU maps need the CPU count).
    #[error("no platform installed: call axebpf_core::platform::install first")]
    NoPlatform,
}

/// One program of a loaded object.
#[derive(Debug)]
pub struct LoadedProgram {
    /// Function name.
    pub name: String,
    /// ELF section (`tracepoint/vmm/vcpu_run_exit` …): where it wants to attach.
    pub section: String,
    /// The runnable program.
    pub program: Program,
    /// The instructions as verified: linked, map references resolved to handles, helper ids
    /// as the program names them (for disassembly and for running the same program elsewhere,
    /// as the benchmarks' peers do).
    pub code: Vec<u8>,
    /// What the verifier reported (its log if one was asked for); `None` only when loaded
    /// with [`LoadOptions::unsafe_skip_verifier`].
    pub verification: Option<Report>,
}

/// How [`LoadedObject::load_with_options`] loads.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions<'a> {
    /// JIT or interpreter.
    pub mode: ExecMode,
    /// The helpers programs may call.
    pub helpers: &'a [&'a Helper],
    /// The tracepoint (name, without `vmm:`) every program will be attached to; `None`: the
    /// one each program's section names. Its context is what the verifier checks against.
    pub attach: Option<&'a str>,
    /// Keep the verifier's step-by-step log in [`LoadedProgram::verification`].
    pub verifier_log: bool,
    /// Load without verifying. DANGEROUS: a program can then read and write any hypervisor
    /// memory. For developing the runtime only; nothing in the shipped tools sets it unless
    /// asked with `--unsafe-skip-verifier`.
    pub unsafe_skip_verifier: bool,
}

impl LoadOptions<'static> {
    /// Verified loading in `mode` with every helper.
    pub fn new(mode: ExecMode) -> Self {
        Self {
            mode,
            helpers: &ALL_HELPERS,
            attach: None,
            verifier_log: false,
            unsafe_skip_verifier: false,
        }
    }
}

/// One map of a loaded object.
pub struct LoadedMap {
    /// Name in the object.
    pub name: String,
    /// The handle programs use.
    pub handle: MapHandle,
    /// The map (boxed: the registry holds its address).
    pub map: alloc::boxed::Box<Map>,
}

/// An object's programs and the maps they use; dropping it unloads both, programs first.
pub struct LoadedObject {
    /// Declared before `maps`: programs are dropped (and can no longer run) before their maps.
    programs: Vec<LoadedProgram>,
    maps: Vec<LoadedMap>,
}

impl LoadedObject {
    /// Parses `elf`, creates and registers its maps, relocates, verifies (against the context
    /// of the tracepoint each program's section names) and loads every program in `mode` with
    /// every helper available.
    pub fn load(elf: &[u8], mode: ExecMode) -> Result<Self, ObjectError> {
        Self::load_with_options(elf, &LoadOptions::new(mode))
    }

    /// [`load`](Self::load) with a chosen helper set.
    pub fn load_with_helpers(
        elf: &[u8],
        mode: ExecMode,
        helpers: &[&Helper],
    ) -> Result<Self, ObjectError> {
        Self::load_with_options(
            elf,
            &LoadOptions {
                helpers,
                ..LoadOptions::new(mode)
            },
        )
    }

    /// [`load`](Self::load) with every option.
    pub fn load_with_options(elf: &[u8], options: &LoadOptions<'_>) -> Result<Self, ObjectError> {
        let (mode, helpers) = (options.mode, options.helpers);
        let mut object = loader::parse(elf)?;
        let possible_cpus = platform::installed()
            .ok_or(ObjectError::NoPlatform)?
            .possible_cpus();
        let mut loaded = Self {
            programs: Vec::new(),
            maps: Vec::new(),
        };
        for def in &object.maps {
            let map_error = |error| ObjectError::Map {
                name: def.name.clone(),
                error,
            };
            let spec = def.spec().map_err(map_error)?;
            let map = alloc::boxed::Box::new(Map::new(spec, possible_cpus).map_err(map_error)?);
            // On error `loaded` drops and unregisters what was registered so far.
            let handle = registry::register(&map)?;
            loaded.maps.push(LoadedMap {
                name: def.name.clone(),
                handle,
                map,
            });
        }
        let handles: Vec<u64> = loaded
            .maps
            .iter()
            .map(|m| u64::from(m.handle.raw()))
            .collect();
        // The interpreter checks every access; map values are reached through lookup pointers.
        let memory: Vec<core::ops::Range<u64>> = loaded
            .maps
            .iter()
            .flat_map(|m| m.map.storage_ranges())
            .map(|r| r.start as u64..r.end as u64)
            .collect();
        // ARRAY lookups the JIT may compile in place.
        let arrays: Vec<ArrayLayout> = loaded
            .maps
            .iter()
            .filter_map(|m| {
                let (base, stride, entries) = m.map.array_layout()?;
                Some(ArrayLayout {
                    handle: u64::from(m.handle.raw()),
                    base,
                    stride,
                    entries,
                })
            })
            .collect();
        let map_infos: Vec<MapInfo> = loaded
            .maps
            .iter()
            .map(|m| MapInfo {
                handle: u64::from(m.handle.raw()),
                name: m.name.clone(),
                spec: *m.map.spec(),
            })
            .collect();
        let helper_ids: Vec<u32> = helpers.iter().map(|h| h.id).collect();
        for program in &mut object.programs {
            program.relocate_maps(|index| handles[index]);
            let verification = if options.unsafe_skip_verifier {
                None
            } else {
                let tp = match options.attach {
                    Some(name) => tracepoint::find(name),
                    None => tracepoint::for_section(&program.section),
                }
                .map_err(|e| ObjectError::NoTracepoint {
                    name: program.name.clone(),
                    section: program.section.clone(),
                    reason: e.to_string(),
                })?;
                let target = Target {
                    context_size: tp.context_size,
                    maps: &map_infos,
                    helpers: &helper_ids,
                };
                let verifier_options = verifier::Options {
                    log: options.verifier_log,
                    ..verifier::Options::default()
                };
                let report = verifier::verify(program.bytes(), &target, &verifier_options)
                    .map_err(|error| ObjectError::Verify {
                        name: program.name.clone(),
                        section: program.section.clone(),
                        error: alloc::boxed::Box::new(error),
                    })?;
                Some(report)
            };
            let runnable =
                Program::load_with_maps(program.bytes(), mode, helpers, &memory, &arrays).map_err(
                    |error| ObjectError::Program {
                        name: program.name.clone(),
                        section: program.section.clone(),
                        error,
                    },
                )?;
            loaded.programs.push(LoadedProgram {
                name: program.name.clone(),
                section: program.section.clone(),
                program: runnable,
                code: program.bytes().to_vec(),
                verification,
            });
        }
        Ok(loaded)
    }

    /// The programs, in object order.
    pub fn programs(&self) -> &[LoadedProgram] {
        &self.programs
    }

    /// The program with this function name, or the first in this section.
    pub fn program(&self, name_or_section: &str) -> Option<&Program> {
        self.programs
            .iter()
            .find(|p| p.name == name_or_section)
            .or_else(|| self.programs.iter().find(|p| p.section == name_or_section))
            .map(|p| &p.program)
    }

    /// The maps, in object order.
    pub fn maps(&self) -> &[LoadedMap] {
        &self.maps
    }

    /// The map with this name.
    pub fn map(&self, name: &str) -> Option<&Map> {
        self.maps.iter().find(|m| m.name == name).map(|m| &*m.map)
    }
}

impl Drop for LoadedObject {
    fn drop(&mut self) {
        // No program can run any more once they are dropped; only then may maps go.
        self.programs.clear();
        for map in &self.maps {
            registry::unregister(map.handle);
        }
    }
}

impl core::fmt::Debug for LoadedObject {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LoadedObject")
            .field("programs", &self.programs)
            .field(
                "maps",
                &self.maps.iter().map(|m| &m.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}
