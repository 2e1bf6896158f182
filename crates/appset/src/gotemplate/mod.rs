//! A small Go `text/template` engine over JSON values, for ApplicationSet
//! templates with `goTemplate: true`.
//!
//! No maintained Rust crate implements Go templates with the
//! `missingkey=error` option and Sprig's functions (`gtmpl` has neither and
//! is unmaintained), so this is a focused one: text and actions with
//! `{{-`/`-}}` trimming and comments; pipelines (`.a.b | lower | quote`),
//! parenthesised sub-pipelines, variables (`$x := ...`, `$x = ...`, `$`),
//! `if`/`else if`/`else`, `range` (with `$i, $v :=` and `else`), `with`;
//! Go's built-in functions (`and or not eq ne lt le gt ge len index print
//! printf println`) and the Sprig functions Argo CD templates commonly use
//! ([`funcs`]). Not supported: `define`/`template`/`block`,
//! `break`/`continue`, method calls.
//!
//! Missing map keys print `<no value>` as in Go, or fail with
//! `missingkey=error`.

mod funcs;
mod parse;

use serde_json::{Map, Value};

use parse::{Arg, Node, Pipeline};

/// A template could not be parsed or executed; the message says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TemplateError(pub String);

/// Options of the template engine (Argo CD's `goTemplateOptions`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// `missingkey=error`: a missing map key is an error, not `<no value>`.
    pub missing_key_error: bool,
}

impl Options {
    /// Reads `goTemplateOptions` (`missingkey=error`, `missingkey=default`,
    /// `missingkey=invalid`, `missingkey=zero`).
    pub fn parse(options: &[String]) -> Result<Self, TemplateError> {
        let mut out = Self::default();
        for option in options {
            match option.as_str() {
                "missingkey=error" => out.missing_key_error = true,
                "missingkey=default" | "missingkey=invalid" | "missingkey=zero" => {
                    out.missing_key_error = false
                }
                other => {
                    return Err(TemplateError(format!(
                        "unknown option {other:?} (expected missingkey=default|invalid|zero|error)"
                    )));
                }
            }
        }
        Ok(out)
    }
}

/// Renders `src` with `data` as `.`.
pub fn render(src: &str, data: &Value, options: Options) -> Result<String, TemplateError> {
    let nodes = parse::parse(src)?;
    let mut exec = Exec {
        options,
        vars: vec![("$".to_string(), data.clone())],
        out: String::new(),
    };
    exec.nodes(&nodes, data)?;
    Ok(exec.out)
}

struct Exec {
    options: Options,
    vars: Vec<(String, Value)>,
    out: String,
}

impl Exec {
    fn nodes(&mut self, nodes: &[Node], dot: &Value) -> Result<(), TemplateError> {
        for node in nodes {
            self.node(node, dot)?;
        }
        Ok(())
    }

    /// Runs `nodes` in a scope of their own: variables declared inside are
    /// gone afterwards.
    fn scoped(&mut self, nodes: &[Node], dot: &Value) -> Result<(), TemplateError> {
        let mark = self.vars.len();
        let result = self.nodes(nodes, dot);
        self.vars.truncate(mark);
        result
    }

