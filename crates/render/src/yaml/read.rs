//! Reading YAML as `kustomize build` reads it.
//!
//! Resource and strategic-merge patch files go through kyaml: kustomize
//! cuts the file into documents with kyaml's separator rule, parses the
//! first document of each piece with go-yaml v3, inflates anchors and merge
//! keys (kyaml's `DeAnchor`), and later turns each object into JSON by
//! printing it back to YAML and decoding that into Go maps. The values built
//! here are the result of that whole round trip, built straight from parser
//! events: scalars resolve as go-yaml resolves them, including the quirks of
//! the round trip (an empty value inside a flow collection comes back as
//! `""`, a timestamp inside one stays a string, a folded block may gain line
//! breaks). Kustomization files and JSON patches go through
//! `sigs.k8s.io/yaml` instead ([`Dialect::Sigs`]).
//!
//! The parser is more permissive than go-yaml's libyaml-based one in a few
//! places (escapes, tabs after indicators, anchor names, `%YAML 1.2`); those
//! are checked here so that what kustomize refuses is refused too. Only
//! documents with anchors pay for more: their events are kept so an alias
//! can be rebuilt in the context where it is used.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::map::Entry;
use serde_json::{Map, Number, Value};
use serde_saphyr::granit_parser::{
    ErrorKind, Event, Options, Parser, ScalarStyle, ScanError, Span, StructureStyle, Tag,
};

use super::number::GoInt;
use super::resolve::{self, Booleans, Resolved};
use super::timestamp::Timestamp;
use crate::{Error, Result};

/// Deepest nesting accepted (go-yaml's own limit is far above real objects).
const MAX_NESTING: usize = 1000;
/// Events an alias expansion may replay before the document is refused, so
/// that a "billion laughs" file fails instead of exhausting memory.
const MAX_REPLAYED_EVENTS: usize = 10_000_000;

/// Which of kustomize's two YAML readers a file goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    /// kyaml (go-yaml v3 plus the print-and-read-again round trip): resource
    /// and strategic-merge patch files.
    Kyaml,
    /// `sigs.k8s.io/yaml` (go-yaml v2, then JSON): kustomization files, JSON
    /// patches, transformer configurations. YAML 1.1 booleans, timestamps
    /// kept as text, duplicate keys allowed (the last wins), keys of any
    /// scalar type turned into strings, merge keys applied where they stand.
    Sigs,
}

/// Every non-null document of a stream, as kyaml's byte reader splits it.
pub(super) fn documents(text: &str, file: &str) -> Result<Vec<Value>> {
    documents_in(text, file, Dialect::Kyaml)
}

/// [`documents`], each document read in `dialect`.
pub(super) fn documents_in(text: &str, file: &str, dialect: Dialect) -> Result<Vec<Value>> {
    let text = normalize_line_ends(text);
    let mut out = Vec::new();
    for chunk in split(&text, file)? {
        if let Some(v) = first_document(chunk.text, chunk.line, file, dialect)? {
            out.push(v);
        }
    }
    Ok(out)
}

/// The first document of `text`; `Null` when there is none.
pub(super) fn first_value(text: &str, file: &str, dialect: Dialect) -> Result<Value> {
    let text = normalize_line_ends(text);
    Ok(first_document(&text, 0, file, dialect)?.unwrap_or(Value::Null))
}

/// kyaml turns every CRLF into LF before anything else.
fn normalize_line_ends(text: &str) -> Cow<'_, str> {
    if text.contains("\r\n") {
        Cow::Owned(text.replace("\r\n", "\n"))
    } else {
        Cow::Borrowed(text)
    }
}

/// One piece of a stream and the number of lines before it.
struct Chunk<'t> {
    text: &'t str,
    line: usize,
}

fn count_lines(s: &str) -> usize {
    s.bytes().filter(|&b| b == b'\n').count()
}

/// Splits where kyaml does: at every line that starts with `---` and is
/// preceded and followed by a line break (the regexp `\n---.*\n`, matches
/// not overlapping). Anything after the dashes but a comment is an error.
/// Each piece but the last keeps the line break before its separator.
fn split<'t>(text: &'t str, file: &str) -> Result<Vec<Chunk<'t>>> {
    let mut chunks = Vec::new();
    if text.is_empty() {
        return Ok(chunks);
    }
    let (mut start, mut line) = (0, 0);
    while let Some(rel) = text[start..].find("\n---") {
        let sep = start + rel;
        let Some(eol) = text[sep + 4..].find('\n').map(|e| sep + 4 + e) else {
            break;
        };
        let rest = text[sep + 4..eol].trim();
        if !rest.is_empty() && !rest.starts_with('#') {
            let at = line + count_lines(&text[start..=sep]) + 1;
            let shown = format!("---{}", &text[sep + 4..eol]);
            return Err(Error::new(format!(
                "line {at}: invalid document separator: {}",
                shown.trim_end()
            ))
            .in_file(file));
        }
        chunks.push(Chunk {
            text: &text[start..=sep],
            line,
        });
        line += count_lines(&text[start..=eol]);
        start = eol + 1;
    }
    chunks.push(Chunk {
        text: &text[start..],
        line,
    });
    Ok(chunks)
}

fn parser_options() -> Options {
    // libyaml's behaviour where the YAML test suite and libyaml differ.
    let mut options = Options::default();
    options.bom_inside_document_as_content = true;
    options.block_scalar_eof_without_line_feed = true;
    // Anchor names are checked against go-yaml's stricter rule.
    options.emit_anchor_events = true;
    options.flow_nesting_limit = MAX_NESTING;
    options.block_nesting_limit = MAX_NESTING;
    options
}

