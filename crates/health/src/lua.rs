//! Running a custom health check: a Lua 5.1 script, as Argo CD runs them
//! (gopher-lua, Lua 5.1 semantics), that reads the live object from the
//! global `obj` and returns a table `{status = "...", message = "..."}`.
//!
//! The script runs in a fresh interpreter per call, sandboxed: only the
//! base, `table`, `string` and `math` libraries, without `dofile`,
//! `loadfile`, `load`/`loadstring` or `print`; no `os`, `io`, `package` or
//! `require`, so no file, process or network access. A script that runs too
//! many instructions, too long or allocates too much is stopped with an
//! error, which the caller reports as `Unknown`. The wall-clock limit is the
//! one use of a clock in this crate: it bounds a script that is stuck in
//! a slow built-in where the instruction count does not advance.

use crate::{HealthStatus, HealthStatusCode};
use mlua::{HookTriggers, Lua, LuaOptions, LuaSerdeExt, SerializeOptions, StdLib, VmState};
use serde_json::Value;
use std::cell::Cell;
use std::time::{Duration, Instant};

/// Bounds on one run of a health script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Lua VM instructions.
    pub instructions: u64,
    /// Wall-clock time.
    pub time: Duration,
    /// Bytes the interpreter may allocate (the object's copy included).
    pub memory: usize,
}

impl Default for Limits {
    /// Far above what any check Argo CD ships needs (a few thousand
    /// instructions, well under a megabyte).
    fn default() -> Self {
        Self {
            instructions: 10_000_000,
            time: Duration::from_secs(2),
            memory: 64 << 20,
        }
    }
}

/// Why a health script gave no status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LuaError {
    #[error("health check for {check}: {message}")]
    Script { check: String, message: String },
    #[error("health check for {check}: stopped after {limit}")]
    Limit { check: String, limit: String },
    #[error("health check for {check}: {reason}")]
    Result { check: String, reason: String },
}

/// How often the instruction hook runs; the limit is checked at this grain.
const HOOK_EVERY: u32 = 10_000;

/// Runs `script` against `obj`. `check` names the check (`group/kind`) in
/// errors.
pub fn run(
    check: &str,
    script: &str,
    obj: &Value,
    limits: Limits,
) -> Result<HealthStatus, LuaError> {
    let script_error = |e: mlua::Error| LuaError::Script {
        check: check.to_string(),
        message: e.to_string(),
    };
    let lua = sandbox(limits).map_err(script_error)?;

    let start = Instant::now();
    let executed = Cell::new(0u64);
    let stopped_by: std::rc::Rc<Cell<Option<String>>> = Default::default();
    let stop = stopped_by.clone();
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(HOOK_EVERY),
        move |_, _| {
            executed.set(executed.get() + u64::from(HOOK_EVERY));
            let over = if executed.get() > limits.instructions {
                Some(format!("{} instructions", limits.instructions))
            } else if start.elapsed() > limits.time {
                Some(format!("{:?}", limits.time))
            } else {
                None
            };
            match over {
                Some(limit) => {
                    stop.set(Some(limit.clone()));
                    Err(mlua::Error::runtime(format!("limit exceeded: {limit}")))
                }
                None => Ok(VmState::Continue),
            }
        },
    )
    .map_err(script_error)?;

    let options = SerializeOptions::new()
        .serialize_none_to_null(false)
        .serialize_unit_to_null(false)
        .set_array_metatable(false);
    let result = lua
        .to_value_with(obj, options)
        .and_then(|table| lua.globals().set("obj", table))
        .and_then(|()| lua.load(script).set_name(check).eval::<mlua::Value>());
    let returned = match result {
        Ok(v) => v,
        Err(e) => {
            if let Some(limit) = stopped_by.take() {
                return Err(LuaError::Limit {
                    check: check.to_string(),
                    limit,
                });
            }
            if matches!(e, mlua::Error::MemoryError(_)) {
                return Err(LuaError::Limit {
                    check: check.to_string(),
                    limit: format!("{} bytes of memory", limits.memory),
                });
            }
            return Err(script_error(e));
        }
    };
    to_status(check, returned)
}