    fn node(&mut self, node: &Node, dot: &Value) -> Result<(), TemplateError> {
        match node {
            Node::Text(t) => self.out.push_str(t),
            Node::Action(pipe) => {
                let value = self.pipeline(pipe, dot)?;
                if pipe.decl.is_empty() {
                    self.out.push_str(&funcs::print(&value));
                }
            }
            Node::If {
                branches,
                otherwise,
            } => {
                let mark = self.vars.len();
                let mut taken = false;
                for (cond, body) in branches {
                    if truth(&self.pipeline(cond, dot)?) {
                        self.scoped(body, dot)?;
                        taken = true;
                        break;
                    }
                }
                if !taken {
                    self.scoped(otherwise, dot)?;
                }
                self.vars.truncate(mark);
            }
            Node::With {
                pipe,
                body,
                otherwise,
            } => {
                let mark = self.vars.len();
                let value = self.pipeline(pipe, dot)?;
                if truth(&value) {
                    self.scoped(body, &value)?;
                } else {
                    self.scoped(otherwise, dot)?;
                }
                self.vars.truncate(mark);
            }
            Node::Range {
                pipe,
                body,
                otherwise,
            } => {
                let mark = self.vars.len();
                let decl = pipe.decl.clone();
                let bare = Pipeline {
                    decl: Vec::new(),
                    assign: false,
                    cmds: pipe.cmds.clone(),
                };
                let value = self.pipeline(&bare, dot)?;
                let items: Vec<(Value, Value)> = match &value {
                    Value::Array(a) => a
                        .iter()
                        .enumerate()
                        .map(|(i, v)| (Value::from(i), v.clone()))
                        .collect(),
                    Value::Object(m) => {
                        let mut keys: Vec<&String> = m.keys().collect();
                        keys.sort();
                        keys.into_iter()
                            .map(|k| (Value::String(k.clone()), m[k].clone()))
                            .collect()
                    }
                    Value::Number(n) => (0..n.as_i64().unwrap_or(0))
                        .map(|i| (Value::from(i), Value::from(i)))
                        .collect(),
                    Value::Null => Vec::new(),
                    other => {
                        return Err(TemplateError(format!(
                            "range can't iterate over {}",
                            funcs::print(other)
                        )));
                    }
                };
                if items.is_empty() {
                    self.scoped(otherwise, dot)?;
                }
                for (key, item) in items {
                    let inner = self.vars.len();
                    match decl.as_slice() {
                        [] => {}
                        [v] => self.vars.push((v.clone(), item.clone())),
                        [k, v, ..] => {
                            self.vars.push((k.clone(), key));
                            self.vars.push((v.clone(), item.clone()));
                        }
                    }
                    self.scoped(body, &item)?;
                    self.vars.truncate(inner);
                }
                self.vars.truncate(mark);
            }
        }
        Ok(())
    }