/// The value of the first document in `text`, or `None` when there is no
/// document or its root is null (kyaml drops those).
fn first_document(
    text: &str,
    line_base: usize,
    file: &str,
    dialect: Dialect,
) -> Result<Option<Value>> {
    if let Some((line, column)) = forbidden_character(text) {
        return Err(Error::new(format!(
            "line {}, column {column}: control characters are not allowed",
            line_base + line
        ))
        .in_file(file));
    }
    let mut parser = Parser::new_from_str_with_options(text, parser_options());
    let mut builder = Builder {
        source: text,
        file,
        line_base,
        dialect,
        stack: Vec::new(),
        flow_depth: 0,
        root: None,
        anchors: HashMap::new(),
        recorded: None,
        replaying: 0,
        replayed: 0,
    };
    while let Some(item) = parser.next_event() {
        let (event, span) = match item {
            Ok(item) => item,
            Err(e) => {
                // go-yaml also accepts `\'` in double quotes; spell it in a
                // way this parser knows and read the document again.
                if matches!(e.kind(), ErrorKind::UnknownQuotedScalarEscape)
                    && let Some(fixed) = e
                        .marker()
                        .byte_offset()
                        .and_then(|at| respell_quote_escapes(text, at))
                {
                    return first_document(&fixed, line_base, file, dialect);
                }
                return Err(builder.scan_error(&e));
            }
        };
        match event {
            Event::DocumentStart(_, Some(v)) if (v.major, v.minor) != (1, 1) => {
                return Err(builder.error_at(span, "found incompatible YAML document"));
            }
            Event::StreamStart | Event::DocumentStart(..) => {}
            Event::DocumentEnd | Event::StreamEnd => break,
            event => builder.event(event, span)?,
        }
    }
    Ok(builder.root.flatten())
}

/// Whether go-yaml's emitter keeps a folded scalar in block style: no
/// trailing space, no space before a line break, only printable text.
fn folded_survives(text: &str) -> bool {
    if text.is_empty() || text.ends_with(' ') {
        return false;
    }
    let mut previous_space = false;
    for c in text.chars() {
        let is_break = super::emit::is_break(c);
        if (is_break && previous_space) || (c != '\t' && !super::emit::is_printable(c)) {
            return false;
        }
        previous_space = c == ' ';
    }
    true
}

/// The text of a folded scalar after go-yaml v3 writes it as a folded block
/// (without wrapping) and reads it back. Its writer doubles a line break
/// after a line unless the text's first line is blank, and adds one before
/// a more-indented line, so the text can change.
fn refold(value: &str) -> Option<String> {
    use super::emit::is_break;
    let mut doc = String::with_capacity(value.len() * 2 + 8);
    doc.push_str("k: >");
    if value.starts_with(' ') || value.starts_with(is_break) {
        doc.push('2');
    }
    let mut tail = value.chars().rev();
    match (tail.next(), tail.next()) {
        (Some(last), _) if !is_break(last) => doc.push('-'),
        (Some(_), None) => doc.push('+'),
        (Some(_), Some(before)) if is_break(before) => doc.push('+'),
        _ => {}
    }
    doc.push('\n');
    let starts_blank = value
        .chars()
        .find(|&c| !is_break(c))
        .is_none_or(|c| matches!(c, ' ' | '\t' | '\0'));
    let (mut breaks, mut leading_spaces) = (true, true);
    for c in value.chars() {
        if is_break(c) {
            if !breaks && !leading_spaces && c == '\n' && !starts_blank {
                doc.push('\n');
            }
            doc.push(c);
            breaks = true;
        } else {
            if breaks {
                doc.push_str("  ");
                leading_spaces = matches!(c, ' ' | '\t');
            }
            doc.push(c);
            breaks = false;
        }
    }
    let mut parser = Parser::new_from_str_with_options(&doc, parser_options());
    while let Some(Ok((event, _))) = parser.next_event() {
        if let Event::Scalar(text, ScalarStyle::Folded, ..) = event {
            return Some(text.into_owned());
        }
    }
    None
}

/// The line and column (1-based) of the first character go-yaml's reader
/// refuses: C0 and C1 controls other than tab, line feed, carriage return
/// and NEL, DEL, and the non-characters U+FFFE and U+FFFF.
fn forbidden_character(text: &str) -> Option<(usize, usize)> {
    let first = text
        .bytes()
        .position(|b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b >= 0x7F)?;
    let at = text[first..]
        .char_indices()
        .find(|&(_, c)| !reader_allows(c))
        .map(|(i, _)| first + i)?;
    let before = &text[..at];
    let line = count_lines(before) + 1;
    let line_start = before.rfind('\n').map_or(0, |nl| nl + 1);
    Some((line, before[line_start..].chars().count() + 1))
}

fn reader_allows(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{7E}' | '\u{85}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Whether a decoded string holds a character that Go's JSON encoder
/// leaves raw but go-yaml's reader refuses, so kustomize fails to print it.
fn unprintable_in_json(s: &str) -> bool {
    s.bytes().any(|b| b == 0x7F || b == 0xC2 || b == 0xEF)
        && s.chars().any(|c| c >= '\u{7F}' && !reader_allows(c))
}

/// `text` with each `\'` of the double-quoted scalar starting at byte `at`
/// written as `\x27`, or `None` when there is none to change.
fn respell_quote_escapes(text: &str, at: usize) -> Option<String> {
    let rest = text.get(at..)?.strip_prefix('"')?;
    let mut chars = rest.char_indices();
    let mut changes = Vec::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => break,
            '\\' => {
                if let Some((_, '\'')) = chars.next() {
                    changes.push(at + 1 + i);
                }
            }
            _ => {}
        }
    }
    if changes.is_empty() {
        return None;
    }
    let mut fixed = String::with_capacity(text.len() + 2 * changes.len());
    let mut from = 0;
    for pos in changes {
        fixed.push_str(&text[from..pos]);
        fixed.push_str("\\x27");
        from = pos + 2;
    }
    fixed.push_str(&text[from..]);
    Some(fixed)
}

