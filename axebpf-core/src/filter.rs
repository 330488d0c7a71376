//! Tracepoint filter expressions (`trace enable vmm:vcpu_run_exit --filter '…'`), compiled once
//! against a tracepoint's context fields and evaluated on the context bytes before the attached
//! programs run.
//!
//! # Language
//!
//! ```text
//! expr  := term ( "||" term )*            // && binds tighter than ||
//! term  := atom ( "&&" atom )*
//! atom  := "(" expr ")" | FIELD [ "&" MASK ] OP CONST
//! OP    := == | != | < | <= | > | >=
//! CONST := decimal or 0x-hex, 0 ..= u64::MAX
//! ```
//!
//! Every field is an unsigned little-endian integer (1, 2, 4 or 8 bytes), read zero-extended
//! to `u64` and compared **unsigned** against the constant; `field & MASK OP CONST` masks first.
//! An array of `u64` (`hypercall`'s `args: [u64; 4]`) is named element by element: `args0` …
//! `args3`. Refused with an error pointing at the token: unknown fields, negative constants
//! (the fields are unsigned), parenthesised constants, string constants and `~` globs (no
//! field is a string), unary `!` (write the opposite comparison), a lone `&` between
//! comparisons, more than [`MAX_COMPARISONS`] comparisons or [`MAX_DEPTH`] nested parentheses.
//!
//! # tp-lexer, and what we do around it
//!
//! [`tp_lexer`] builds and evaluates the boolean structure (`&&`, `||`, parentheses, precedence,
//! short-circuit). It compares every integer as `i64` (a `u64` field above `i64::MAX` compares
//! wrongly, constants above `i64::MAX` do not parse), fails open (a field the evaluation context
//! does not supply makes the expression true) and recurses once per parenthesis (deep nesting
//! overflows the stack). So our own pass tokenizes and checks the expression, resolves every
//! field against the schema, and hands tp-lexer a rewrite in which each comparison is a slot
//! `cK == 1`; at evaluation our context answers slot `K` with `1` or `0` from our own unsigned
//! comparison, and never leaves a slot unanswered.

use alloc::{format, string::String, vec::Vec};
use core::ops::Range;

use tp_lexer::{Compiled, EvalError, FieldClassifier, FieldType, Schema};

use crate::context::Field;

use lex::{Lexer, Op, Tok};

/// Most comparisons one filter may hold.
pub const MAX_COMPARISONS: usize = 64;
/// Deepest nesting of parentheses one filter may hold.
pub const MAX_DEPTH: usize = 32;

/// Why a filter does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// No tracepoint has this name.
    #[error("unknown tracepoint `{0}`")]
    UnknownTracepoint(String),
    /// The expression is wrong at `span` (byte offsets in `expr`); the message renders `expr`
    /// with a caret line under the span.
    #[error("{}", render(.expr, .span, .message))]
    Invalid {
        /// The expression as given.
        expr: String,
        /// Byte range of the offending token (empty at the end of the input).
        span: Range<usize>,
        /// What is wrong.
        message: String,
    },
}

impl FilterError {
    /// Byte range of the offending token, if the error is in the expression.
    pub fn span(&self) -> Option<Range<usize>> {
        match self {
            Self::Invalid { span, .. } => Some(span.clone()),
            Self::UnknownTracepoint(_) => None,
        }
    }
}

/// `expr` on one line, then carets under `span` followed by `message`.
fn render(expr: &str, span: &Range<usize>, message: &str) -> String {
    let line: String = expr
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let col = expr.get(..span.start).map_or(0, |s| s.chars().count());
    let width = expr
        .get(span.clone())
        .map_or(0, |s| s.chars().count())
        .max(1);
    format!("{line}\n{:col$}{} {message}", "", "^".repeat(width))
}

/// A compiled filter: cheap to evaluate, immutable, `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Filter {
    source: String,
    compiled: Compiled,
    comparisons: Vec<Comparison>,
    context_len: usize,
}

