//! `axtrace shell`: the `trace` command layer on the Linux host, reading objects from the file
//! system; a REPL on a terminal, one command per line from a pipe, or one command with `-c`.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Result;
use axebpf_core::platform::host::HostPlatform;
use axebpf_core::shell::{Files, Shell};

/// Object files from the host's file system.
pub struct HostFiles;

impl Files for HostFiles {
    fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        std::fs::read(path).map_err(|e| e.to_string())
    }
}

/// A shell over the host's file system, with the host platform installed.
pub fn host_shell() -> Shell<HostFiles> {
    HostPlatform::install();
    Shell::new(HostFiles)
}

/// Runs commands: `commands` if given, else lines from stdin (with a prompt on a terminal).
/// Returns how many commands failed; each failure is reported on stderr and changes nothing.
pub fn run(commands: &[String]) -> Result<usize> {
    let mut shell = host_shell();
    let mut failures = 0;
    let mut execute = |line: &str| {
        let mut out = String::new();
        let result = shell.execute(line, &mut out);
        print!("{out}");
        if let Err(error) = result {
            eprintln!("error: {error}");
            failures += 1;
        }
    };
    if !commands.is_empty() {
        commands.iter().for_each(|c| execute(c));
        return Ok(failures);
    }
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    let mut line = String::new();
    loop {
        if interactive {
            print!("axtrace> ");
            std::io::stdout().flush()?;
        }
        line.clear();
        if stdin.lock().read_line(&mut line)? == 0 {
            break;
        }
        let command = line.trim();
        if matches!(command, "exit" | "quit") {
            break;
        }
        execute(command);
    }
    Ok(failures)
}