/// Checks the escapes of a double-quoted scalar's source against go-yaml's
/// list, which lacks YAML 1.2's `\/` and refuses surrogate code points.
fn check_escapes(raw: &str) -> Result<(), &'static str> {
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            continue;
        }
        let digits = match chars.next() {
            Some('x') => 2,
            Some('u') => 4,
            Some('U') => 8,
            Some('/') => return Err("found unknown escape character"),
            _ => continue,
        };
        let hex: String = chars.by_ref().take(digits).collect();
        if let Ok(code) = u32::from_str_radix(&hex, 16)
            && ((0xD800..=0xDFFF).contains(&code) || code > 0x10FFFF)
        {
            return Err("found invalid Unicode character escape code");
        }
    }
    Ok(())
}

/// Where an anchored node's events are in the recorded stream.
struct Anchor {
    start: usize,
    end: usize,
    mapping: bool,
}

/// An anchored collection still being read.
struct Pending {
    id: usize,
    start: usize,
}

/// A map to merge into the mapping that holds a `<<` key.
enum Source {
    Inline(Map<String, Value>),
    Alias(usize),
}

/// What a mapping expects next.
enum Key {
    Expect,
    /// A key and where it is, for a duplicate's error.
    Ready(String, Span),
    /// A key that disappears with its value: a tagged null at the top
    /// level (go-yaml skips it), or the first key spelled `<<` that is not
    /// a merge key (kyaml removes it).
    Drop,
    Merge,
}

struct MapFrame {
    map: Map<String, Value>,
    flow: bool,
    /// The document's root mapping, whose keys go-yaml turns into strings
    /// whatever they resolve to.
    top: bool,
    anchor: Option<Pending>,
    key: Key,
    merges: Option<Vec<Source>>,
    /// Whether a key spelled `<<` was seen: kyaml removes the first such
    /// key of every mapping, merge key or not.
    seen_merge_text: bool,
}

enum Frame {
    Seq {
        items: Vec<Value>,
        flow: bool,
        anchor: Option<Pending>,
    },
    Map(MapFrame),
    /// The sequence value of a `<<` key.
    MergeList {
        sources: Vec<Source>,
        flow: bool,
        anchor: Option<Pending>,
    },
    /// Receives one node rebuilt from an anchor for a merge.
    Capture(Option<Value>),
}

/// What a scalar means after the round trip.
enum Meaning {
    Str,
    Null,
    Bool(bool),
    Int(GoInt),
    Float(f64),
    Timestamp(Timestamp),
    Binary(String),
    Merge,
    /// A scalar with an application tag: its text, but not a string key.
    Other,
}

/// A finished node on its way to its parent.
enum Node<'a> {
    Scalar(Cow<'a, str>, Meaning),
    Map(Map<String, Value>),
    Seq(Vec<Value>),
    MergeList(Vec<Source>),
}

struct Builder<'a> {
    /// The text being parsed, which event spans point into.
    source: &'a str,
    file: &'a str,
    line_base: usize,
    dialect: Dialect,
    stack: Vec<Frame>,
    /// Open flow collections: a scalar inside one is printed in flow style
    /// on the round trip, which changes how some of them read back.
    flow_depth: usize,
    /// `Some(None)` for a null root.
    root: Option<Option<Value>>,
    anchors: HashMap<usize, Anchor>,
    /// Events from the first anchor on; `None` while there is none.
    recorded: Option<Vec<(Event<'a>, Span)>>,
    replaying: usize,
    replayed: usize,
}

fn short_tag(tag: &Tag) -> Cow<'_, str> {
    let (handle, suffix) = (tag.handle(), tag.suffix());
    if handle == "tag:yaml.org,2002:" {
        Cow::Owned(format!("!!{suffix}"))
    } else if handle.is_empty() {
        match suffix.strip_prefix("tag:yaml.org,2002:") {
            Some(rest) => Cow::Owned(format!("!!{rest}")),
            None => Cow::Borrowed(suffix),
        }
    } else {
        Cow::Owned(format!("{handle}{suffix}"))
    }
}

impl<'a> Builder<'a> {
    fn booleans(&self) -> Booleans {
        match self.dialect {
            Dialect::Kyaml => Booleans::Yaml12,
            Dialect::Sigs => Booleans::Yaml11,
        }
    }

    fn error_at(&self, span: Span, message: impl std::fmt::Display) -> Error {
        Error::new(format!(
            "line {}, column {}: {message}",
            self.line_base + span.start.line(),
            span.start.col() + 1
        ))
        .in_file(self.file)
    }

    fn scan_error(&self, e: &ScanError) -> Error {
        let m = e.marker();
        Error::new(format!(
            "line {}, column {}: invalid YAML: {}",
            self.line_base + m.line(),
            m.col() + 1,
            e.info()
        ))
        .in_file(self.file)
    }

    /// Keeps the event for alias expansion once the document has anchors,
    /// returning its index in the record.
    fn record(&mut self, event: &Event<'a>, span: Span) -> Option<usize> {
        if self.replaying > 0 {
            return None;
        }
        if self.recorded.is_none() {
            let anchored = match event {
                Event::Scalar(_, _, anchor, _)
                | Event::SequenceStart(_, anchor, _)
                | Event::MappingStart(_, anchor, _) => *anchor != 0,
                _ => false,
            };
            if !anchored {
                return None;
            }
            self.recorded = Some(Vec::new());
        }
        let recorded = self.recorded.as_mut()?;
        recorded.push((event.clone(), span));
        Some(recorded.len() - 1)
    }