    fn pipeline(&mut self, pipe: &Pipeline, dot: &Value) -> Result<Value, TemplateError> {
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            value = Some(self.command(cmd, dot, value)?);
        }
        let value = value.unwrap_or(Value::Null);
        for name in &pipe.decl {
            if pipe.assign {
                let slot = self
                    .vars
                    .iter_mut()
                    .rev()
                    .find(|(n, _)| n == name)
                    .ok_or_else(|| TemplateError(format!("undefined variable: {name}")))?;
                slot.1 = value.clone();
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn command(
        &mut self,
        cmd: &[Arg],
        dot: &Value,
        piped: Option<Value>,
    ) -> Result<Value, TemplateError> {
        let Some((first, rest)) = cmd.split_first() else {
            return Err(TemplateError("empty command".into()));
        };
        if let Arg::Func(name) = first {
            let mut args = Vec::with_capacity(rest.len() + 1);
            for arg in rest {
                args.push(self.arg(arg, dot)?);
            }
            if let Some(p) = piped {
                args.push(p);
            }
            return funcs::call(name, &args).map_err(|e| TemplateError(format!("{name}: {e}")));
        }
        if !rest.is_empty() {
            return Err(TemplateError(format!(
                "can't give arguments to non-function {first:?}"
            )));
        }
        if piped.is_some() {
            return Err(TemplateError(format!(
                "can't pipe into non-function {first:?}"
            )));
        }
        self.arg(first, dot)
    }

    fn arg(&mut self, arg: &Arg, dot: &Value) -> Result<Value, TemplateError> {
        match arg {
            Arg::Field(path) => self.fields(dot, path),
            Arg::Var(name, path) => {
                let value = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| TemplateError(format!("undefined variable: {name}")))?;
                self.fields(&value, path)
            }
            Arg::Sub(pipe, path) => {
                let value = self.pipeline(pipe, dot)?;
                self.fields(&value, path)
            }
            Arg::Str(s) => Ok(Value::String(s.clone())),
            Arg::Int(i) => Ok(Value::from(*i)),
            Arg::Float(f) => Ok(Value::from(*f)),
            Arg::Bool(b) => Ok(Value::Bool(*b)),
            Arg::Nil => Ok(Value::Null),
            Arg::Func(name) => {
                funcs::call(name, &[]).map_err(|e| TemplateError(format!("{name}: {e}")))
            }
        }
    }

    fn fields(&self, value: &Value, path: &[String]) -> Result<Value, TemplateError> {
        let mut current = value.clone();
        for (i, key) in path.iter().enumerate() {
            current = match current {
                Value::Object(mut map) => match map.remove(key) {
                    Some(v) => v,
                    None if self.options.missing_key_error => {
                        return Err(TemplateError(format!(
                            "map has no entry for key {:?} (at .{})",
                            key,
                            path[..=i].join(".")
                        )));
                    }
                    None => Value::Null,
                },
                Value::Null if !self.options.missing_key_error => Value::Null,
                other => {
                    return Err(TemplateError(format!(
                        "can't evaluate field {key} in type {}",
                        type_name(&other)
                    )));
                }
            };
        }
        Ok(current)
    }
}

/// Go's truth: false, 0, nil and empty strings, lists and maps are false.
fn truth(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "nil",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// An empty map, for callers building data.
pub fn object() -> Value {
    Value::Object(Map::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(src: &str, data: Value) -> String {
        render(src, &data, Options::default()).unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn fields_pipelines_and_functions() {
        let data =
            json!({"path": {"basename": "Guest_Book", "segments": ["apps", "guestbook"]}, "n": 3});
        assert_eq!(r("{{.path.basename}}", data.clone()), "Guest_Book");
        assert_eq!(
            r("{{ .path.basename | lower }}", data.clone()),
            "guest_book"
        );
        assert_eq!(
            r("{{ normalize .path.basename }}", data.clone()),
            "guest-book"
        );
        assert_eq!(r("{{ index .path.segments 1 }}", data.clone()), "guestbook");
        assert_eq!(r("{{ .missing | default \"x\" }}", data.clone()), "x");
        assert_eq!(
            r("{{ printf \"%s-%d\" .path.basename .n }}", data.clone()),
            "Guest_Book-3"
        );
        assert_eq!(
            r(
                "{{ (index .path.segments 0) | upper | quote }}",
                data.clone()
            ),
            "\"APPS\""
        );
        assert_eq!(
            r(
                "{{ replace \"_\" \"-\" .path.basename | trunc 5 }}",
                data.clone()
            ),
            "Guest"
        );
        assert_eq!(
            r("{{ .path | toJson }}", json!({"path": {"a": 1}})),
            "{\"a\":1}"
        );
        assert_eq!(r("{{ .missing }}", data), "<no value>");
    }

    #[test]
    fn control_structures_and_variables() {
        let data = json!({"env": "prod", "list": ["a", "b"], "m": {"y": 2, "x": 1}});
        assert_eq!(
            r(
                "{{ if eq .env \"prod\" }}P{{ else if eq .env \"dev\" }}D{{ else }}O{{ end }}",
                data.clone()
            ),
            "P"
        );
        assert_eq!(
            r(
                "{{ range $i, $v := .list }}{{$i}}={{$v}};{{ end }}",
                data.clone()
            ),
            "0=a;1=b;"
        );
        assert_eq!(r("{{ range .m }}{{.}}{{ end }}", data.clone()), "12");
        assert_eq!(
            r("{{ range .none }}x{{ else }}empty{{ end }}", data.clone()),
            "empty"
        );
        assert_eq!(r("{{ with .m }}{{ .x }}{{ end }}", data.clone()), "1");
        assert_eq!(
            r(
                "{{ $e := .env }}{{ range .list }}{{ $e }}{{ . }}{{ end }}",
                data.clone()
            ),
            "prodaprodb"
        );
        assert_eq!(r("{{ $x := 1 }}{{ $x = 2 }}{{ $x }}", data.clone()), "2");
        assert_eq!(r("a  {{- /* comment */ -}}  b", data.clone()), "ab");
        assert_eq!(r("{{ $.env }}", data), "prod");
    }

    #[test]
    fn missing_keys_fail_with_missingkey_error() {
        let options = Options::parse(&["missingkey=error".to_string()]).unwrap();
        let err = render("{{ .cluster.name }}", &json!({"cluster": {}}), options).unwrap_err();
        assert!(err.0.contains("map has no entry for key \"name\""), "{err}");
        assert!(Options::parse(&["missingkey=nope".to_string()]).is_err());
    }

    #[test]
    fn syntax_errors_are_reported() {
        for bad in [
            "{{ .a",
            "{{ if .a }}x",
            "{{ end }}",
            "{{ nosuchfunc .a }}",
            "{{ \"x }}",
        ] {
            assert!(
                r(bad, json!({"a": 1})).starts_with("ERR "),
                "{bad} should fail"
            );
        }
    }
}
