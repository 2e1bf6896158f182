//! YAML reading and writing exactly as `kustomize build` does it.
//!
//! Reading ([`parse_documents`], [`parse_value`]) yields the JSON values
//! kustomize works with: go-yaml v3's resolution of plain scalars (YAML 1.2
//! booleans, Go integer syntax, timestamps as RFC 3339 strings), anchors and
//! merge keys inflated as kyaml does, and kyaml's document splitting.
//! Writing ([`to_yaml`], [`to_yaml_stream`]) reproduces the bytes of
//! `sigs.k8s.io/yaml`'s JSON-to-YAML printer (go-yaml v2's emitter).

mod emit;
mod number;
mod read;
mod resolve;
mod timestamp;

use crate::{Result, Value};

/// Every document of a YAML (or JSON) stream, in order. Documents that are
/// empty or only `null` are dropped, as kustomize drops them.
pub fn parse_documents(text: &str, file: &str) -> Result<Vec<Value>> {
    read::documents(text, file)
}

/// Every document of a stream, each read as `sigs.k8s.io/yaml` (go-yaml
/// v2) reads it: YAML 1.1 booleans (`yes`, `on`), timestamps kept as text.
/// This is how Argo CD reads the files of a plain directory source, so a
/// directory renders as Argo CD would apply it.
pub fn parse_documents_yaml11(text: &str, file: &str) -> Result<Vec<Value>> {
    read::documents_in(text, file, read::Dialect::Sigs)
}

/// Exactly one document (kustomization files, JSON patches, transformer
/// configurations); an empty document is `Value::Null`. These files go
/// through `sigs.k8s.io/yaml` in kustomize, so they read as go-yaml v2 reads
/// them: YAML 1.1 booleans (`yes`, `on`), timestamps kept as text, duplicate
/// keys allowed (the last wins), scalar keys of any type turned into strings.
/// Later documents are ignored, as `Unmarshal` ignores them.
pub fn parse_value(text: &str, file: &str) -> Result<Value> {
    read::first_value(text, file, read::Dialect::Sigs)
}

/// One object as `kustomize build` prints it (ends with a newline).
pub fn to_yaml(v: &Value) -> String {
    let mut out = String::with_capacity(512);
    emit::document(&mut out, v);
    out
}

/// Objects as `kustomize build` prints a stream: documents joined with
/// `---\n`.
pub fn to_yaml_stream(vs: &[Value]) -> String {
    let mut out = String::with_capacity(512 * vs.len());
    for (i, v) in vs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        emit::document(&mut out, v);
    }
    out
}