/// A fresh interpreter with only the safe libraries.
fn sandbox(limits: Limits) -> mlua::Result<Lua> {
    let lua = Lua::new_with(
        StdLib::TABLE | StdLib::STRING | StdLib::MATH,
        LuaOptions::default(),
    )?;
    let globals = lua.globals();
    for name in ["dofile", "loadfile", "load", "loadstring", "print"] {
        globals.set(name, mlua::Value::Nil)?;
    }
    lua.set_memory_limit(limits.memory)?;
    Ok(lua)
}

fn to_status(check: &str, returned: mlua::Value) -> Result<HealthStatus, LuaError> {
    let bad = |reason: String| LuaError::Result {
        check: check.to_string(),
        reason,
    };
    let mlua::Value::Table(table) = returned else {
        return Err(bad(format!(
            "the script returned {}, expected a table with status and message",
            returned.type_name()
        )));
    };
    let status: Option<String> = table
        .get("status")
        .map_err(|e| bad(format!("status is not a string: {e}")))?;
    let message: Option<String> = table
        .get("message")
        .map_err(|e| bad(format!("message is not a string: {e}")))?;
    let status = status.unwrap_or_default();
    let code = HealthStatusCode::parse(&status).ok_or_else(|| {
        bad(format!(
            "the script returned an invalid health status {status:?}"
        ))
    })?;
    Ok(HealthStatus::new(code, message.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run_default(script: &str, obj: &Value) -> Result<HealthStatus, LuaError> {
        run("example.com/Widget", script, obj, Limits::default())
    }

    #[test]
    fn reads_obj_and_returns_status() {
        let obj = json!({"status": {"phase": "Ready", "items": [1, 2, 3], "gone": null}});
        let script = r#"
            local hs = {}
            if obj.status.phase == "Ready" and #obj.status.items == 3 and obj.status.gone == nil then
              hs.status = "Healthy"
              hs.message = "ready with " .. obj.status.items[3]
            end
            return hs
        "#;
        assert_eq!(
            run_default(script, &obj),
            Ok(HealthStatus::new(HealthStatusCode::Healthy, "ready with 3"))
        );
    }

    #[test]
    fn endless_loop_is_stopped() {
        let err = run_default("while true do end", &json!({})).unwrap_err();
        assert_eq!(
            err,
            LuaError::Limit {
                check: "example.com/Widget".into(),
                limit: "10000000 instructions".into()
            }
        );
    }

    #[test]
    fn time_limit_stops_a_script_under_the_instruction_limit() {
        let limits = Limits {
            instructions: u64::MAX,
            time: Duration::from_millis(50),
            ..Limits::default()
        };
        let err = run("x/Y", "while true do end", &json!({}), limits).unwrap_err();
        assert!(
            matches!(err, LuaError::Limit { ref limit, .. } if limit == "50ms"),
            "{err}"
        );
    }

    #[test]
    fn memory_hog_is_stopped() {
        let err = run_default(
            "local t = {} for i = 1, 100 do t[i] = string.rep('x', 1048576) .. i end return t",
            &json!({}),
        )
        .unwrap_err();
        assert!(
            matches!(err, LuaError::Limit { ref limit, .. } if limit.ends_with("bytes of memory")),
            "{err}"
        );
    }

    #[test]
    fn no_os_io_require_or_file_access() {
        for script in [
            "return os.execute('true')",
            "return io.open('/etc/passwd')",
            "return require('os')",
            "return dofile('/etc/passwd')",
            "return loadfile('/etc/passwd')",
            "return loadstring('return 1')()",
            "return package.loaded",
            "return debug.getinfo(1)",
        ] {
            let err = run_default(script, &json!({})).unwrap_err();
            assert!(
                matches!(&err, LuaError::Script { message, .. } if message.contains("a nil value")),
                "{script}: {err}"
            );
        }
    }

    #[test]
    fn bad_results_are_errors() {
        let err = run_default("return 'Healthy'", &json!({})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "health check for example.com/Widget: the script returned string, expected a table with status and message"
        );
        let err = run_default("return {status = 'Fine'}", &json!({})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "health check for example.com/Widget: the script returned an invalid health status \"Fine\""
        );
        let err = run_default("return obj.status.phase", &json!({})).unwrap_err();
        assert!(
            err.to_string()
                .contains("attempt to index field 'status' (a nil value)"),
            "{err}"
        );
        let err = run_default("return {", &json!({})).unwrap_err();
        assert!(err.to_string().contains("syntax error"), "{err}");
    }
}
