//! How test messages show bytes: escaped like a Rust byte string, and cut short when long,
//! so `\r`, `\n`, NUL and invalid UTF-8 are all visible in a failure message; and how a long
//! text (a program's whole output) is cut to a size a student reads.

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

/// `text` when it has at most `max` characters; otherwise its start and its end with a line
/// in between that says how much was left out. A failure message must stay readable even
/// when the code under test printed megabytes.
pub fn cap_text(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_string();
    }
    let keep_end = max / 3;
    let keep_start = max - keep_end;
    let start: String = text.chars().take(keep_start).collect();
    let end: String = text.chars().skip(count - keep_end).collect();
    format!(
        "{start}\n[… {} characters left out …]\n{end}",
        count - keep_start - keep_end
    )
}

#[cfg(test)]
mod tests {
    use super::{cap_text, show_bytes};

    #[test]
    fn long_text_keeps_its_start_and_its_end() {
        assert_eq!(cap_text("short", 10), "short");
        let text: String = (0..1000)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let capped = cap_text(&text, 90);
        assert!(capped.starts_with(&text[..60]), "{capped}");
        assert!(capped.ends_with(&text[970..]), "{capped}");
        assert!(capped.contains("[… 910 characters left out …]"), "{capped}");
    }

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
