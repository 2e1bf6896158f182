//! Schema fragments the derived schemas cannot express on their own, and the
//! schemars settings every CRD schema in this crate is generated with.

use schemars::{Schema, SchemaGenerator, json_schema};

/// A free-form object kept as written (Argo CD's CRD marks Helm's
/// `valuesObject` this way): the API server prunes nothing inside it.
pub fn preserve_unknown_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// A `metav1.Time`: an RFC 3339 timestamp string.
pub fn date_time(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "format": "date-time",
    })
}

/// An `intstr.IntOrString`. (Argo CD's CRD also lists `anyOf: integer,
/// string`; kube's structural rewrite would empty those branches, and the
/// marker alone means the same to the API server.)
pub fn int_or_string(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "x-kubernetes-int-or-string": true,
    })
}

/// A schema generator shaped for CRDs: everything inlined (CRD schemas may
/// not use `$ref`), no `$schema`, and kube's rewrites that make the result
/// structural. (`crd` then removes the `nullable: true` schemars puts on
/// every `Option`.)
pub fn generator() -> SchemaGenerator {
    schemars::generate::SchemaSettings::openapi3()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .with_transform(kube::core::schema::StructuralSchemaRewriter)
        .with_transform(kube::core::schema::OptionalEnum)
        .into_generator()
}
