//! Writing objects as `kustomize build` prints them.
//!
//! kustomize marshals each object to JSON and hands it to
//! `sigs.k8s.io/yaml.JSONToYAML`, which reads it back with go-yaml v2 and
//! prints it with v2's libyaml-derived emitter. This module writes the same
//! bytes straight from a value: keys in v2's order, strings plain when they
//! read back as strings and otherwise quoted (single quotes when only YAML
//! syntax is in the way, double quotes when the text would resolve to
//! another type or needs escapes), literal blocks for multi-line text, and
//! lines folded after column 80.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use super::number;
use super::resolve::{self, Booleans, Resolved};

/// Folding starts once a line is past this column.
const BEST_WIDTH: usize = 80;
const BEST_INDENT: usize = 2;
/// Longer keys are written in the explicit `? key` form.
const MAX_SIMPLE_KEY_BYTES: usize = 128;

/// Characters the emitter writes unescaped (YAML's printable set, without
/// the byte-order mark and, as in go-yaml, without anything past U+FFFF).
pub(super) fn is_printable(c: char) -> bool {
    matches!(c, '\n' | '\u{20}'..='\u{7E}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
        && c != '\u{FEFF}'
}

pub(super) fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// One object as a YAML document.
pub(super) fn document(out: &mut String, v: &Value) {
    let mut e = Emitter {
        out,
        column: 0,
        indent: None,
        whitespace: true,
        indention: true,
        open_ended: false,
        scratch: String::new(),
    };
    e.value(v, Ctx::ROOT);
    // Document end, then stream end.
    e.write_indent();
    if e.open_ended {
        e.write_indicator("...", true, false, false);
        e.write_indent();
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// Where a node sits, as the emitter's context flags.
#[derive(Clone, Copy)]
struct Ctx {
    root: bool,
    mapping: bool,
    simple_key: bool,
}

impl Ctx {
    const ROOT: Ctx = Ctx {
        root: true,
        mapping: false,
        simple_key: false,
    };
    const ITEM: Ctx = Ctx {
        root: false,
        mapping: false,
        simple_key: false,
    };
    const VALUE: Ctx = Ctx {
        root: false,
        mapping: true,
        simple_key: false,
    };
    const SIMPLE_KEY: Ctx = Ctx {
        root: false,
        mapping: true,
        simple_key: true,
    };
}

/// Which styles a scalar's text allows (in block context).
struct Analysis {
    multiline: bool,
    plain: bool,
    single: bool,
    block: bool,
}

fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            multiline: false,
            plain: true,
            single: true,
            block: false,
        };
    }
    let mut indicators = s.starts_with("---") || s.starts_with("...");
    // Names, paths, versions: nothing in them matters to any style.
    if !indicators
        && s != "-"
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'/'))
    {
        return Analysis {
            multiline: false,
            plain: true,
            single: true,
            block: true,
        };
    }
    let (mut leading_space, mut leading_break) = (false, false);
    let (mut trailing_space, mut trailing_break) = (false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut line_breaks, mut special) = (false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    let mut preceded_by_blank = true;
    let mut chars = s.chars().peekable();
    let mut first = true;
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        let last = next.is_none();
        let followed_by_blank = matches!(next, None | Some(' ' | '\t'));
        if first {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => indicators = true,
                '?' | ':' | '-' if followed_by_blank => indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_blank => indicators = true,
                '#' if preceded_by_blank => indicators = true,
                _ => {}
            }
        }
        if !is_printable(c) {
            special = true;
        }
        if c == ' ' {
            leading_space |= first;
            trailing_space |= last;
            break_space |= previous_break;
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            line_breaks = true;
            leading_break |= first;
            trailing_break |= last;
            space_break |= previous_space;
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_blank = matches!(c, ' ' | '\t' | '\0') || is_break(c);
        first = false;
    }
    let edges = leading_space || leading_break || trailing_space || trailing_break;
    Analysis {
        multiline: line_breaks,
        plain: !(edges || break_space || space_break || special || line_breaks || indicators),
        single: !(break_space || space_break || special),
        block: !(trailing_space || space_break || special),
    }
}

