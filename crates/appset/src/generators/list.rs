//! The `list` generator: `elements` (and `elementsYaml`) as they are.

use api::ListGenerator;
use serde_json::Value;

use super::{Env, GenError, invalid};
use crate::params::{Params, flatten};

pub(super) fn generate(
    env: &Env,
    list: &ListGenerator,
    field: &str,
) -> Result<Vec<Params>, GenError> {
    let mut out = Vec::new();
    for (i, element) in list.elements.iter().enumerate() {
        out.push(element_params(
            env,
            element,
            &format!("{field}.elements[{i}]"),
        )?);
    }
    if let Some(yaml) = &list.elements_yaml {
        let field = format!("{field}.elementsYaml");
        let value: Value = serde_saphyr::from_str(yaml)
            .map_err(|e| invalid(&field, format!("not a YAML list: {e}")))?;
        let items = match value {
            Value::Array(items) => items,
            Value::Null => Vec::new(),
            _ => return Err(invalid(&field, "not a YAML list")),
        };
        for (i, element) in items.iter().enumerate() {
            out.push(element_params(env, element, &format!("{field}[{i}]"))?);
        }
    }
    Ok(out)
}

fn element_params(env: &Env, element: &Value, field: &str) -> Result<Params, GenError> {
    let Value::Object(map) = element else {
        return Err(invalid(field, "an element must be a mapping"));
    };
    // The fasttemplate form sees nested values flattened (`values.a`).
    Ok(if env.mode.go {
        map.clone()
    } else {
        flatten(map)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Inputs;
    use crate::render::Mode;
    use serde_json::json;

    #[test]
    fn elements_and_elements_yaml() {
        let inputs = Inputs::default();
        let env = Env {
            mode: Mode::default(),
            inputs: &inputs,
        };
        let list: ListGenerator = serde_json::from_value(json!({
            "elements": [{"cluster": "a", "values": {"x": 1}}],
            "elementsYaml": "- cluster: b\n"
        }))
        .unwrap();
        let sets = generate(&env, &list, "g").unwrap();
        assert_eq!(sets[0]["values.x"], "1");
        assert_eq!(sets[1]["cluster"], "b");
        let bad: ListGenerator = serde_json::from_value(json!({"elementsYaml": "a: 1"})).unwrap();
        assert!(
            matches!(generate(&env, &bad, "g"), Err(GenError::Invalid { field, .. }) if field == "g.elementsYaml")
        );
    }
}