    fn event(&mut self, event: Event<'a>, span: Span) -> Result<()> {
        if self.replaying == 0 {
            let name = match &event {
                Event::Anchor(_, name) => Some(name.as_ref()),
                Event::Alias(_) => span
                    .start
                    .byte_offset()
                    .zip(span.end.byte_offset())
                    .and_then(|(from, to)| self.source.get(from + 1..to)),
                _ => None,
            };
            if name.is_some_and(|n| {
                n.is_empty()
                    || !n
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            }) {
                return Err(self.error_at(
                    span,
                    "invalid YAML: did not find expected alphabetic or numeric character (go-yaml allows only letters, digits, '_' and '-' in anchor names)",
                ));
            }
        }
        if self.replaying == 0
            && self.flow_depth == 0
            && matches!(
                event,
                Event::Scalar(..)
                    | Event::SequenceStart(..)
                    | Event::MappingStart(..)
                    | Event::Alias(_)
            )
        {
            self.check_tab_separation(span)?;
        }
        let index = self.record(&event, span);
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                if anchor != 0
                    && let Some(i) = index
                {
                    let anchor_info = Anchor {
                        start: i,
                        end: i,
                        mapping: false,
                    };
                    self.anchors.insert(anchor, anchor_info);
                }
                self.scalar(text, style, tag.as_deref(), span)
            }
            Event::SequenceStart(style, anchor, _) => {
                self.start(false, style == StructureStyle::Flow, anchor, index, span)
            }
            Event::MappingStart(style, anchor, _) => {
                self.start(true, style == StructureStyle::Flow, anchor, index, span)
            }
            Event::SequenceEnd | Event::MappingEnd => self.end(index, span),
            Event::Alias(id) => self.alias(id, span),
            _ => Ok(()),
        }
    }

    /// go-yaml refuses a tab between a block indicator (`-`, `?`, or the
    /// `:` of an explicit key) and the node after it, where YAML 1.2 and
    /// this parser allow one.
    fn check_tab_separation(&self, span: Span) -> Result<()> {
        let Some(at) = span.start.byte_offset() else {
            return Ok(());
        };
        let bytes = self.source.as_bytes();
        let mut start = at.min(bytes.len());
        let mut tab = None;
        while start > 0 && matches!(bytes[start - 1], b' ' | b'\t') {
            start -= 1;
            if bytes[start] == b'\t' {
                tab = Some(start);
            }
        }
        let (Some(tab), Some(indicator)) = (tab, start.checked_sub(1)) else {
            return Ok(());
        };
        let line_start = bytes[..indicator]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        let before = &bytes[line_start..indicator];
        let refused = match bytes[indicator] {
            b'-' | b'?' => before.last().is_none_or(|&b| b == b' '),
            b':' => before.iter().all(|&b| b == b' '),
            _ => false,
        };
        if !refused {
            return Ok(());
        }
        let line = self.line_base + count_lines(&self.source[..tab]) + 1;
        let column = self.source[line_start..tab].chars().count() + 1;
        Err(Error::new(format!(
            "line {line}, column {column}: invalid YAML: found character that cannot start any token (a tab after an indicator)"
        ))
        .in_file(self.file))
    }

    fn expects_key(&self) -> bool {
        matches!(
            self.stack.last(),
            Some(Frame::Map(MapFrame {
                key: Key::Expect,
                ..
            }))
        )
    }

    fn expects_merge_source(&self) -> bool {
        matches!(
            self.stack.last(),
            Some(
                Frame::Map(MapFrame {
                    key: Key::Merge,
                    ..
                }) | Frame::MergeList { .. }
            )
        )
    }

    fn scalar(
        &mut self,
        text: Cow<'a, str>,
        style: ScalarStyle,
        tag: Option<&Tag>,
        span: Span,
    ) -> Result<()> {
        let tag = tag.map(short_tag).filter(|t| t.as_ref() != "!");
        if self.stack.is_empty() && tag.as_deref() == Some("!!null") {
            // kyaml drops a document tagged null without looking further.
            self.root = Some(None);
            return Ok(());
        }
        if self.expects_merge_source() {
            return Err(self.error_at(
                span,
                "map merge requires map or sequence of maps as the value",
            ));
        }
        // The parser spells an empty node `~`; only its empty span tells.
        let text =
            if style == ScalarStyle::Plain && text == "~" && span.start.index() == span.end.index()
            {
                Cow::Borrowed("")
            } else {
                text
            };
        // kyaml prints a folded scalar again as folded, which go-yaml does
        // not always read back as the same text.
        let text = if style == ScalarStyle::Folded
            && self.dialect == Dialect::Kyaml
            && self.flow_depth == 0
            && folded_survives(&text)
        {
            refold(&text).map_or(text, Cow::Owned)
        } else {
            text
        };
        if style == ScalarStyle::DoubleQuoted
            && let (Some(from), Some(to)) = (span.start.byte_offset(), span.end.byte_offset())
            && let Some(raw) = self.source.get(from..to)
            && raw.contains('\\')
        {
            check_escapes(raw).map_err(|m| self.error_at(span, m))?;
            if self.dialect == Dialect::Kyaml && unprintable_in_json(&text) {
                return Err(self.error_at(span, "control characters are not allowed"));
            }
        }
        let meaning = match tag {
            None => self.untagged(&text, style),
            Some(tag) => self
                .tagged(&text, &tag)
                .map_err(|m| self.error_at(span, m))?,
        };
        self.deliver(Node::Scalar(text, meaning), span)
    }

    fn untagged(&self, text: &str, style: ScalarStyle) -> Meaning {
        if style != ScalarStyle::Plain {
            return Meaning::Str;
        }
        if text == "<<" {
            return Meaning::Merge;
        }
        let resolved = resolve::resolve(text, self.booleans(), true);
        if resolved == Resolved::Str || self.dialect == Dialect::Sigs {
            return meaning_of(resolved);
        }
        // The round trip prints this scalar again; where go-yaml's emitter
        // cannot keep it plain (an empty key or flow item, a `:` inside a
        // flow collection) it quotes it, and the quoted text reads back as
        // a string.
        let in_flow = self.flow_depth > 0;
        if (text.is_empty() && (in_flow || self.expects_key())) || !plain_allowed(text, in_flow) {
            return Meaning::Str;
        }
        meaning_of(resolved)
    }

    fn tagged(&self, text: &str, tag: &str) -> Result<Meaning, String> {
        Ok(match tag {
            "!!str" => Meaning::Str,
            "!!merge" => Meaning::Merge,
            "!!binary" => {
                let decoded = decode_base64(text)
                    .ok_or_else(|| "!!binary value contains invalid base64 data".to_string())?;
                if self.dialect == Dialect::Kyaml && unprintable_in_json(&decoded) {
                    return Err("control characters are not allowed".into());
                }
                Meaning::Binary(decoded)
            }
            "!!null" | "!!bool" | "!!int" | "!!float" | "!!timestamp" => {
                let resolved = resolve::resolve(text, self.booleans(), tag == "!!timestamp");
                match resolved {
                    r if r.tag() == tag => meaning_of(r),
                    Resolved::Int(GoInt::Signed(i)) if tag == "!!float" => Meaning::Float(i as f64),
                    r => {
                        return Err(format!("cannot decode {} `{text}` as a {tag}", r.tag()));
                    }
                }
            }
            _ => Meaning::Other,
        })
    }

    fn start(
        &mut self,
        mapping: bool,
        flow: bool,
        anchor: usize,
        index: Option<usize>,
        span: Span,
    ) -> Result<()> {
        if self.expects_key() {
            return Err(self.error_at(span, "invalid map key: a key must be a scalar"));
        }
        if self.stack.len() >= MAX_NESTING {
            return Err(self.error_at(span, "nesting too deep"));
        }
        let anchor = index
            .filter(|_| anchor != 0)
            .map(|start| Pending { id: anchor, start });
        let frame = match self.stack.last() {
            Some(Frame::MergeList { .. }) if !mapping => {
                return Err(self.error_at(span, "invalid map merge: received a nested sequence"));
            }
            Some(Frame::Map(MapFrame {
                key: Key::Merge, ..
            })) if !mapping => Frame::MergeList {
                sources: Vec::new(),
                flow,
                anchor,
            },
            _ if mapping => Frame::Map(MapFrame {
                map: Map::new(),
                flow,
                top: self.stack.is_empty() && self.replaying == 0,
                anchor,
                key: Key::Expect,
                merges: None,
                seen_merge_text: false,
            }),
            _ => Frame::Seq {
                items: Vec::new(),
                flow,
                anchor,
            },
        };
        self.flow_depth += usize::from(flow);
        self.stack.push(frame);
        Ok(())
    }

    fn end(&mut self, index: Option<usize>, span: Span) -> Result<()> {
        // Aliased merge sources are rebuilt inside this mapping, where
        // kyaml copies them, so they take its flow context.
        let merges = match self.stack.last_mut() {
            Some(Frame::Map(m)) => m.merges.take(),
            _ => None,
        };
        let sources = self.merge_maps(merges.unwrap_or_default(), span)?;
        let Some(frame) = self.stack.pop() else {
            return Ok(());
        };
        let (node, flow, anchor, mapping) = match frame {
            Frame::Seq {
                items,
                flow,
                anchor,
            } => (Node::Seq(items), flow, anchor, false),
            Frame::MergeList {
                sources,
                flow,
                anchor,
            } => (Node::MergeList(sources), flow, anchor, false),
            Frame::Map(mut m) => {
                // Earlier sources win over later ones, the mapping's own
                // keys over all of them.
                for source in sources {
                    for (k, v) in source {
                        m.map.entry(k).or_insert(v);
                    }
                }
                (Node::Map(m.map), m.flow, m.anchor, true)
            }
            Frame::Capture(_) => return Ok(()),
        };
        self.flow_depth -= usize::from(flow);
        if let (Some(p), Some(end)) = (anchor, index) {
            let anchor_info = Anchor {
                start: p.start,
                end,
                mapping,
            };
            self.anchors.insert(p.id, anchor_info);
        }
        self.deliver(node, span)
    }

    /// The maps a merge key names, aliases rebuilt at the current position.
    fn merge_maps(&mut self, sources: Vec<Source>, span: Span) -> Result<Vec<Map<String, Value>>> {
        let mut maps = Vec::with_capacity(sources.len());
        for source in sources {
            match source {
                Source::Inline(map) => maps.push(map),
                Source::Alias(id) => match self.capture(id, span)? {
                    Value::Object(map) => maps.push(map),
                    _ => {
                        return Err(self.error_at(
                            span,
                            "invalid map merge: received alias for a non-map value",
                        ));
                    }
                },
            }
        }
        Ok(maps)
    }

    /// Records the value of a merge key. kyaml merges when the mapping
    /// ends (its own keys win); go-yaml v2 merges right away, so keys after
    /// the merge key win and keys before it lose.
    fn set_merges(&mut self, sources: Vec<Source>, span: Span) -> Result<()> {
        match self.dialect {
            Dialect::Kyaml => {
                if let Some(Frame::Map(m)) = self.stack.last_mut() {
                    m.merges = Some(sources);
                }
            }
            Dialect::Sigs => {
                let maps = self.merge_maps(sources, span)?;
                if let Some(Frame::Map(m)) = self.stack.last_mut() {
                    // Earlier sources win, so they are written last.
                    for map in maps.into_iter().rev() {
                        m.map.extend(map);
                    }
                }
            }
        }
        Ok(())
    }

    fn alias(&mut self, id: usize, span: Span) -> Result<()> {
        let Some(mapping) = self.anchors.get(&id).map(|a| a.mapping) else {
            return Err(self.error_at(span, "alias refers to a node that contains it"));
        };
        if !self.expects_merge_source() {
            return self.replay(id, span);
        }
        if !mapping {
            return Err(self.error_at(
                span,
                "invalid map merge: received alias for a non-map value",
            ));
        }
        match self.stack.last_mut() {
            Some(Frame::Map(m)) => {
                m.key = Key::Expect;
                self.set_merges(vec![Source::Alias(id)], span)
            }
            Some(Frame::MergeList { sources, .. }) => {
                sources.push(Source::Alias(id));
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Feeds an anchor's events again at the current position.
    fn replay(&mut self, id: usize, span: Span) -> Result<()> {
        let Some(&Anchor { start, end, .. }) = self.anchors.get(&id) else {
            return Err(self.error_at(span, "alias refers to a node that contains it"));
        };
        self.replayed += end + 1 - start;
        if self.replayed > MAX_REPLAYED_EVENTS {
            return Err(self.error_at(span, "document expands too many aliases"));
        }
        self.replaying += 1;
        for i in start..=end {
            let item = self.recorded.as_ref().and_then(|r| r.get(i)).cloned();
            if let Some((event, at)) = item {
                self.event(event, at)?;
            }
        }
        self.replaying -= 1;
        Ok(())
    }

    /// The value of an anchor rebuilt at the current position.
    fn capture(&mut self, id: usize, span: Span) -> Result<Value> {
        self.stack.push(Frame::Capture(None));
        let replayed = self.replay(id, span);
        let captured = match self.stack.pop() {
            Some(Frame::Capture(v)) => v,
            _ => None,
        };
        replayed?;
        Ok(captured.unwrap_or(Value::Null))
    }

    fn deliver(&mut self, node: Node<'a>, span: Span) -> Result<()> {
        /// Where the node goes, decided before the frame is borrowed again.
        enum Slot {
            Root,
            Item,
            MergeSource,
            Key {
                top: bool,
                merged: bool,
                first_merge_text: bool,
            },
            Value(String, Span),
            Drop,
            Merge,
        }
        let slot = match self.stack.last_mut() {
            None => Slot::Root,
            Some(Frame::Seq { .. } | Frame::Capture(_)) => Slot::Item,
            Some(Frame::MergeList { .. }) => Slot::MergeSource,
            Some(Frame::Map(m)) => match std::mem::replace(&mut m.key, Key::Expect) {
                Key::Expect => Slot::Key {
                    top: m.top,
                    merged: m.merges.is_some(),
                    first_merge_text: !m.seen_merge_text,
                },
                Key::Ready(k, at) => Slot::Value(k, at),
                Key::Drop => Slot::Drop,
                Key::Merge => Slot::Merge,
            },
        };
        const NOT_A_MAP: &str = "map merge requires map or sequence of maps as the value";
        match slot {
            Slot::Root => {
                self.root = Some(match node {
                    Node::Scalar(_, Meaning::Null) => None,
                    node => Some(self.value(node, span)?),
                });
            }
            Slot::Item => {
                let value = self.value(node, span)?;
                match self.stack.last_mut() {
                    Some(Frame::Seq { items, .. }) => items.push(value),
                    Some(Frame::Capture(slot)) => *slot = Some(value),
                    _ => {}
                }
            }
            Slot::MergeSource => {
                let Node::Map(map) = node else {
                    return Err(self.error_at(span, NOT_A_MAP));
                };
                if let Some(Frame::MergeList { sources, .. }) = self.stack.last_mut() {
                    sources.push(Source::Inline(map));
                }
            }
            Slot::Key {
                top,
                merged,
                first_merge_text,
            } => {
                let merge_text = self.dialect == Dialect::Kyaml
                    && matches!(&node, Node::Scalar(t, _) if t == "<<");
                let key = if merge_text && first_merge_text {
                    match node {
                        Node::Scalar(_, Meaning::Merge) => Key::Merge,
                        _ => Key::Drop,
                    }
                } else {
                    match self.dialect {
                        Dialect::Kyaml => map_key(node, top, merged, span),
                        Dialect::Sigs => json_key(node, span),
                    }
                    .map_err(|m| self.error_at(span, m))?
                };
                if let Some(Frame::Map(m)) = self.stack.last_mut() {
                    m.seen_merge_text |= merge_text;
                    m.key = key;
                }
            }
            Slot::Value(k, at) => {
                let value = self.value(node, span)?;
                if let Some(Frame::Map(m)) = self.stack.last_mut() {
                    match m.map.entry(k) {
                        Entry::Vacant(e) => {
                            e.insert(value);
                        }
                        Entry::Occupied(mut e) if self.dialect == Dialect::Sigs => {
                            e.insert(value);
                        }
                        Entry::Occupied(e) => {
                            let message = format!("mapping key {:?} already defined", e.key());
                            return Err(self.error_at(at, message));
                        }
                    }
                }
            }
            Slot::Drop => {}
            Slot::Merge => {
                let sources = match node {
                    Node::Map(map) => vec![Source::Inline(map)],
                    Node::MergeList(sources) => sources,
                    _ => return Err(self.error_at(span, NOT_A_MAP)),
                };
                self.set_merges(sources, span)?;
            }
        }
        Ok(())
    }

    /// A node as the JSON value kustomize marshals.
    fn value(&self, node: Node<'a>, span: Span) -> Result<Value> {
        Ok(match node {
            Node::Map(map) => Value::Object(map),
            Node::Seq(items) => Value::Array(items),
            Node::MergeList(_) => Value::Null,
            Node::Scalar(text, meaning) => match meaning {
                Meaning::Str | Meaning::Merge | Meaning::Other => Value::String(text.into_owned()),
                Meaning::Binary(s) => Value::String(s),
                Meaning::Null => Value::Null,
                Meaning::Bool(b) => Value::Bool(b),
                Meaning::Int(GoInt::Signed(i)) => Value::Number(i.into()),
                Meaning::Int(GoInt::Unsigned(u)) => Value::Number(u.into()),
                Meaning::Float(f) => Value::Number(Number::from_f64(f).ok_or_else(|| {
                    let shown = if f.is_nan() {
                        "NaN"
                    } else if f > 0.0 {
                        "+Inf"
                    } else {
                        "-Inf"
                    };
                    self.error_at(span, format!("json: unsupported value: {shown}"))
                })?),
                // go-yaml v2 hands a timestamp over as its text.
                Meaning::Timestamp(_) if self.dialect == Dialect::Sigs => {
                    Value::String(text.into_owned())
                }
                Meaning::Timestamp(t) => {
                    Value::String(t.to_rfc3339().map_err(|m| self.error_at(span, m))?)
                }
            },
        })
    }
}

/// A key as sigs.k8s.io/yaml turns it into a JSON object key.
fn json_key(node: Node<'_>, at: Span) -> Result<Key, String> {
    let Node::Scalar(text, meaning) = node else {
        return Err("invalid map key: a key must be a scalar".into());
    };
    let key = match meaning {
        Meaning::Merge => return Ok(Key::Merge),
        Meaning::Str | Meaning::Other | Meaning::Timestamp(_) => text.into_owned(),
        Meaning::Binary(s) => s,
        Meaning::Int(GoInt::Signed(i)) => i.to_string(),
        Meaning::Int(GoInt::Unsigned(_)) => {
            return Err(format!("unsupported map key of type: uint64, key: {text}"));
        }
        Meaning::Float(f) => super::number::format_float32_g(f),
        Meaning::Bool(b) => b.to_string(),
        Meaning::Null => return Err("unsupported map key of type: <nil>".into()),
    };
    Ok(Key::Ready(key, at))
}

/// What a key node makes of its mapping entry. At the top level go-yaml
/// decodes keys into Go strings (any scalar's text will do); below it a
/// mapping with a key that is not a string cannot be written as JSON.
fn map_key(node: Node<'_>, top: bool, merged: bool, at: Span) -> Result<Key, String> {
    let Node::Scalar(text, meaning) = node else {
        return Err("invalid map key: a key must be a scalar".into());
    };
    Ok(match meaning {
        Meaning::Merge if merged => return Err("duplicate merge key".into()),
        Meaning::Merge => Key::Merge,
        Meaning::Str => Key::Ready(text.into_owned(), at),
        Meaning::Null if top && text.is_empty() => Key::Drop,
        Meaning::Null => return Err(format!("mapping key {text:?} is null")),
        Meaning::Binary(s) if top => Key::Ready(s, at),
        _ if top => Key::Ready(text.into_owned(), at),
        _ => {
            return Err(format!(
                "mapping key {text:?} is not a string; kustomize cannot write such a map as JSON"
            ));
        }
    })
}

fn meaning_of(resolved: Resolved) -> Meaning {
    match resolved {
        Resolved::Null => Meaning::Null,
        Resolved::Bool(b) => Meaning::Bool(b),
        Resolved::Int(i) => Meaning::Int(i),
        Resolved::Float(f) => Meaning::Float(f),
        Resolved::Timestamp(t) => Meaning::Timestamp(t),
        Resolved::Str => Meaning::Str,
    }
}

/// Whether go-yaml's emitter would print `s` as a plain scalar (in a flow
/// collection when `flow`). Only the rules that non-string scalars can meet
/// matter here, but the check is complete.
pub(super) fn plain_allowed(s: &str, flow: bool) -> bool {
    if s.is_empty() {
        return !flow;
    }
    if s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    // Numbers, booleans and nulls: nothing the emitter would quote.
    if s != "-"
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.' | b'_'))
    {
        return true;
    }
    let chars: Vec<char> = s.chars().collect();
    let blank = |c: Option<&char>| matches!(c, None | Some(' ' | '\t'));
    let mut preceded_by_blank = true;
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_blank = blank(chars.get(i + 1));
        let (flow_indicator, block_indicator) = if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => (true, true),
                '?' | ':' => (true, followed_by_blank),
                '-' => (followed_by_blank, followed_by_blank),
                _ => (false, false),
            }
        } else {
            match c {
                ',' | '?' | '[' | ']' | '{' | '}' => (true, false),
                ':' => (true, followed_by_blank),
                '#' => (preceded_by_blank, preceded_by_blank),
                _ => (false, false),
            }
        };
        if (flow && flow_indicator) || (!flow && block_indicator) {
            return false;
        }
        if c == '\t'
            || c == ' ' && (i == 0 || i + 1 == chars.len())
            || !super::emit::is_printable(c)
        {
            return false;
        }
        if super::emit::is_break(c) {
            return false;
        }
        preceded_by_blank = matches!(c, ' ' | '\t') || super::emit::is_break(c);
    }
    true
}