/// go-yaml v2 prints a string plain only if it reads back as a string.
fn can_be_plain(s: &str) -> bool {
    resolve::resolve(s, Booleans::Yaml11, true) == Resolved::Str && !resolve::is_base60_float(s)
}

struct Emitter<'o> {
    out: &'o mut String,
    column: usize,
    /// `None` before the root collection opens.
    indent: Option<usize>,
    whitespace: bool,
    indention: bool,
    open_ended: bool,
    /// Reused for the text of numbers.
    scratch: String,
}

impl Emitter<'_> {
    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    /// A line break from the text: `\n` as is, the others raw.
    fn write_break(&mut self, c: char) {
        if c == '\n' {
            self.put_break();
        } else {
            self.out.push(c);
            self.column = 0;
        }
    }

    fn write_indent(&mut self) {
        let indent = self.indent.unwrap_or(0);
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn write_indicator(
        &mut self,
        indicator: &str,
        need_space: bool,
        is_space: bool,
        is_indention: bool,
    ) {
        if need_space && !self.whitespace {
            self.put(' ');
        }
        self.out.push_str(indicator);
        self.column += indicator.chars().count();
        self.whitespace = is_space;
        self.indention &= is_indention;
        self.open_ended = false;
    }

    fn value(&mut self, v: &Value, ctx: Ctx) {
        match v {
            Value::Null => self.scalar("null", Style::Plain, ctx),
            Value::Bool(b) => self.scalar(if *b { "true" } else { "false" }, Style::Plain, ctx),
            Value::Number(n) => {
                let mut text = std::mem::take(&mut self.scratch);
                text.clear();
                number::write_number(&mut text, n);
                self.scalar(&text, Style::Plain, ctx);
                self.scratch = text;
            }
            Value::String(s) => self.string(s, ctx),
            Value::Array(items) if items.is_empty() => self.empty("[", "]"),
            Value::Object(map) if map.is_empty() => self.empty("{", "}"),
            Value::Array(items) => self.sequence(items, ctx),
            Value::Object(map) => self.mapping(map),
        }
    }

    fn string(&mut self, s: &str, ctx: Ctx) {
        self.scalar_string(&fold_nel(s), ctx);
    }

    /// A string already as go-yaml v2 reads it back from JSON.
    fn scalar_string(&mut self, s: &str, ctx: Ctx) {
        let style = if s.as_bytes().contains(&b'\n') {
            Style::Literal
        } else if can_be_plain(s) {
            Style::Plain
        } else {
            Style::Double
        };
        self.scalar(s, style, ctx);
    }

    fn empty(&mut self, open: &str, close: &str) {
        self.write_indicator(open, true, true, false);
        self.write_indicator(close, false, false, false);
    }

    fn open_block(&mut self, indentless: bool) -> Option<usize> {
        let saved = self.indent;
        self.indent = Some(match saved {
            None => 0,
            Some(i) if indentless => i,
            Some(i) => i + BEST_INDENT,
        });
        saved
    }

    fn sequence(&mut self, items: &[Value], ctx: Ctx) {
        // A sequence that is a mapping value starts at its key's column.
        let saved = self.open_block(ctx.mapping && !self.indention);
        for item in items {
            self.write_indent();
            self.write_indicator("-", true, false, true);
            self.value(item, Ctx::ITEM);
        }
        self.indent = saved;
    }

    fn mapping(&mut self, map: &Map<String, Value>) {
        let folded: Vec<(String, &Value)>;
        let mut entries: Vec<(&str, &Value)> = if map.keys().any(|k| has_nel(k)) {
            folded = fold_keys(map);
            folded.iter().map(|(k, v)| (k.as_str(), *v)).collect()
        } else {
            map.iter().map(|(k, v)| (k.as_str(), v)).collect()
        };
        // Keys arrive in byte order, which already agrees with go-yaml's
        // order for the common case of keys made of letters alone.
        if !entries
            .iter()
            .all(|(k, _)| k.bytes().all(|b| b.is_ascii_alphabetic()))
        {
            merge_sort(&mut entries, &|a: &(&str, &Value), b: &(&str, &Value)| {
                key_less(a.0, b.0)
            });
        }
        let saved = self.open_block(false);
        for (key, value) in entries {
            self.write_indent();
            let simple = key.len() <= MAX_SIMPLE_KEY_BYTES && !key.chars().any(is_break);
            if simple {
                self.scalar_string(key, Ctx::SIMPLE_KEY);
                self.write_indicator(":", false, false, false);
            } else {
                self.write_indicator("?", true, false, true);
                self.scalar_string(key, Ctx::VALUE);
                self.write_indent();
                self.write_indicator(":", true, false, true);
            }
            self.value(value, Ctx::VALUE);
        }
        self.indent = saved;
    }

    fn scalar(&mut self, text: &str, requested: Style, ctx: Ctx) {
        let a = analyze(text);
        let mut style = requested;
        if ctx.simple_key && a.multiline {
            style = Style::Double;
        }
        if style == Style::Plain && (!a.plain || (text.is_empty() && ctx.simple_key)) {
            style = Style::Single;
        }
        if style == Style::Single && !a.single {
            style = Style::Double;
        }
        if style == Style::Literal && (!a.block || ctx.simple_key) {
            style = Style::Double;
        }
        let saved = self.indent;
        self.indent = Some(saved.map_or(BEST_INDENT, |i| i + BEST_INDENT));
        let breaks_allowed = !ctx.simple_key;
        match style {
            Style::Plain => self.plain(text, breaks_allowed, ctx.root),
            Style::Single => self.single_quoted(text, breaks_allowed),
            Style::Double => self.double_quoted(text, breaks_allowed),
            Style::Literal => self.literal(text),
        }
        self.indent = saved;
    }

    /// Writes text without line breaks or spaces.
    fn push_text(&mut self, text: &str) {
        self.out.push_str(text);
        self.column += if text.is_ascii() {
            text.len()
        } else {
            text.chars().count()
        };
    }

    fn plain(&mut self, text: &str, breaks_allowed: bool, root: bool) {
        if !self.whitespace {
            self.put(' ');
        }
        // A plain scalar never holds a line break (the analysis rules it
        // out), so only spaces need care: one past the width, not followed
        // by another, becomes a line break.
        let mut spaces = false;
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix(' ') {
                let next_is_space = after.starts_with(' ');
                if breaks_allowed && !spaces && self.column > BEST_WIDTH && !next_is_space {
                    self.write_indent();
                } else {
                    self.put(' ');
                }
                spaces = true;
                rest = after;
            } else {
                let end = rest.find(' ').unwrap_or(rest.len());
                self.push_text(&rest[..end]);
                self.indention = false;
                spaces = false;
                rest = &rest[end..];
            }
        }
        self.whitespace = false;
        self.indention = false;
        if root {
            self.open_ended = true;
        }
    }

    fn single_quoted(&mut self, text: &str, breaks_allowed: bool) {
        self.write_indicator("'", true, false, false);
        let (mut spaces, mut breaks) = (false, false);
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            let next = chars.peek().map(|&(_, n)| n);
            if c == ' ' {
                let inner = i > 0 && next.is_some();
                if breaks_allowed
                    && !spaces
                    && self.column > BEST_WIDTH
                    && inner
                    && next != Some(' ')
                {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                if c == '\'' {
                    self.put('\'');
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        self.write_indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn double_quoted(&mut self, text: &str, breaks_allowed: bool) {
        self.write_indicator("\"", true, false, false);
        // go-yaml checks for a byte-order mark at the start of the whole
        // text at every character, so such a text is escaped throughout.
        let bom = text.starts_with('\u{FEFF}');
        let mut spaces = false;
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            let next = chars.peek().map(|&(_, n)| n);
            if bom || !is_printable(c) || is_break(c) || c == '"' || c == '\\' {
                self.escape(c);
                spaces = false;
            } else if c == ' ' {
                let inner = i > 0 && next.is_some();
                if breaks_allowed && !spaces && self.column > BEST_WIDTH && inner {
                    self.write_indent();
                    if next == Some(' ') {
                        self.put('\\');
                    }
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                spaces = false;
            }
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn escape(&mut self, c: char) {
        self.put('\\');
        let short = match c {
            '\0' => '0',
            '\u{07}' => 'a',
            '\u{08}' => 'b',
            '\t' => 't',
            '\n' => 'n',
            '\u{0B}' => 'v',
            '\u{0C}' => 'f',
            '\r' => 'r',
            '\u{1B}' => 'e',
            '"' => '"',
            '\\' => '\\',
            '\u{85}' => 'N',
            '\u{A0}' => '_',
            '\u{2028}' => 'L',
            '\u{2029}' => 'P',
            _ => {
                let code = u32::from(c);
                let (letter, width) = match code {
                    0..=0xFF => ('x', 2),
                    0x100..=0xFFFF => ('u', 4),
                    _ => ('U', 8),
                };
                self.put(letter);
                for shift in (0..width).rev() {
                    let digit = (code >> (shift * 4)) & 0xF;
                    self.put(char::from_digit(digit, 16).map_or('0', |d| d.to_ascii_uppercase()));
                }
                return;
            }
        };
        self.put(short);
    }

    fn literal(&mut self, text: &str) {
        self.write_indicator("|", true, false, false);
        if text.starts_with(' ') || text.starts_with(is_break) {
            self.write_indicator("2", false, false, false);
        }
        let mut tail = text.chars().rev();
        let chomp = match (tail.next(), tail.next()) {
            (None, _) => Some("-"),
            (Some(last), _) if !is_break(last) => Some("-"),
            (Some(_), None) => Some("+"),
            (Some(_), Some(before)) if is_break(before) => Some("+"),
            _ => None,
        };
        if let Some(chomp) = chomp {
            self.write_indicator(chomp, false, false, false);
        }
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for c in text.chars() {
            if is_break(c) {
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
    }
}

const NEL: char = '\u{85}';

/// The keys of `map` as go-yaml v2 reads them back from JSON (see
/// [`fold_nel`]). Folding can make two keys one; the later one in JSON
/// order wins.
fn fold_keys(map: &Map<String, Value>) -> Vec<(String, &Value)> {
    let mut folded: Vec<(String, &Value)> = Vec::with_capacity(map.len());
    for (k, v) in map {
        let k = fold_nel(k).into_owned();
        folded.retain(|(seen, _)| *seen != k);
        folded.push((k, v));
    }
    folded
}

/// Whether `s` holds U+0085, found by its second UTF-8 byte first (a fast
/// byte search) since the character is rare.
fn has_nel(s: &str) -> bool {
    s.as_bytes().contains(&0x85) && s.contains(NEL)
}

/// What a string becomes when go-yaml v2 reads it from JSON: Go's encoder
/// leaves U+0085 (NEL) raw, and inside a double-quoted scalar v2 takes it
/// for a line break and folds it, with the spaces around it, into a space
/// (or, for a run of them, into one line feed fewer than their number).
fn fold_nel(s: &str) -> Cow<'_, str> {
    if !has_nel(s) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    let mut pending_spaces = 0;
    while let Some(c) = chars.next() {
        match c {
            ' ' => pending_spaces += 1,
            NEL => {
                pending_spaces = 0;
                let mut breaks = 0;
                while let Some(&next) = chars.peek() {
                    match next {
                        ' ' => {}
                        NEL => breaks += 1,
                        _ => break,
                    }
                    chars.next();
                }
                if breaks == 0 {
                    out.push(' ');
                }
                for _ in 0..breaks {
                    out.push('\n');
                }
            }
            c => {
                for _ in 0..pending_spaces {
                    out.push(' ');
                }
                pending_spaces = 0;
                out.push(c);
            }
        }
    }
    for _ in 0..pending_spaces {
        out.push(' ');
    }
    Cow::Owned(out)
}

/// A merge sort that tolerates an inconsistent order (the standard sorts
/// may panic on one), so no key set can crash the printer.
fn merge_sort<T: Copy>(v: &mut [T], less: &impl Fn(&T, &T) -> bool) {
    let n = v.len();
    if n <= 16 {
        for i in 1..n {
            let mut j = i;
            while j > 0 && less(&v[j], &v[j - 1]) {
                v.swap(j, j - 1);
                j -= 1;
            }
        }
        return;
    }
    let mid = n / 2;
    merge_sort(&mut v[..mid], less);
    merge_sort(&mut v[mid..], less);
    let mut merged = Vec::with_capacity(n);
    let (mut i, mut j) = (0, mid);
    while i < mid && j < n {
        if less(&v[j], &v[i]) {
            merged.push(v[j]);
            j += 1;
        } else {
            merged.push(v[i]);
            i += 1;
        }
    }
    merged.extend_from_slice(&v[i..mid]);
    merged.extend_from_slice(&v[j..n]);
    v.copy_from_slice(&merged);
}

fn is_letter(c: u32) -> bool {
    static LETTER: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"^\p{L}$").ok());
    match char::from_u32(c) {
        Some(c) if c.is_ascii() => c.is_ascii_alphabetic(),
        Some(c) => LETTER
            .as_ref()
            .is_some_and(|re| re.is_match(c.encode_utf8(&mut [0; 4]))),
        None => false,
    }
}

fn is_digit(c: u32) -> bool {
    static DIGIT: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"^\p{Nd}$").ok());
    match char::from_u32(c) {
        Some(c) if c.is_ascii() => c.is_ascii_digit(),
        Some(c) => DIGIT
            .as_ref()
            .is_some_and(|re| re.is_match(c.encode_utf8(&mut [0; 4]))),
        None => false,
    }
}

/// go-yaml v2's key order: letters before other characters at the first
/// difference, runs of digits compared as numbers.
fn key_less(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        less_by(a.as_bytes(), b.as_bytes())
    } else {
        let a: Vec<char> = a.chars().collect();
        let b: Vec<char> = b.chars().collect();
        less_by(&a, &b)
    }
}

fn less_by<C: Copy + Into<u32> + PartialEq>(a: &[C], b: &[C]) -> bool {
    let zero = u32::from('0');
    for i in 0..a.len().min(b.len()) {
        let (ac, bc) = (a[i].into(), b[i].into());
        if ac == bc {
            continue;
        }
        let (al, bl) = (is_letter(ac), is_letter(bc));
        if al && bl {
            return ac < bc;
        }
        if al || bl {
            return bl;
        }
        // Go keeps these in int64 and lets them wrap.
        let (mut an, mut bn) = (0i64, 0i64);
        if ac == zero || bc == zero {
            for j in (0..i).rev() {
                let c = a[j].into();
                if !is_digit(c) {
                    break;
                }
                if c != zero {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let run = |s: &[C], n: &mut i64| {
            let mut k = i;
            while k < s.len() && is_digit(s[k].into()) {
                *n = n
                    .wrapping_mul(10)
                    .wrapping_add(i64::from(s[k].into()) - i64::from(zero));
                k += 1;
            }
            k
        };
        let ai = run(a, &mut an);
        let bi = run(b, &mut bn);
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return ac < bc;
    }
    a.len() < b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order() {
        let mut keys = vec!["a9", "a10", "A", "_", "-", "b", "a", "a01", "a1", "Z", "z1"];
        merge_sort(&mut keys, &|a: &&str, b: &&str| key_less(a, b));
        assert_eq!(
            keys,
            ["-", "_", "A", "Z", "a", "a1", "a01", "a9", "a10", "b", "z1"]
        );
    }

    #[test]
    fn nel_folding() {
        assert_eq!(fold_nel("a\u{85}b"), "a b");
        assert_eq!(fold_nel("a \u{85} b"), "a b");
        assert_eq!(fold_nel("a\u{85}\u{85}\u{85}b"), "a\n\nb");
        assert_eq!(fold_nel("a\u{85}"), "a ");
        assert_eq!(fold_nel("a  "), "a  ");
    }

    #[test]
    fn printable() {
        assert!(is_printable('é'));
        assert!(!is_printable('\t'));
        assert!(!is_printable('😀'));
        assert!(!is_printable('\u{FEFF}'));
    }
}
