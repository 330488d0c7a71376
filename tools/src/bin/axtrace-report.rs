//! `axtrace-report`: the VM-exit latency report of an axtrace dump (see
//! [`axtrace_tools::report`]).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = axtrace_tools::report::Cli::parse();
    match axtrace_tools::report::run(&cli, &mut std::io::stdout().lock(), &mut std::io::stderr()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