impl Filter {
    /// Compiles `expr` against the fields of tracepoint `tracepoint` (`vcpu_run_exit` or
    /// `vmm:vcpu_run_exit`).
    pub fn compile(expr: &str, tracepoint: &str) -> Result<Self, FilterError> {
        let tp = crate::tracepoint::find(tracepoint)
            .map_err(|_| FilterError::UnknownTracepoint(tracepoint.into()))?;
        Self::compile_fields(expr, tp.fields)
    }

    /// Compiles `expr` against an explicit field list (unsigned little-endian integers of 1, 2,
    /// 4 or 8 bytes; a larger multiple of 8 is an array of `u64`, named `<name>0`, `<name>1` …).
    pub fn compile_fields(expr: &str, fields: &[Field]) -> Result<Self, FilterError> {
        let invalid = |span: Range<usize>, message: String| FilterError::Invalid {
            expr: expr.into(),
            span,
            message,
        };
        let rewrite = Rewrite::run(expr, fields).map_err(|(span, msg)| invalid(span, msg))?;
        let schema = Schema::new(&SLOTS[..rewrite.comparisons.len()]);
        let compiled = tp_lexer::compile_with_schema(&rewrite.text, schema).map_err(|e| {
            let span = rewrite.original_span(e.span.start, expr.len());
            invalid(span, format!("{} (reported by tp-lexer)", e.message))
        })?;
        Ok(Self {
            source: expr.into(),
            compiled,
            comparisons: rewrite.comparisons,
            context_len: fields.iter().map(|f| f.offset + f.size).max().unwrap_or(0),
        })
    }

    /// Whether the context bytes `ctx` pass the filter. A context shorter than the schema's
    /// extent (the end of its last field) never passes. Allocates nothing, takes no lock.
    pub fn matches(&self, ctx: &[u8]) -> bool {
        ctx.len() >= self.context_len
            && self.compiled.evaluate(&Slots {
                ctx,
                comparisons: &self.comparisons,
            })
    }

    /// The expression as given, for `trace list`.
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// One `field [& mask] op rhs`, all unsigned.
#[derive(Debug, Clone, Copy)]
struct Comparison {
    offset: usize,
    size: usize,
    mask: u64,
    op: Op,
    rhs: u64,
}

impl Comparison {
    fn eval(&self, ctx: &[u8]) -> Option<bool> {
        let bytes = ctx.get(self.offset..self.offset.checked_add(self.size)?)?;
        let mut le = [0u8; 8];
        le.get_mut(..bytes.len())?.copy_from_slice(bytes);
        let v = u64::from_le_bytes(le) & self.mask;
        Some(match self.op {
            Op::Eq => v == self.rhs,
            Op::Ne => v != self.rhs,
            Op::Lt => v < self.rhs,
            Op::Le => v <= self.rhs,
            Op::Gt => v > self.rhs,
            Op::Ge => v >= self.rhs,
        })
    }
}

macro_rules! slots {
    ($($k:literal)*) => {
        [$((concat!("c", $k), <u8 as FieldClassifier>::FIELD_TYPE, 0, 1)),*]
    };
}

/// tp-lexer's schema: slot `cK` stands for comparison `K`.
static SLOTS: [(&str, FieldType, usize, usize); MAX_COMPARISONS] = slots!(
    0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
    32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61
    62 63
);

/// The evaluation context tp-lexer sees: slot `cK` is 1 when comparison `K` holds.
struct Slots<'a> {
    ctx: &'a [u8],
    comparisons: &'a [Comparison],
}

impl tp_lexer::Context for Slots<'_> {
    fn get_integer(&self, name: &str) -> Result<Option<i64>, EvalError> {
        let slot = name.strip_prefix('c').and_then(|k| k.parse::<usize>().ok());
        match slot.and_then(|k| self.comparisons.get(k)?.eval(self.ctx)) {
            Some(hit) => Ok(Some(i64::from(hit))),
            // Unreachable (slots are validated, the length is checked); an error evaluates
            // false, and empty strings do not allocate.
            None => Err(EvalError {
                field: String::new(),
                message: String::new(),
            }),
        }
    }

    fn get_str_bytes(&self, _: &str) -> Result<Option<&[u8]>, EvalError> {
        Ok(None)
    }
}

