//! The file name an attachment is downloaded under (`Content-Disposition`): the sender's
//! `fileName` is hostile input, so only a plain name is offered to the client's file system
//! (hardening H-63).

/// Windows device names: a file called `CON` or `nul.txt` opens the device, not a file.
const DEVICE_NAMES: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// `raw` reduced to ASCII letters, digits, `.`, `_`, `-` and spaces, without leading or
/// trailing dots and spaces (no hidden files, nothing Windows would trim), a device name
/// prefixed with `_`, and `attachment` when nothing is left.
pub(crate) fn download_file_name(raw: &str) -> String {
    let kept: String = raw
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "._- ".contains(*c))
        .collect();
    let name = kept.trim_matches(['.', ' ']);
    if name.is_empty() {
        return "attachment".into();
    }
    let stem = name.split('.').next().unwrap_or(name).trim_end();
    if DEVICE_NAMES.iter().any(|d| d.eq_ignore_ascii_case(stem)) {
        return format!("_{name}");
    }
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::download_file_name;

    #[test]
    fn paths_and_control_characters_are_dropped() {
        assert_eq!(download_file_name("../../etc/passwd"), "etcpasswd");
        assert_eq!(download_file_name("/abs/olute.pdf"), "absolute.pdf");
        assert_eq!(download_file_name("C:\\Windows\\x.exe"), "CWindowsx.exe");
        assert_eq!(download_file_name("a\r\nb\u{1b}[31m.pdf"), "ab31m.pdf");
        assert_eq!(download_file_name("räkning.pdf"), "rkning.pdf");
    }

    #[test]
    fn hidden_trailing_and_empty_names_are_plain() {
        assert_eq!(download_file_name(".bashrc"), "bashrc");
        assert_eq!(download_file_name("report.pdf. . "), "report.pdf");
        assert_eq!(download_file_name("../.."), "attachment");
        assert_eq!(download_file_name(""), "attachment");
    }

    #[test]
    fn device_names_are_prefixed_whatever_the_case_or_extension() {
        for raw in ["CON", "nul.txt", "Com1.pdf", "LPT9", "aux .tar.gz"] {
            let name = download_file_name(raw);
            assert!(name.starts_with('_'), "{raw} -> {name}");
        }
        assert_eq!(download_file_name("console.pdf"), "console.pdf");
        assert_eq!(download_file_name("COM10.pdf"), "COM10.pdf");
    }
}
