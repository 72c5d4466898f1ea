//! Checks shared by every free-text field: length limits and characters no backend stores.

use crate::{DomainError, error::invalid};

/// The most bytes a long text field (commands, spec, messages, reasons) holds on every backend.
pub const MAX_TEXT_BYTES: usize = 65_535;

/// Checks a required short text: not empty, at most `max_chars` characters, no NUL.
pub(crate) fn required(
    field: &'static str,
    value: &str,
    max_chars: usize,
) -> Result<(), DomainError> {
    if value.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    short(field, value, max_chars)
}

/// Checks an optional short text.
pub(crate) fn optional(
    field: &'static str,
    value: Option<&str>,
    max_chars: usize,
) -> Result<(), DomainError> {
    value.map_or(Ok(()), |v| required(field, v, max_chars))
}

/// Checks an optional key that the database compares: as [`required`], and no surrounding
/// whitespace (MySQL's collations ignore trailing spaces, so `"k"` and `"k "` would collide
/// there and not elsewhere).
pub(crate) fn key(
    field: &'static str,
    value: Option<&str>,
    max_chars: usize,
) -> Result<(), DomainError> {
    let Some(value) = value else {
        return Ok(());
    };
    required(field, value, max_chars)?;
    if value.trim() != value {
        return Err(invalid(field, "must not start or end with whitespace"));
    }
    Ok(())
}

fn short(field: &'static str, value: &str, max_chars: usize) -> Result<(), DomainError> {
    let chars = value.chars().count();
    if chars > max_chars {
        return Err(invalid(
            field,
            format!("is {chars} characters, at most {max_chars} allowed"),
        ));
    }
    no_nul(field, value)
}

/// Checks a long text against [`MAX_TEXT_BYTES`].
pub(crate) fn long(field: &'static str, value: &str) -> Result<(), DomainError> {
    if value.len() > MAX_TEXT_BYTES {
        return Err(invalid(
            field,
            format!("is {} bytes, at most {MAX_TEXT_BYTES} allowed", value.len()),
        ));
    }
    no_nul(field, value)
}

/// Makes a message fit a long text field: NULs dropped, cut at a character boundary.
///
/// Used for error messages and reasons, which a worker must always be able to record.
pub(crate) fn clip(value: &str) -> String {
    let mut text: String = value.chars().filter(|c| *c != '\0').collect();
    if text.len() > MAX_TEXT_BYTES {
        let mut end = MAX_TEXT_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

fn no_nul(field: &'static str, value: &str) -> Result<(), DomainError> {
    if value.contains('\0') {
        return Err(invalid(field, "contains a NUL character"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_keeps_whole_characters() {
        let long = "é".repeat(MAX_TEXT_BYTES);
        let clipped = clip(&long);
        assert!(clipped.len() <= MAX_TEXT_BYTES);
        assert!(clipped.chars().all(|c| c == 'é'));
        assert_eq!(clip("a\0b"), "ab");
    }

    #[test]
    fn limits_count_characters_not_bytes() {
        assert!(required("name", &"é".repeat(255), 255).is_ok());
        assert!(required("name", &"é".repeat(256), 255).is_err());
        assert!(required("name", "  ", 255).is_err());
        assert!(required("name", "a\0", 255).is_err());
    }
}