/// Where a name lives in the context.
fn lookup(fields: &[Field], name: &str) -> Result<(usize, usize), String> {
    for f in fields {
        if matches!(f.size, 1 | 2 | 4 | 8) && f.name == name {
            return Ok((f.offset, f.size));
        }
        if f.size > 8 && f.size % 8 == 0 {
            let n = f.size / 8;
            if f.name == name {
                return Err(format!(
                    "`{name}` is an array of {n} u64; name one element: {name}0 … {name}{}",
                    n - 1
                ));
            }
            let index = name
                .strip_prefix(f.name)
                .and_then(|i| i.parse::<usize>().ok());
            if let Some(i) = index.filter(|&i| i < n && name.len() == f.name.len() + digits(i)) {
                return Ok((f.offset + 8 * i, 8));
            }
        } else if f.name == name {
            return Err(format!("`{name}` has unsupported size {}", f.size));
        }
    }
    let mut names = String::new();
    for f in fields {
        let sep = if names.is_empty() { "" } else { ", " };
        if f.size > 8 && f.size % 8 == 0 {
            for i in 0..f.size / 8 {
                let sep = if names.is_empty() { "" } else { ", " };
                names += &format!("{sep}{}{i}", f.name);
            }
        } else {
            names += &format!("{sep}{}", f.name);
        }
    }
    Err(format!("unknown field `{name}` (fields: {names})"))
}

fn digits(i: usize) -> usize {
    i.checked_ilog10().unwrap_or(0) as usize + 1
}

/// The expression rewritten for tp-lexer, with the comparisons its slots stand for.
struct Rewrite {
    text: String,
    /// `(start in text, span in the original)` of every emitted piece.
    pieces: Vec<(usize, Range<usize>)>,
    comparisons: Vec<Comparison>,
}

type Error = (Range<usize>, String);

impl Rewrite {
    fn run(expr: &str, fields: &[Field]) -> Result<Self, Error> {
        let mut out = Self {
            text: String::new(),
            pieces: Vec::new(),
            comparisons: Vec::new(),
        };
        let mut lexer = Lexer::new(expr);
        let mut open = Vec::new(); // spans of unclosed '('
        let mut operand = true; // expecting a comparison or '('
        loop {
            let (tok, span) = lexer.next()?;
            match (operand, tok) {
                (true, Tok::Ident) => {
                    out.comparison(&mut lexer, span, fields, expr)?;
                    operand = false;
                }
                (true, Tok::LParen) => {
                    if open.len() == MAX_DEPTH {
                        return Err((span, format!("more than {MAX_DEPTH} nested parentheses")));
                    }
                    open.push(span.clone());
                    out.emit("(", span);
                }
                (true, Tok::Not) => {
                    let msg = "unary `!` is not supported; write the opposite comparison";
                    return Err((span, msg.into()));
                }
                (true, t) => return Err((span, format!("expected a field or `(`, found {t}"))),
                (false, Tok::AndAnd | Tok::OrOr) => {
                    out.emit(if tok == Tok::AndAnd { "&&" } else { "||" }, span);
                    operand = true;
                }
                (false, Tok::RParen) => {
                    if open.pop().is_none() {
                        return Err((span, "unmatched `)`".into()));
                    }
                    out.emit(")", span);
                }
                (false, Tok::Amp) => {
                    let msg = "`&` masks a field (`field & MASK == VALUE`); did you mean `&&`?";
                    return Err((span, msg.into()));
                }
                (false, Tok::Eof) => match open.pop() {
                    Some(span) => return Err((span, "unclosed `(`".into())),
                    None => return Ok(out),
                },
                (false, t) => {
                    return Err((
                        span,
                        format!("expected `&&`, `||`, `)` or the end, found {t}"),
                    ));
                }
            }
        }
    }

