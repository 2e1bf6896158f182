//! Parsing Go text/template source into a tree: text, actions
//! (`{{ pipeline }}`), `if`/`else if`/`else`, `range`, `with`, variables,
//! comments and the `{{-`/`-}}` trim markers.

use super::TemplateError;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    Text(String),
    Action(Pipeline),
    If {
        branches: Vec<(Pipeline, Vec<Node>)>,
        otherwise: Vec<Node>,
    },
    Range {
        pipe: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    With {
        pipe: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

/// `$a, $b := cmd | cmd`, or `$a = cmd`.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Pipeline {
    pub decl: Vec<String>,
    pub assign: bool,
    pub cmds: Vec<Vec<Arg>>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Arg {
    /// `.a.b` (empty: `.`).
    Field(Vec<String>),
    /// `$x.a.b` (`$` alone is the root).
    Var(String, Vec<String>),
    /// `(pipeline).a.b`.
    Sub(Box<Pipeline>, Vec<String>),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    /// A function name.
    Func(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Field(Vec<String>),
    Var(String, Vec<String>),
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Open,
    Close(Vec<String>),
    Pipe,
    Declare,
    Assign,
    Comma,
}

/// One `{{ ... }}` with what surrounds it.
enum Piece {
    Text(String),
    Action(String),
}

pub(super) fn parse(src: &str) -> Result<Vec<Node>, TemplateError> {
    let pieces = split(src)?;
    let mut parser = Parser {
        pieces: pieces.into_iter().peekable(),
    };
    let (nodes, end) = parser.list()?;
    match end {
        None => Ok(nodes),
        Some(kw) => Err(TemplateError(format!("unexpected {{{{{kw}}}}}"))),
    }
}

/// Splits the source into text and action bodies, applying trim markers
/// and dropping comments.
fn split(src: &str) -> Result<Vec<Piece>, TemplateError> {
    let mut pieces = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut text = &rest[..start];
        if trim_next {
            text = text.trim_start();
        }
        let mut inner = &rest[start + 2..];
        if inner.starts_with("- ") || inner.starts_with("-\t") || inner.starts_with("-\n") {
            text = text.trim_end();
            inner = &inner[1..];
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text.to_string()));
        }
        let end = find_close(inner)
            .ok_or_else(|| TemplateError("unclosed action: no matching }}".into()))?;
        let mut body = &inner[..end];
        trim_next = false;
        if body.ends_with(" -") || body.ends_with("\t-") || body.ends_with("\n-") {
            body = &body[..body.len() - 1];
            trim_next = true;
        }
        let body = body.trim();
        if !(body.starts_with("/*") && body.ends_with("*/")) {
            pieces.push(Piece::Action(body.to_string()));
        }
        rest = &inner[end + 2..];
    }
    let text = if trim_next { rest.trim_start() } else { rest };
    if !text.is_empty() {
        pieces.push(Piece::Text(text.to_string()));
    }
    Ok(pieces)
}

/// The `}}` closing an action, skipping those inside quoted strings.
fn find_close(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let c = bytes[i];
        match quote {
            Some(q) => {
                if c == b'\\' && q == b'"' {
                    i += 1;
                } else if c == q {
                    quote = None;
                }
            }
            None => {
                if c == b'"' || c == b'`' {
                    quote = Some(c);
                } else if c == b'}' && bytes.get(i + 1) == Some(&b'}') {
                    return Some(i);
                }
            }
        }
        i += 1;
    }
    None
}

struct Parser {
    pieces: std::iter::Peekable<std::vec::IntoIter<Piece>>,
}

