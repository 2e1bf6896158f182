//! The renderer's error: what went wrong, and where (file, object, field).

use std::fmt;

/// A render error. `Display` prints `file: object: field: message`, leaving
/// out the parts that are not known, so every message names its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The file the problem is in, relative to the tree being rendered.
    pub file: Option<String>,
    /// The object, as `Kind/namespace/name` or `Kind/name`.
    pub object: Option<String>,
    /// The field path, such as `spec.template.spec.containers[0].image`.
    pub field: Option<String>,
    /// What went wrong (and, where it helps, what to do).
    pub message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(message: impl Into<String>) -> Self {
        Error {
            file: None,
            object: None,
            field: None,
            message: message.into(),
        }
    }

    /// Sets the file unless an inner step already named one.
    pub fn in_file(mut self, file: impl Into<String>) -> Self {
        if self.file.is_none() {
            self.file = Some(file.into());
        }
        self
    }

    /// Sets the object unless an inner step already named one.
    pub fn for_object(mut self, object: impl Into<String>) -> Self {
        if self.object.is_none() {
            self.object = Some(object.into());
        }
        self
    }

    /// Puts `outer` in front of the field an inner step named (a patch
    /// entry in front of the operation that failed: `patches[0]` + `[2]`
    /// gives `patches[0][2]`), or sets it when none was named.
    pub fn within_field(mut self, outer: impl Into<String>) -> Self {
        let outer = outer.into();
        self.field = Some(match self.field.take() {
            None => outer,
            Some(inner) if inner.starts_with('[') => format!("{outer}{inner}"),
            Some(inner) => format!("{outer}.{inner}"),
        });
        self
    }

    /// Sets the field unless an inner step already named one.
    pub fn at_field(mut self, field: impl Into<String>) -> Self {
        if self.field.is_none() {
            self.field = Some(field.into());
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}: ")?;
        }
        if let Some(object) = &self.object {
            write!(f, "{object}: ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "field {field}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Shorthand for `Err(Error::new(format!(...)))`.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::Error::new(format!($($arg)*)))
    };
}
