//! The bounded, rate-limited log `bpf_trace_printk` writes into and `trace` commands read.
//!
//! A fixed ring of [`LINES`] lines of at most [`LINE_BYTES`] bytes: no allocation on the
//! handler's path. Writers take the core's small spin lock (handlers on several CPUs may print at once;
//! `trace_printk` is a debugging aid, as in Linux). At most [`LINES_PER_SECOND`] lines are kept
//! per second; the rest are counted as suppressed.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::spin::SpinLock;

/// Lines kept.
pub const LINES: usize = 64;
/// Bytes per line (longer output is cut).
pub const LINE_BYTES: usize = 128;
/// Lines accepted per second, all CPUs together.
pub const LINES_PER_SECOND: u64 = 100;

struct Log {
    lines: [[u8; LINE_BYTES]; LINES],
    lengths: [u8; LINES],
    /// Lines ever written (the next one goes to `written % LINES`).
    written: u64,
    /// Lines read by `drain`.
    read: u64,
    window_start_ns: u64,
    window_count: u64,
}

static LOG: SpinLock<Log> = SpinLock::new(Log {
    lines: [[0; LINE_BYTES]; LINES],
    lengths: [0; LINES],
    written: 0,
    read: 0,
    window_start_ns: 0,
    window_count: 0,
});

static SUPPRESSED: AtomicU64 = AtomicU64::new(0);
static OVERWRITTEN: AtomicU64 = AtomicU64::new(0);

/// Appends one line if the rate allows; returns whether it was kept.
pub fn write(line: &[u8], now_ns: u64) -> bool {
    let kept = LOG.with(|log| {
        if now_ns.saturating_sub(log.window_start_ns) >= 1_000_000_000 {
            log.window_start_ns = now_ns;
            log.window_count = 0;
        }
        if log.window_count >= LINES_PER_SECOND {
            return false;
        }
        log.window_count += 1;
        if log.written - log.read >= LINES as u64 {
            log.read += 1; // the oldest unread line is overwritten
            OVERWRITTEN.fetch_add(1, Ordering::Relaxed);
        }
        let index = (log.written % LINES as u64) as usize;
        let len = line.len().min(LINE_BYTES);
        log.lines[index][..len].copy_from_slice(&line[..len]);
        log.lengths[index] = len as u8;
        log.written += 1;
        true
    });
    if !kept {
        SUPPRESSED.fetch_add(1, Ordering::Relaxed);
    }
    kept
}

/// Hands every unread line, oldest first, to `sink`.
pub fn drain(mut sink: impl FnMut(&[u8])) {
    LOG.with(|log| {
        while log.read < log.written {
            let index = (log.read % LINES as u64) as usize;
            sink(&log.lines[index][..usize::from(log.lengths[index])]);
            log.read += 1;
        }
    });
}

/// Lines refused by the rate limit, and unread lines overwritten by newer ones, since start.
pub fn losses() -> (u64, u64) {
    (
        SUPPRESSED.load(Ordering::Relaxed),
        OVERWRITTEN.load(Ordering::Relaxed),
    )
}