    /// `FIELD [& MASK] OP CONST`, the field already read.
    fn comparison(
        &mut self,
        lexer: &mut Lexer<'_>,
        name: Range<usize>,
        fields: &[Field],
        expr: &str,
    ) -> Result<(), Error> {
        let field = &expr[name.clone()];
        let (offset, size) = lookup(fields, field).map_err(|msg| (name.clone(), msg))?;
        let (mut tok, mut span) = lexer.next()?;
        let mut mask = u64::MAX;
        if tok == Tok::Amp {
            mask = constant(lexer.next()?, field)?;
            (tok, span) = lexer.next()?;
        }
        let op = match tok {
            Tok::Cmp(op) => op,
            Tok::Tilde => {
                let msg = format!("`~` (glob) needs a string field; `{field}` is an integer");
                return Err((span, msg));
            }
            t => {
                let msg =
                    format!("expected a comparison (== != < <= > >=) after `{field}`, found {t}");
                return Err((span, msg));
            }
        };
        let (rhs_tok, rhs_span) = lexer.next()?;
        let end = rhs_span.end;
        let rhs = constant((rhs_tok, rhs_span), field)?;
        if self.comparisons.len() == MAX_COMPARISONS {
            return Err((
                name.start..end,
                format!("more than {MAX_COMPARISONS} comparisons"),
            ));
        }
        let slot = format!("c{} == 1", self.comparisons.len());
        self.emit(&slot, name.start..end);
        let comparison = Comparison {
            offset,
            size,
            mask,
            op,
            rhs,
        };
        self.comparisons.push(comparison);
        Ok(())
    }

    fn emit(&mut self, text: &str, original: Range<usize>) {
        self.text.push(' ');
        self.pieces.push((self.text.len(), original));
        self.text.push_str(text);
    }

    /// The original span of the piece at `at` in the rewrite (the end for the end).
    fn original_span(&self, at: usize, len: usize) -> Range<usize> {
        if at >= self.text.len() {
            return len..len;
        }
        let piece = self.pieces.iter().rev().find(|(start, _)| *start <= at);
        piece.map_or(0..len, |(_, span)| span.clone())
    }
}

/// The constant of a comparison or mask.
fn constant((tok, span): (Tok, Range<usize>), field: &str) -> Result<u64, Error> {
    match tok {
        Tok::Int(v) => Ok(v),
        Tok::Minus => Err((span, format!("negative constant: `{field}` is unsigned"))),
        Tok::Str => Err((span, format!("string constant: `{field}` is an integer"))),
        Tok::LParen => Err((span, "parenthesised constants are not supported".into())),
        t => Err((span, format!("expected an integer constant, found {t}"))),
    }
}

/// Our tokenizer: spans in bytes, integers as `u64`, never panics.
mod lex {
    use alloc::format;
    use core::{fmt, ops::Range};

    use super::Error;

    /// A comparison operator.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(super) enum Op {
        Eq,
        Ne,
        Lt,
        Le,
        Gt,
        Ge,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(super) enum Tok {
        Ident,
        Int(u64),
        Cmp(Op),
        AndAnd,
        OrOr,
        Amp,
        LParen,
        RParen,
        Minus,
        Not,
        Tilde,
        Str,
        Eof,
    }