impl Parser {
    /// Nodes up to an `end` or `else` (returned) or the end of input.
    fn list(&mut self) -> Result<(Vec<Node>, Option<String>), TemplateError> {
        let mut nodes = Vec::new();
        while let Some(piece) = self.pieces.next() {
            let body = match piece {
                Piece::Text(t) => {
                    nodes.push(Node::Text(t));
                    continue;
                }
                Piece::Action(body) => body,
            };
            let (word, rest) = match body.split_once(char::is_whitespace) {
                Some((w, r)) => (w, r.trim()),
                None => (body.as_str(), ""),
            };
            match word {
                "end" => return Ok((nodes, Some("end".into()))),
                "else" => return Ok((nodes, Some(format!("else {rest}").trim().to_string()))),
                "if" => nodes.push(self.if_node(rest)?),
                "range" => {
                    let pipe = pipeline(rest)?;
                    let (body, otherwise) = self.body_and_else("range")?;
                    nodes.push(Node::Range {
                        pipe,
                        body,
                        otherwise,
                    });
                }
                "with" => {
                    let pipe = pipeline(rest)?;
                    let (body, otherwise) = self.body_and_else("with")?;
                    nodes.push(Node::With {
                        pipe,
                        body,
                        otherwise,
                    });
                }
                "define" | "template" | "block" | "break" | "continue" => {
                    return Err(TemplateError(format!("{{{{{word}}}}} is not supported")));
                }
                _ => nodes.push(Node::Action(pipeline(&body)?)),
            }
        }
        Ok((nodes, None))
    }

    fn if_node(&mut self, cond: &str) -> Result<Node, TemplateError> {
        let mut branches = Vec::new();
        let mut cond = pipeline(cond)?;
        loop {
            let (body, end) = self.list()?;
            branches.push((cond, body));
            match end.as_deref() {
                Some("end") => {
                    return Ok(Node::If {
                        branches,
                        otherwise: Vec::new(),
                    });
                }
                Some("else") => {
                    let (otherwise, end) = self.list()?;
                    expect_end(end, "if")?;
                    return Ok(Node::If {
                        branches,
                        otherwise,
                    });
                }
                Some(e) if e.starts_with("else if ") => {
                    cond = pipeline(&e["else if ".len()..])?;
                }
                Some(e) => return Err(TemplateError(format!("unexpected {{{{{e}}}}} in if"))),
                None => return Err(TemplateError("unexpected EOF: if without end".into())),
            }
        }
    }

    fn body_and_else(&mut self, what: &str) -> Result<(Vec<Node>, Vec<Node>), TemplateError> {
        let (body, end) = self.list()?;
        match end.as_deref() {
            Some("end") => Ok((body, Vec::new())),
            Some("else") => {
                let (otherwise, end) = self.list()?;
                expect_end(end, what)?;
                Ok((body, otherwise))
            }
            Some(e) => Err(TemplateError(format!("unexpected {{{{{e}}}}} in {what}"))),
            None => Err(TemplateError(format!("unexpected EOF: {what} without end"))),
        }
    }
}

fn expect_end(end: Option<String>, what: &str) -> Result<(), TemplateError> {
    match end.as_deref() {
        Some("end") => Ok(()),
        Some(e) => Err(TemplateError(format!("unexpected {{{{{e}}}}} in {what}"))),
        None => Err(TemplateError(format!("unexpected EOF: {what} without end"))),
    }
}

fn pipeline(src: &str) -> Result<Pipeline, TemplateError> {
    let toks = lex(src)?;
    let mut pos = 0;
    let pipe = pipeline_toks(&toks, &mut pos)?;
    if pos != toks.len() {
        return Err(TemplateError(format!(
            "unexpected {:?} in {src:?}",
            toks[pos]
        )));
    }
    Ok(pipe)
}

