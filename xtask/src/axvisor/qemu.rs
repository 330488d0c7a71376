//! Booting AxVisor on QEMU aarch64 and driving its shell.
//!
//! [`Console`] owns a QEMU whose serial console is piped: a reader thread keeps the raw output
//! in `target/axvisor/logs/<name>.log` and renders it like a terminal would (AxVisor redraws
//! its prompt line with `\r\x1b[2K` for every keystroke and every kernel log line), keeping the
//! rendered lines in memory and in `<name>.txt`. [`Console::command`] types a command, checks
//! AxVisor's echo as it goes (the UART input path can drop bytes) and returns the command's
//! output, up to AxVisor's next prompt (`axvisor:$ `, or `axvisor:/dir$ ` with `fs`).

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::{Built, Layout, Step, rel, tail_of};

/// How AxVisor's shell prompt begins: `axvisor:$ `, or `axvisor:/dir$ ` with the `fs` feature.
const PROMPT_START: &str = "axvisor:";
/// From QEMU's start to AxVisor's first prompt.
pub(crate) const BOOT_TIMEOUT: Duration = Duration::from_secs(120);
/// How long one typed chunk may take to be echoed before it is typed again.
const ECHO_TIMEOUT: Duration = Duration::from_secs(3);
/// Bytes typed before waiting for their echo: small enough for the UART's receive FIFO.
const TYPE_CHUNK: usize = 16;
/// Attempts at typing a command whose echo came back wrong.
const TYPE_ATTEMPTS: usize = 4;
/// The shell's line buffer holds this many bytes, minus one.
const MAX_LINE: usize = 256;
/// Rendered lines shown when a console step fails.
const TAIL_LINES: usize = 40;

/// The QEMU command that boots `built` (`-kernel axvisor.bin`), run in the run directory
/// (semihosting paths are relative to it).
pub(crate) fn qemu_command(layout: &Layout, built: &Built, extra: &[String]) -> Result<Command> {
    let run_dir = layout.run_dir();
    fs::create_dir_all(&run_dir)?;
    let mut command = Command::new("qemu-system-aarch64");
    command
        .current_dir(&run_dir)
        .args([
            "-nographic",
            "-machine",
            "virt,virtualization=on,gic-version=3",
            "-cpu",
            "max",
            "-smp",
            "4",
            "-m",
            "8g",
            "-semihosting-config",
            "enable=on,target=native",
            "-kernel",
        ])
        .arg(&built.bin)
        .args(extra);
    Ok(command)
}