/// Formats `fmt` (a C format string, as `bpf_trace_printk` takes it) with up to three
/// arguments into `out`; returns the length. Supports `%d %i %u %x %X %p %c %%` with the `l`/`ll`
/// length modifiers (all arguments are 64-bit registers) and `%s` printed as `(str)` — the
/// runtime does not follow pointers it cannot check. Unknown conversions are copied verbatim.
pub fn format(fmt: &[u8], args: [u64; 3], out: &mut [u8; LINE_BYTES]) -> usize {
    struct Cursor<'a> {
        out: &'a mut [u8; LINE_BYTES],
        len: usize,
    }
    impl Cursor<'_> {
        fn push(&mut self, byte: u8) {
            if self.len < LINE_BYTES {
                self.out[self.len] = byte;
                self.len += 1;
            }
        }
        fn number(&mut self, mut value: u64, radix: u64, upper: bool) {
            let mut digits = [0u8; 20];
            let mut n = 0;
            loop {
                let digit = (value % radix) as u8;
                digits[n] = match digit {
                    0..=9 => b'0' + digit,
                    _ if upper => b'A' + digit - 10,
                    _ => b'a' + digit - 10,
                };
                n += 1;
                value /= radix;
                if value == 0 {
                    break;
                }
            }
            for &digit in digits[..n].iter().rev() {
                self.push(digit);
            }
        }
    }
    let mut cursor = Cursor { out, len: 0 };
    let mut next_arg = args.into_iter();
    let fmt = fmt.split(|&b| b == 0).next().unwrap_or(&[]);
    let mut i = 0;
    while i < fmt.len() {
        let byte = fmt[i];
        i += 1;
        if byte != b'%' {
            cursor.push(byte);
            continue;
        }
        let start = i - 1;
        let mut long = 0;
        while fmt.get(i) == Some(&b'l') {
            long += 1;
            i += 1;
        }
        let Some(&conversion) = fmt.get(i) else {
            fmt[start..].iter().for_each(|&b| cursor.push(b));
            break;
        };
        i += 1;
        let arg = |next: &mut core::array::IntoIter<u64, 3>| next.next().unwrap_or(0);
        let narrow = |value: u64| {
            if long == 0 {
                value & 0xffff_ffff
            } else {
                value
            }
        };
        match conversion {
            b'%' => cursor.push(b'%'),
            b'd' | b'i' => {
                let value = arg(&mut next_arg);
                let signed = if long == 0 {
                    i64::from(value as u32 as i32)
                } else {
                    value as i64
                };
                if signed < 0 {
                    cursor.push(b'-');
                }
                cursor.number(signed.unsigned_abs(), 10, false);
            }
            b'u' => cursor.number(narrow(arg(&mut next_arg)), 10, false),
            b'x' => cursor.number(narrow(arg(&mut next_arg)), 16, false),
            b'X' => cursor.number(narrow(arg(&mut next_arg)), 16, true),
            b'p' => {
                cursor.push(b'0');
                cursor.push(b'x');
                cursor.number(arg(&mut next_arg), 16, false);
            }
            b'c' => cursor.push(arg(&mut next_arg) as u8),
            b's' => {
                let _ = arg(&mut next_arg);
                b"(str)".iter().for_each(|&b| cursor.push(b));
            }
            _ => fmt[start..i].iter().for_each(|&b| cursor.push(b)),
        }
    }
    cursor.len
}

#[cfg(test)]
mod tests {
    use super::*;

    fn formatted(fmt: &[u8], args: [u64; 3]) -> alloc::string::String {
        let mut out = [0; LINE_BYTES];
        let len = format(fmt, args, &mut out);
        alloc::string::String::from_utf8_lossy(&out[..len]).into_owned()
    }

    #[test]
    fn formats_like_c() {
        assert_eq!(formatted(b"vm %d exit %u\0", [3, 7, 0]), "vm 3 exit 7");
        assert_eq!(formatted(b"%d %lld\0", [u64::MAX, u64::MAX, 0]), "-1 -1");
        assert_eq!(
            formatted(b"%x %llx %X\0", [0x1_0000_00ab, 0x1_0000_00ab, 0xab]),
            "ab 1000000ab AB"
        );
        assert_eq!(
            formatted(b"100%% %s %c\0", [0, b'z'.into(), 0]),
            "100% (str) z"
        );
        assert_eq!(formatted(b"%q %\0", [1, 2, 3]), "%q %");
        assert_eq!(formatted(b"%d %d %d %d\0", [1, 2, 3]), "1 2 3 0");
        let long = [b'a'; 300];
        assert_eq!(formatted(&long, [0; 3]).len(), LINE_BYTES);
    }
}