fn pipeline_toks(toks: &[Tok], pos: &mut usize) -> Result<Pipeline, TemplateError> {
    let mut pipe = Pipeline::default();
    // Declarations: `$x :=`, `$i, $v :=`, `$x =`.
    let mut look = *pos;
    let mut vars = Vec::new();
    while let Some(Tok::Var(name, fields)) = toks.get(look) {
        if !fields.is_empty() {
            break;
        }
        vars.push(name.clone());
        look += 1;
        match toks.get(look) {
            Some(Tok::Comma) => look += 1,
            Some(Tok::Declare) | Some(Tok::Assign) => break,
            _ => {
                vars.clear();
                break;
            }
        }
    }
    if !vars.is_empty() {
        match toks.get(look) {
            Some(Tok::Declare) => {
                pipe.decl = vars;
                *pos = look + 1;
            }
            Some(Tok::Assign) => {
                pipe.decl = vars;
                pipe.assign = true;
                *pos = look + 1;
            }
            _ => {}
        }
    }
    loop {
        let mut cmd = Vec::new();
        while let Some(tok) = toks.get(*pos) {
            let arg = match tok {
                Tok::Pipe | Tok::Close(_) => break,
                Tok::Field(f) => Arg::Field(f.clone()),
                Tok::Var(v, f) => Arg::Var(v.clone(), f.clone()),
                Tok::Str(s) => Arg::Str(s.clone()),
                Tok::Int(i) => Arg::Int(*i),
                Tok::Float(f) => Arg::Float(*f),
                Tok::Ident(id) => match id.as_str() {
                    "true" => Arg::Bool(true),
                    "false" => Arg::Bool(false),
                    "nil" => Arg::Nil,
                    _ => Arg::Func(id.clone()),
                },
                Tok::Open => {
                    *pos += 1;
                    let inner = pipeline_toks(toks, pos)?;
                    match toks.get(*pos) {
                        Some(Tok::Close(fields)) => Arg::Sub(Box::new(inner), fields.clone()),
                        _ => return Err(TemplateError("unclosed left paren".into())),
                    }
                }
                other => return Err(TemplateError(format!("unexpected {other:?} in command"))),
            };
            cmd.push(arg);
            *pos += 1;
        }
        if cmd.is_empty() {
            return Err(TemplateError("missing value for command".into()));
        }
        pipe.cmds.push(cmd);
        match toks.get(*pos) {
            Some(Tok::Pipe) => *pos += 1,
            _ => return Ok(pipe),
        }
    }
}

fn lex(src: &str) -> Result<Vec<Tok>, TemplateError> {
    let chars: Vec<char> = src.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    let fields = |chars: &[char], i: &mut usize| -> Vec<String> {
        let mut out = Vec::new();
        while *i < chars.len() && chars[*i] == '.' {
            let start = *i + 1;
            let mut j = start;
            while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            if j == start {
                break;
            }
            out.push(chars[start..j].iter().collect());
            *i = j;
        }
        out
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '|' => {
                toks.push(Tok::Pipe);
                i += 1;
            }
            ',' => {
                toks.push(Tok::Comma);
                i += 1;
            }
            '(' => {
                toks.push(Tok::Open);
                i += 1;
            }
            ')' => {
                i += 1;
                toks.push(Tok::Close(fields(&chars, &mut i)));
            }
            ':' if chars.get(i + 1) == Some(&'=') => {
                toks.push(Tok::Declare);
                i += 2;
            }
            '=' => {
                toks.push(Tok::Assign);
                i += 1;
            }
            '.' => {
                let f = fields(&chars, &mut i);
                if f.is_empty() {
                    i += 1;
                }
                toks.push(Tok::Field(f));
            }
            '$' => {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                let name: String = chars[start..i].iter().collect();
                toks.push(Tok::Var(name, fields(&chars, &mut i)));
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    let Some(&c) = chars.get(i) else {
                        return Err(TemplateError("unterminated quoted string".into()));
                    };
                    i += 1;
                    match c {
                        '"' => break,
                        '\\' => {
                            let e = chars.get(i).copied().unwrap_or('\\');
                            i += 1;
                            s.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                'r' => '\r',
                                other => other,
                            });
                        }
                        c => s.push(c),
                    }
                }
                toks.push(Tok::Str(s));
            }
            '`' => {
                let start = i + 1;
                let end = chars[start..]
                    .iter()
                    .position(|&c| c == '`')
                    .ok_or_else(|| TemplateError("unterminated raw quoted string".into()))?;
                toks.push(Tok::Str(chars[start..start + end].iter().collect()));
                i = start + end + 1;
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '+')
                    && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                if let Ok(n) = text.parse::<i64>() {
                    toks.push(Tok::Int(n));
                } else if let Ok(f) = text.parse::<f64>() {
                    toks.push(Tok::Float(f));
                } else {
                    return Err(TemplateError(format!("bad number syntax: {text:?}")));
                }
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                toks.push(Tok::Ident(chars[start..i].iter().collect()));
                if i < chars.len() && chars[i] == '.' {
                    return Err(TemplateError(format!(
                        "unexpected . after term {:?}",
                        chars[start..i].iter().collect::<String>()
                    )));
                }
            }
            other => return Err(TemplateError(format!("unexpected {other:?} in action"))),
        }
    }
    Ok(toks)
}