/// `cargo xtask axvisor run`: boots with this terminal as the console, optionally stopping QEMU
/// after `timeout`.
pub(crate) fn run_interactive(
    layout: &Layout,
    built: &Built,
    extra: &[String],
    timeout: Option<Duration>,
) -> Result<()> {
    let mut command = qemu_command(layout, built, extra)?;
    eprintln!(
        "xtask: axvisor: booting in {} (Ctrl-A X quits QEMU{})\n       {}",
        rel(layout, &layout.run_dir()),
        timeout.map_or(String::new(), |t| format!(
            "; stopped after {} s",
            t.as_secs_f64()
        )),
        super::describe(&command)
    );
    let mut child = command
        .spawn()
        .context("axvisor boot: could not start qemu-system-aarch64")?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if timeout.is_some_and(|t| started.elapsed() > t) {
            terminate(&mut child);
            eprintln!(
                "\nxtask: axvisor: stopped QEMU after {:.0} s",
                started.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    if !status.success() {
        bail!("axvisor boot: QEMU exited with {status}");
    }
    Ok(())
}

/// A booted AxVisor with its console piped; dropping it kills QEMU.
pub(crate) struct Console {
    child: Mutex<Child>,
    stdin: Mutex<ChildStdin>,
    shared: Arc<Shared>,
    readers: Vec<JoinHandle<()>>,
    log: PathBuf,
    started: Instant,
}

/// What the reader threads and the console share.
struct Shared {
    screen: Mutex<Screen>,
    changed: Condvar,
}

impl Console {
    /// Boots `built` and waits for the shell's first prompt; logs go to `logs/boot.log`
    /// (raw) and `logs/boot.txt` (rendered).
    pub(crate) fn boot(layout: &Layout, built: &Built, extra: &[String]) -> Result<Self> {
        Self::boot_named(layout, built, extra, "boot")
    }

    /// [`Console::boot`] with the logs named `<name>.log` and `<name>.txt`.
    pub(crate) fn boot_named(
        layout: &Layout,
        built: &Built,
        extra: &[String],
        name: &str,
    ) -> Result<Self> {
        let console = Self::spawn(qemu_command(layout, built, extra)?, layout, name)?;
        console
            .wait_idle(Instant::now() + BOOT_TIMEOUT)
            .map_err(|error| console.failure(Step::Boot, &format!("{error:#}")))?;
        Ok(console)
    }

    /// Starts `command` (a QEMU) with piped stdio and the reader threads; does not wait.
    pub(crate) fn spawn(mut command: Command, layout: &Layout, name: &str) -> Result<Self> {
        fs::create_dir_all(layout.logs())?;
        let log = layout.log(name);
        let raw = fs::File::create(&log)
            .with_context(|| format!("could not create {}", log.display()))?;
        let text_path = log.with_extension("txt");
        let text = fs::File::create(&text_path)
            .with_context(|| format!("could not create {}", text_path.display()))?;
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("axvisor boot: could not start {command:?}"))?;
        let stdin = child.stdin.take().context("QEMU's stdin")?;
        let mut stdout = child.stdout.take().context("QEMU's stdout")?;
        let mut stderr = child.stderr.take().context("QEMU's stderr")?;
        let shared = Arc::new(Shared {
            screen: Mutex::new(Screen::default()),
            changed: Condvar::new(),
        });
        let raw = Arc::new(Mutex::new(raw));
        let out_thread = {
            let shared = Arc::clone(&shared);
            let raw = Arc::clone(&raw);
            let mut text = text;
            std::thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                loop {
                    let n = match stdout.read(&mut buffer) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if let Ok(mut raw) = raw.lock() {
                        raw.write_all(&buffer[..n]).ok();
                        raw.flush().ok();
                    }
                    let mut screen = lock(&shared.screen);
                    let first_new = screen.lines.len();
                    screen.feed(&buffer[..n]);
                    for line in &screen.lines[first_new..] {
                        writeln!(text, "{line}").ok();
                    }
                    text.flush().ok();
                    drop(screen);
                    shared.changed.notify_all();
                }
                lock(&shared.screen).closed = true;
                shared.changed.notify_all();
            })
        };
        let err_thread = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                let mut all = Vec::new();
                let mut buffer = [0u8; 1024];
                loop {
                    let n = match stderr.read(&mut buffer) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    all.extend_from_slice(&buffer[..n]);
                    if let Ok(mut raw) = raw.lock() {
                        raw.write_all(b"\n[qemu stderr] ").ok();
                        raw.write_all(&buffer[..n]).ok();
                        raw.flush().ok();
                    }
                    lock(&shared.screen).stderr = String::from_utf8_lossy(&all).into_owned();
                    shared.changed.notify_all();
                }
            })
        };
        Ok(Self {
            child: Mutex::new(child),
            stdin: Mutex::new(stdin),
            shared,
            readers: vec![out_thread, err_thread],
            log,
            started: Instant::now(),
        })
    }

    /// The raw console log (`<name>.log`; the rendered lines are in `<name>.txt` beside it).
    pub(crate) fn log_path(&self) -> &Path {
        &self.log
    }

    /// How long since QEMU started.
    pub(crate) fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Sends `bytes` to the console as they are.
    pub(crate) fn send_raw(&self, bytes: &[u8]) -> Result<()> {
        let mut stdin = lock(&self.stdin);
        stdin
            .write_all(bytes)
            .and_then(|()| stdin.flush())
            .context("could not write to QEMU's console (has it exited?)")
    }

    /// Types `line` and Enter without waiting for a prompt or an echo (a guest's console, a
    /// shell that is busy), a byte every millisecond.
    pub(crate) fn send_line(&self, line: &str) -> Result<()> {
        for byte in line.bytes().chain(*b"\r") {
            self.send_raw(&[byte])?;
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    /// Waits until a rendered line containing `pattern` appears after the line the previous
    /// `wait_for` matched, and returns it. The lines of commands (their echo and output, see
    /// [`Console::command`]) are not searched, but kernel log lines printed between or during
    /// commands are, so `command("vm start 1")`, other commands, then `wait_for("VM[1] state
    /// changed to Stopped")` finds the line even if it came before the other commands. The
    /// line being written (e.g. a prompt) counts too.
    pub(crate) fn wait_for(&self, pattern: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        let found = self.wait_until(deadline, |screen| screen.find(pattern));
        found.map_err(|error| {
            self.failure(
                Step::Command,
                &format!("waiting for {pattern:?}: {error:#}"),
            )
        })
    }

    /// Types `command` into AxVisor's shell and returns its output: the lines between its echo
    /// and the next prompt, without kernel log lines (`[  1.234567 0 …`, which AxVisor prints
    /// asynchronously; [`Console::wait_for`] still sees them). The command must be one line of
    /// printable ASCII.
    pub(crate) fn command(&self, command: &str, timeout: Duration) -> Result<String> {
        let command = command.trim();
        if !command.is_ascii() || command.chars().any(|c| c.is_ascii_control()) {
            bail!("axvisor command {command:?}: only printable ASCII can be typed");
        }
        if command.len() >= MAX_LINE {
            bail!(
                "axvisor command {command:?}: longer than the shell's {} bytes",
                MAX_LINE - 1
            );
        }
        let deadline = Instant::now() + timeout;
        self.run_command(command, deadline)
            .map_err(|error| self.failure(Step::Command, &format!("`{command}`: {error:#}")))
    }

    fn run_command(&self, command: &str, deadline: Instant) -> Result<String> {
        let prompt = self
            .wait_idle(deadline)
            .context("no idle shell prompt (is a guest's console attached?)")?;
        self.type_line(command, &prompt, deadline)?;
        let first = lock(&self.shared.screen).lines.len();
        self.send_raw(b"\r")?;
        let echo = format!("{prompt}{command}");
        let echo = echo.trim_end();
        self.wait_until(deadline, |screen| screen.command_output(first, echo))
            .context("no prompt after the command")
    }

    /// Types `command` in chunks, each once AxVisor has echoed the previous one; retypes the
    /// line (after Ctrl-U) when the echo shows a byte was lost.
    fn type_line(&self, command: &str, prompt: &str, deadline: Instant) -> Result<()> {
        for attempt in 1..=TYPE_ATTEMPTS {
            let mut typed = String::new();
            let mut ok = true;
            for chunk in command.as_bytes().chunks(TYPE_CHUNK) {
                self.send_raw(chunk)?;
                typed.push_str(std::str::from_utf8(chunk).unwrap_or_default());
                let expected = format!("{prompt}{typed}");
                let echo_deadline = deadline.min(Instant::now() + ECHO_TIMEOUT);
                let echoed = self.wait_until(echo_deadline, |screen| {
                    let current = screen.current();
                    if current == expected {
                        Some(true)
                    } else if current.starts_with(prompt) && !expected.starts_with(current.as_str())
                    {
                        Some(false)
                    } else {
                        None
                    }
                });
                if !matches!(echoed, Ok(true)) {
                    ok = false;
                    break;
                }
            }
            if ok {
                return Ok(());
            }
            if Instant::now() >= deadline || attempt == TYPE_ATTEMPTS {
                break;
            }
            eprintln!(
                "xtask: axvisor: the echo of {command:?} came back wrong (attempt {attempt}); retyping"
            );
            // Ctrl-U clears the shell's line.
            self.send_raw(&[0x15])?;
            self.wait_idle(deadline.min(Instant::now() + ECHO_TIMEOUT))?;
        }
        bail!(
            "the shell did not echo what was typed ({TYPE_ATTEMPTS} attempts): {:?}",
            lock(&self.shared.screen).current()
        )
    }

    /// Waits until the line being written is a bare prompt, and returns it.
    fn wait_idle(&self, deadline: Instant) -> Result<String> {
        self.wait_until(deadline, |screen| {
            (prompt_start(&screen.current) == Some(0)).then(|| screen.current())
        })
        .context("no shell prompt")
    }

    /// Calls `check` on every change of the console until it returns something.
    fn wait_until<T>(
        &self,
        deadline: Instant,
        mut check: impl FnMut(&mut Screen) -> Option<T>,
    ) -> Result<T> {
        let mut screen = lock(&self.shared.screen);
        loop {
            if let Some(found) = check(&mut screen) {
                return Ok(found);
            }
            if screen.closed {
                drop(screen);
                let status = lock(&self.child).try_wait().ok().flatten();
                bail!(
                    "QEMU exited{}",
                    status.map_or(String::new(), |s| format!(" ({s})"))
                );
            }
            let now = Instant::now();
            if now >= deadline {
                bail!("timed out");
            }
            screen = self
                .shared
                .changed
                .wait_timeout(screen, deadline - now)
                .map_or_else(|poisoned| poisoned.into_inner().0, |(guard, _)| guard);
        }
    }

    /// Every rendered line so far, and the one being written.
    #[allow(dead_code, reason = "for the tests of `cargo xtask axvisor test`")]
    pub(crate) fn transcript(&self) -> Vec<String> {
        let screen = lock(&self.shared.screen);
        let mut lines = screen.lines.clone();
        lines.push(screen.current());
        lines
    }

    /// QEMU's exit status, if it has exited.
    pub(crate) fn try_exit_status(&self) -> Option<ExitStatus> {
        lock(&self.child).try_wait().ok().flatten()
    }

    /// Quits QEMU (Ctrl-A X) and waits up to `timeout` for it to exit; kills it after that.
    pub(crate) fn shutdown(mut self, timeout: Duration) -> Result<ExitStatus> {
        self.send_raw(b"\x01x").ok();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exit_status() {
                self.join_readers();
                return Ok(status);
            }
            if Instant::now() >= deadline {
                self.kill();
                bail!(
                    "QEMU did not quit within {} s; killed it",
                    timeout.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// An error for `step` with the end of the console and QEMU's stderr.
    fn failure(&self, step: Step, what: &str) -> anyhow::Error {
        let (lines, stderr) = {
            let screen = lock(&self.shared.screen);
            let start = screen.lines.len().saturating_sub(TAIL_LINES);
            let mut lines = screen.lines[start..].to_vec();
            lines.push(screen.current());
            (lines, screen.stderr.clone())
        };
        let mut message = format!(
            "axvisor {step} failed after {:.1} s: {what}\n{}",
            self.uptime().as_secs_f64(),
            tail_of(
                &format!("console (log: {})", self.log.display()),
                &lines,
                TAIL_LINES
            )
        );
        if !stderr.trim().is_empty() {
            message.push_str(&format!("\nQEMU's stderr:\n{}", stderr.trim_end()));
        }
        anyhow::anyhow!(message)
    }

    fn kill(&mut self) {
        if let Ok(child) = self.child.get_mut() {
            terminate(child);
        }
        self.join_readers();
    }

    fn join_readers(&mut self) {
        for reader in self.readers.drain(..) {
            reader.join().ok();
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Stops QEMU (it has no children of its own) by its id: SIGTERM, which lets it restore the
/// terminal, then SIGKILL if it is still there after two seconds.
fn terminate(child: &mut Child) {
    if child.try_wait().ok().flatten().is_some() {
        return;
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .stderr(Stdio::null())
        .status()
        .ok();
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().ok();
    child.wait().ok();
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether `line` is one of AxVisor's kernel log lines: `[  1.234567 0…] …`.
pub(crate) fn is_log_line(line: &str) -> bool {
    let Some(rest) = line.strip_prefix('[') else {
        return false;
    };
    let rest = rest.trim_start();
    let Some((seconds, rest)) = rest.split_once(' ') else {
        return false;
    };
    let Some((whole, fraction)) = seconds.split_once('.') else {
        return false;
    };
    !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && !fraction.is_empty()
        && fraction.bytes().all(|b| b.is_ascii_digit())
        && rest.starts_with(|c: char| c.is_ascii_digit())
}

/// The console rendered as a terminal would show it: finished lines, and the one being written.
#[derive(Default)]
struct Screen {
    /// Finished lines, trailing blanks trimmed.
    lines: Vec<String>,
    /// For each line, whether it is a command's echo or output (which `wait_for` skips).
    taken: Vec<bool>,
    /// The line being written.
    current: Vec<char>,
    /// The cursor's column in it.
    column: usize,
    escape: Escape,
    /// The start of a UTF-8 sequence cut by a read.
    partial_utf8: Vec<u8>,
    /// Each time the line being written came to end with the prompt: its line number, and
    /// what was before the prompt on it.
    prompts: Vec<(usize, String)>,
    /// Lines before this one are behind the last `wait_for` match.
    consumed: usize,
    /// Whether `wait_for` matched the line being written (which is then consumed when it ends,
    /// unless it is erased first).
    current_consumed: bool,
    /// QEMU's stdout has closed.
    closed: bool,
    /// Everything QEMU wrote to stderr.
    stderr: String,
}

#[derive(Default)]
enum Escape {
    #[default]
    None,
    /// After ESC.
    Start,
    /// In a control sequence (`ESC [`), with its parameters so far.
    Csi(String),
    /// In an operating-system command (`ESC ]`), until BEL.
    Osc,
}

impl Screen {
    fn current(&self) -> String {
        self.current.iter().collect()
    }

    /// `Console::wait_for`'s search: the first line after the last match, not a command's,
    /// containing `pattern`, else the line being written if it does.
    fn find(&mut self, pattern: &str) -> Option<String> {
        if let Some(index) = (self.consumed..self.lines.len())
            .find(|&index| !self.taken[index] && self.lines[index].contains(pattern))
        {
            self.consumed = index + 1;
            self.current_consumed = false;
            return Some(self.lines[index].clone());
        }
        let current = self.current();
        if !self.current_consumed && current.contains(pattern) {
            self.consumed = self.lines.len();
            self.current_consumed = true;
            return Some(current);
        }
        None
    }

    /// The output of the command whose echo is the first line from `first` on equal to `echo`,
    /// once the prompt after it has come: the lines in between, without kernel log lines, and
    /// whatever the command left before the prompt on its line. Marks the echo and output taken.
    fn command_output(&mut self, first: usize, echo: &str) -> Option<String> {
        let echoed = first
            + self
                .lines
                .get(first..)?
                .iter()
                .position(|line| line == echo)?;
        let next = self.prompts.partition_point(|(line, _)| *line <= echoed);
        let (end, before_prompt) = self.prompts.get(next)?.clone();
        let mut output: Vec<&str> = self.lines[echoed + 1..end]
            .iter()
            .map(String::as_str)
            .filter(|line| !is_log_line(line))
            .collect();
        if !before_prompt.is_empty() {
            output.push(&before_prompt);
        }
        let output = output.join("\n");
        for index in echoed..end {
            self.taken[index] = !is_log_line(&self.lines[index]);
        }
        Some(output)
    }

    fn feed(&mut self, bytes: &[u8]) {
        let mut pending = std::mem::take(&mut self.partial_utf8);
        pending.extend_from_slice(bytes);
        let mut rest = pending.as_slice();
        loop {
            match std::str::from_utf8(rest) {
                Ok(text) => {
                    text.chars().for_each(|c| self.put(c));
                    break;
                }
                Err(error) => {
                    let (valid, after) = rest.split_at(error.valid_up_to());
                    std::str::from_utf8(valid)
                        .unwrap_or_default()
                        .chars()
                        .for_each(|c| self.put(c));
                    match error.error_len() {
                        Some(len) => {
                            self.put(char::REPLACEMENT_CHARACTER);
                            rest = &after[len..];
                        }
                        None => {
                            self.partial_utf8 = after.to_vec();
                            break;
                        }
                    }
                }
            }
        }
    }

    fn put(&mut self, c: char) {
        match &mut self.escape {
            Escape::None => {}
            Escape::Start => {
                self.escape = match c {
                    '[' => Escape::Csi(String::new()),
                    ']' => Escape::Osc,
                    _ => Escape::None,
                };
                return;
            }
            Escape::Csi(parameters) => {
                if ('\x40'..='\x7e').contains(&c) {
                    let parameters = std::mem::take(parameters);
                    self.escape = Escape::None;
                    self.control_sequence(&parameters, c);
                } else {
                    parameters.push(c);
                }
                return;
            }
            Escape::Osc => {
                if c == '\x07' {
                    self.escape = Escape::None;
                } else if c == '\x1b' {
                    self.escape = Escape::Start;
                }
                return;
            }
        }
        match c {
            '\x1b' => self.escape = Escape::Start,
            '\r' => self.column = 0,
            '\n' => self.end_line(),
            '\x08' => self.column = self.column.saturating_sub(1),
            '\t' => {
                for _ in 0..8 - self.column % 8 {
                    self.write(' ');
                }
            }
            c if c.is_control() => {}
            c => self.write(c),
        }
    }

    fn control_sequence(&mut self, parameters: &str, command: char) {
        let n = parameters.parse::<usize>().ok();
        match command {
            'K' => match n.unwrap_or(0) {
                0 => self.current.truncate(self.column),
                1 => {
                    let end = (self.column + 1).min(self.current.len());
                    self.current[..end].fill(' ');
                }
                _ => {
                    self.current.clear();
                    self.current_consumed = false;
                }
            },
            'D' => self.column = self.column.saturating_sub(n.unwrap_or(1).max(1)),
            'C' => self.column += n.unwrap_or(1).max(1),
            'G' => self.column = n.unwrap_or(1).max(1) - 1,
            // Colours and everything else do not change the text.
            _ => {}
        }
    }

    fn write(&mut self, c: char) {
        if self.column < self.current.len() {
            self.current[self.column] = c;
        } else {
            self.current.resize(self.column, ' ');
            self.current.push(c);
        }
        self.column += 1;
        if self.column == self.current.len()
            && let Some(start) = prompt_start(&self.current)
        {
            let before: String = self.current[..start].iter().collect();
            self.prompts.push((self.lines.len(), before));
        }
    }

    fn end_line(&mut self) {
        let line: String = self.current.iter().collect();
        self.lines.push(line.trim_end().to_string());
        self.taken.push(false);
        if self.current_consumed {
            self.consumed = self.consumed.max(self.lines.len());
            self.current_consumed = false;
        }
        self.current.clear();
        self.column = 0;
    }
}

/// Where a prompt (`axvisor:` and a directory without blanks, then `$ `) ends `line`, if one
/// does.
fn prompt_start(line: &[char]) -> Option<usize> {
    let body = line.strip_suffix(&['$', ' '])?;
    let marker: Vec<char> = PROMPT_START.chars().collect();
    (0..=body.len().checked_sub(marker.len())?)
        .rev()
        .take_while(|&start| {
            body[start..]
                .iter()
                .skip(marker.len())
                .all(|c| !c.is_whitespace())
        })
        .find(|&start| body[start..].starts_with(&marker))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(bytes: &[u8]) -> Screen {
        let mut screen = Screen::default();
        // Byte by byte, as reads may cut anywhere.
        for byte in bytes {
            screen.feed(std::slice::from_ref(byte));
        }
        screen
    }

    fn chars(text: &str) -> Vec<char> {
        text.chars().collect()
    }

    #[test]
    fn prompts() {
        assert_eq!(prompt_start(&chars("axvisor:$ ")), Some(0));
        assert_eq!(prompt_start(&chars("axvisor:/guest/dir$ ")), Some(0));
        assert_eq!(prompt_start(&chars("done.axvisor:$ ")), Some(5));
        assert_eq!(prompt_start(&chars("axvisor:$ ls")), None);
        assert_eq!(prompt_start(&chars("axvisor: a$ ")), None);
        assert_eq!(prompt_start(&chars("$ ")), None);
    }

    #[test]
    fn renders_redraws_and_logs() {
        let screen = render(
            b"axvisor:$ \r\x1b[2K\x1b[37m[  1.37 0:4 \x1b[37maxdevice] \x1b[32mregistered\x1b[m\x1b[m\r\n\
              axvisor:$ \r\x1b[2Kaxvisor:$ v\r\x1b[2Kaxvisor:$ vm\r\x1b[2Kaxvisor:$ vm list\r\n\
              VM ID  NAME   \r\n1      g\xe2\x9c\x93\r\naxvisor:$ ",
        );
        assert_eq!(
            screen.lines,
            [
                "[  1.37 0:4 axdevice] registered",
                "axvisor:$ vm list",
                "VM ID  NAME",
                "1      g\u{2713}",
            ]
        );
        assert_eq!(screen.current(), "axvisor:$ ");
        // The last prompt is on line 4, with nothing before it.
        assert_eq!(screen.prompts.last(), Some(&(4, String::new())));
        assert!(is_log_line(&screen.lines[0]));
        assert!(!is_log_line(&screen.lines[2]));
    }

    #[test]
    fn cursor_moves() {
        let screen = render(b"axvisor:$ vm lst\x1b[2D\x1b[Ki\r\x1b[2Kaxvisor:$ vm list\x1b[3D");
        assert_eq!(screen.current(), "axvisor:$ vm list");
        assert_eq!(screen.column, "axvisor:$ vm l".len());
    }

    #[test]
    fn command_output_and_wait_for() {
        let mut screen = render(
            b"axvisor:$ \r\x1b[2K[  1.000000 0 a] early log\r\naxvisor:$ \
              \r\x1b[2Kaxvisor:$ vm start 1\r\n\xe2\x9c\x93 VM[1] started\r\naxvisor:$ \
              \r\x1b[2K[  1.500000 0 a] VM[1] state changed to Stopped\r\naxvisor:$ \
              \r\x1b[2Kaxvisor:$ vm list\r\nVM[1] stopped\r\naxvisor:$ ",
        );
        // `vm start 1`'s echo is line 1.
        assert_eq!(
            screen.command_output(1, "axvisor:$ vm start 1").as_deref(),
            Some("\u{2713} VM[1] started")
        );
        assert_eq!(
            screen.command_output(3, "axvisor:$ vm list").as_deref(),
            Some("VM[1] stopped")
        );
        // Not yet typed: no output.
        assert_eq!(screen.command_output(5, "axvisor:$ vm show 1"), None);
        // The log line between the commands is still there for `wait_for`; command lines are
        // not searched.
        assert_eq!(
            screen.find("VM[1]").as_deref(),
            Some("[  1.500000 0 a] VM[1] state changed to Stopped")
        );
        assert_eq!(screen.find("VM[1]"), None);
        assert_eq!(screen.find("early log"), None, "before the last match");
        assert_eq!(screen.find("axvisor:$").as_deref(), Some("axvisor:$ "));
        assert_eq!(
            screen.find("axvisor:$"),
            None,
            "the prompt line was matched once"
        );
    }

    #[test]
    fn log_lines() {
        assert!(is_log_line(
            "[  0.127053 0 ax_runtime::bootstrap:98] Logging is enabled."
        ));
        assert!(is_log_line(
            "[123.000001 3:17179869195 axvm::vm:1752] Starting VM[1]"
        ));
        assert!(!is_log_line("[Axvisor] VM[1] stopped"));
        assert!(!is_log_line("[1] x"));
    }
}