/// Go's `base64.StdEncoding.DecodeString`: padded, line breaks ignored.
/// Invalid UTF-8 in the result is replaced byte by byte, as Go's JSON
/// encoder does.
fn decode_base64(text: &str) -> Option<String> {
    let chars: Vec<u8> = text.bytes().filter(|&c| c != b'\r' && c != b'\n').collect();
    if !chars.len().is_multiple_of(4) {
        return None;
    }
    let mut bytes = Vec::with_capacity(chars.len() / 4 * 3);
    let quads = chars.len() / 4;
    for (q, quad) in chars.chunks_exact(4).enumerate() {
        // Padding may only end the last quantum: `xx==` or `xxx=`.
        let pad = match quad {
            [_, _, b'=', b'='] => 2,
            [_, _, _, b'='] => 1,
            _ => 0,
        };
        if pad > 0 && q + 1 != quads {
            return None;
        }
        let mut word = 0u32;
        for &c in &quad[..4 - pad] {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                _ => return None,
            };
            word = (word << 6) | u32::from(v);
        }
        word <<= 6 * pad;
        let [_, a, b, c] = word.to_be_bytes();
        bytes.extend_from_slice(&[a, b, c][..3 - pad]);
    }
    Some(lossy_like_go(bytes))
}

fn lossy_like_go(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            let bytes = e.into_bytes();
            let mut out = String::with_capacity(bytes.len() + 8);
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                match std::str::from_utf8(rest) {
                    Ok(s) => {
                        out.push_str(s);
                        break;
                    }
                    Err(e) => {
                        let good = e.valid_up_to();
                        out.push_str(std::str::from_utf8(&rest[..good]).unwrap_or_default());
                        out.push('\u{FFFD}');
                        rest = &rest[good + 1..];
                    }
                }
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn kyaml(text: &str) -> Result<Vec<Value>> {
        documents(text, "f.yaml")
    }

    fn sigs(text: &str) -> Result<Value> {
        first_value(text, "f.yaml", Dialect::Sigs)
    }

    #[test]
    fn scalars_resolve_as_go_yaml_v3() {
        let docs = kyaml("a: yes\nb: 0755\nc: 1.0\nd: 2001-12-14\ne: \"1\"\nf:\ng: {h: , i: 2001-12-14T01:02:03Z}\n")
            .unwrap();
        assert_eq!(
            docs,
            [
                json!({"a": "yes", "b": 493, "c": 1.0, "d": "2001-12-14T00:00:00Z", "e": "1", "f": null,
                    "g": {"h": "", "i": "2001-12-14T01:02:03Z"}})
            ]
        );
    }

    #[test]
    fn documents_split_like_kyaml() {
        let docs = kyaml("---\na: 1\n--- # c\n~\n---\n\n---\nb: 2\n...\nc: 3\n").unwrap();
        assert_eq!(docs, [json!({"a": 1}), json!({"b": 2})]);
        let e = kyaml("a: 1\n---x\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.yaml: line 2: invalid document separator: ---x"
        );
    }

    #[test]
    fn merges_and_aliases() {
        let text = "b: &b {x: 1, y: 2}\nc: &c {x: 3, z: 4}\nm:\n  <<: [*b, *c]\n  y: 9\nl: [*b]\n";
        let docs = kyaml(text).unwrap();
        assert_eq!(docs[0]["m"], json!({"x": 1, "y": 9, "z": 4}));
        assert_eq!(docs[0]["l"], json!([{"x": 1, "y": 2}]));
        // An empty anchored value reads back as "" once inside a flow list.
        assert_eq!(
            kyaml("e: &e\nl: [*e]\n").unwrap()[0],
            json!({"e": null, "l": [""]})
        );
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let e = kyaml("a:\n  b: 1\n  b: 2\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.yaml: line 3, column 3: mapping key \"b\" already defined"
        );
        let e = kyaml("a: [1, 2\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("f.yaml: line 1, column 4: invalid YAML"),
            "{e}"
        );
        let e = kyaml("a:\n  1: x\n").unwrap_err();
        assert!(e.to_string().contains("is not a string"), "{e}");
        assert!(kyaml("a: .inf\n").is_err());
        assert!(kyaml("a:\n-\tb\n").is_err());
        assert!(kyaml("a: &x.y 1\n").is_err());
        assert!(kyaml("a: \"\\/\"\n").is_err());
    }

    #[test]
    fn config_files_read_as_go_yaml_v2() {
        let v =
            sigs("a: yes\nb: 2001-12-14\nc: {d: }\n1: x\n1.5: w\ntrue: z\ne: 1\ne: 2\n").unwrap();
        assert_eq!(
            v,
            json!({"a": true, "b": "2001-12-14", "c": {"d": null}, "1": "x", "1.5": "w", "true": "z", "e": 2})
        );
        // A merge key overrides what precedes it and yields to what follows
        // (and `y` is a boolean key to go-yaml v2).
        let v = sigs("b: &b {p: 1, q: 2}\nm: {p: 0, <<: *b, q: 9, y: 3}\n").unwrap();
        assert_eq!(v["m"], json!({"p": 1, "q": 9, "true": 3}));
        assert_eq!(sigs("").unwrap(), Value::Null);
    }
}