    impl fmt::Display for Tok {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(match self {
                Tok::Ident => "a field name",
                Tok::Int(_) => "a constant",
                Tok::Cmp(_) => "a comparison operator",
                Tok::AndAnd => "`&&`",
                Tok::OrOr => "`||`",
                Tok::Amp => "`&`",
                Tok::LParen => "`(`",
                Tok::RParen => "`)`",
                Tok::Minus => "`-`",
                Tok::Not => "`!`",
                Tok::Tilde => "`~`",
                Tok::Str => "a string",
                Tok::Eof => "the end",
            })
        }
    }

    pub(super) struct Lexer<'a> {
        s: &'a str,
        pos: usize,
    }

    impl<'a> Lexer<'a> {
        pub(super) fn new(s: &'a str) -> Self {
            Self { s, pos: 0 }
        }

        fn peek(&self, ahead: usize) -> u8 {
            self.s
                .as_bytes()
                .get(self.pos + ahead)
                .copied()
                .unwrap_or(0)
        }

        fn run(&mut self, start: usize, part: impl Fn(u8) -> bool) -> Range<usize> {
            self.pos = start;
            while self.pos < self.s.len() && part(self.peek(0)) {
                self.pos += 1;
            }
            start..self.pos
        }

        /// The next token and its span.
        pub(super) fn next(&mut self) -> Result<(Tok, Range<usize>), Error> {
            self.run(self.pos, |b| b.is_ascii_whitespace());
            let start = self.pos;
            let (b, b2) = (self.peek(0), self.peek(1));
            let (tok, len) = match (b, b2) {
                _ if start >= self.s.len() => (Tok::Eof, 0),
                (b'&', b'&') => (Tok::AndAnd, 2),
                (b'|', b'|') => (Tok::OrOr, 2),
                (b'=', b'=') => (Tok::Cmp(Op::Eq), 2),
                (b'!', b'=') => (Tok::Cmp(Op::Ne), 2),
                (b'<', b'=') => (Tok::Cmp(Op::Le), 2),
                (b'>', b'=') => (Tok::Cmp(Op::Ge), 2),
                (b'<', _) => (Tok::Cmp(Op::Lt), 1),
                (b'>', _) => (Tok::Cmp(Op::Gt), 1),
                (b'&', _) => (Tok::Amp, 1),
                (b'(', _) => (Tok::LParen, 1),
                (b')', _) => (Tok::RParen, 1),
                (b'-', _) => (Tok::Minus, 1),
                (b'!', _) => (Tok::Not, 1),
                (b'~', _) => (Tok::Tilde, 1),
                (b'=', _) => {
                    return Err((start..start + 1, "single `=`; did you mean `==`?".into()));
                }
                (b'|', _) => {
                    return Err((start..start + 1, "single `|`; did you mean `||`?".into()));
                }
                (b'"' | b'\'', _) => return self.string(start, b),
                (b'a'..=b'z' | b'A'..=b'Z' | b'_', _) => {
                    let span = self.run(start, |b| b.is_ascii_alphanumeric() || b == b'_');
                    return Ok((Tok::Ident, span));
                }
                (b'0'..=b'9', _) => return self.number(start),
                _ => {
                    let c = self.s.get(start..).and_then(|s| s.chars().next());
                    let c = c.unwrap_or(char::REPLACEMENT_CHARACTER);
                    let span = start..start + c.len_utf8();
                    return Err((span, format!("unexpected character `{c}`")));
                }
            };
            self.pos = start + len;
            Ok((tok, start..self.pos))
        }

        fn number(&mut self, start: usize) -> Result<(Tok, Range<usize>), Error> {
            let span = self.run(start, |b| b.is_ascii_alphanumeric() || b == b'_');
            let text = &self.s[span.clone()];
            let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => text.parse::<u64>(),
            };
            match parsed {
                Ok(v) => Ok((Tok::Int(v), span)),
                Err(e) if *e.kind() == core::num::IntErrorKind::PosOverflow => {
                    Err((span, "constant does not fit in 64 bits".into()))
                }
                Err(_) => Err((span, format!("invalid constant `{text}`"))),
            }
        }

        fn string(&mut self, start: usize, quote: u8) -> Result<(Tok, Range<usize>), Error> {
            self.pos = start + 1;
            while self.pos < self.s.len() {
                let b = self.peek(0);
                self.pos += if b == b'\\' { 2 } else { 1 };
                if b == quote {
                    return Ok((Tok::Str, start..self.pos));
                }
            }
            Err((start..self.s.len(), "unterminated string".into()))
        }
    }
}
