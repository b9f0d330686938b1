//! How test messages show bytes: escaped like a Rust byte string, and cut short when long,
//! so `\r`, `\n`, NUL and invalid UTF-8 are all visible in a failure message.

/// The longest run of bytes shown before the rest is summarised.
const SHOWN: usize = 120;

/// Shows `data` as a quoted, escaped string: `"hello\r\n"`, `"\x00\xff"`, and for long data
/// `"aaaa…" (+1048456 more bytes)`.
pub fn show_bytes(data: &[u8]) -> String {
    let shown = &data[..data.len().min(SHOWN)];
    let mut text = format!("\"{}\"", shown.escape_ascii());
    if data.len() > SHOWN {
        text.pop();
        text.push_str(&format!("…\" (+{} more bytes)", data.len() - SHOWN));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::show_bytes;

    #[test]
    fn line_endings_and_binary_bytes_are_visible() {
        assert_eq!(show_bytes(b"hi\r\n"), r#""hi\r\n""#);
        assert_eq!(show_bytes(b"\x00\xff"), r#""\x00\xff""#);
    }

    #[test]
    fn long_data_is_cut_short_with_a_count() {
        let text = show_bytes(&[b'a'; 200]);
        assert!(text.ends_with("…\" (+80 more bytes)"), "{text}");
    }
}
