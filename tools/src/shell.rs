//! `axtrace shell`: the `trace` command layer on the Linux host, reading objects from the file
//! system; a REPL on a terminal, one command per line from a pipe, or one command with `-c`.

use std::io::{BufRead, IsTerminal};

use anyhow::Result;
use axebpf_core::platform::host::HostPlatform;
use axebpf_core::shell::{Files, Shell};
use axebpf_core::symbols::{self, SymbolTable};

/// Object files from the host's file system.
pub struct HostFiles;

impl Files for HostFiles {
    fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        std::fs::read(path).map_err(|e| e.to_string())
    }
}

/// A shell over the host's file system, with the host platform installed and this binary's
/// own symbols (so `trace list TP` names the tracepoint handlers).
pub fn host_shell() -> Shell<HostFiles> {
    HostPlatform::install();
    let mut shell = Shell::new(HostFiles);
    if let Some((table, bias)) = own_symbols() {
        shell.set_symbols(table, bias);
    }
    shell
}

/// This executable's symbol table and load bias (the start of its mapping at file offset 0, as
/// /proc/self/maps shows it), or `None` if either cannot be had.
fn own_symbols() -> Option<(SymbolTable, u64)> {
    let exe = std::fs::canonicalize("/proc/self/exe").ok()?;
    let blob = symbols::build_blob(&std::fs::read(&exe).ok()?).ok()?;
    let table = SymbolTable::from_blob(&blob).ok()?;
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    let bias = maps.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let is_exe = fields.len() >= 6 && fields[2].trim_start_matches('0').is_empty();
        (is_exe && exe.to_str() == Some(fields[5]))
            .then(|| u64::from_str_radix(line.split('-').next()?, 16).ok())
            .flatten()
    })?;
    Some((table, bias))
}

/// Runs commands: `commands` if given, else lines from stdin (a prompt with line editing and
/// history on a terminal).
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
    if stdin.is_terminal() {
        repl(&mut execute)?;
        return Ok(failures);
    }
    for line in stdin.lock().lines() {
        let line = line?;
        let command = line.trim();
        if matches!(command, "exit" | "quit") {
            break;
        }
        execute(command);
    }
    Ok(failures)
}

/// The interactive prompt: line editing and history (kept in `~/.axtrace_history`).
fn repl(execute: &mut impl FnMut(&str)) -> Result<()> {
    let mut editor = rustyline::DefaultEditor::new()?;
    let history =
        std::env::var_os("HOME").map(|home| std::path::Path::new(&home).join(".axtrace_history"));
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    loop {
        match editor.readline("axtrace> ") {
            Ok(line) => {
                let command = line.trim();
                if matches!(command, "exit" | "quit") {
                    break;
                }
                if !command.is_empty() {
                    let _ = editor.add_history_entry(command);
                }
                execute(command);
            }
            Err(
                rustyline::error::ReadlineError::Interrupted | rustyline::error::ReadlineError::Eof,
            ) => break,
            Err(error) => return Err(error.into()),
        }
    }
    if let Some(path) = &history {
        let _ = editor.save_history(path);
    }
    Ok(())
}
