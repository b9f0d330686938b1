//! Writing a `.zip` archive, for the Gradescope autograder package.
//!
//! Entries are *stored* (not compressed): the package is a few hundred KiB of text, and a
//! stored archive needs only a CRC-32, not a compressor, so no crate is needed and every
//! unzip reads it. Names are UTF-8 (flag bit 11), times a fixed 1980-01-01 so that the same
//! kit always gives the same bytes, and Unix permissions are kept in the external attributes
//! (`run_autograder` and `setup.sh` must stay executable).

use std::io;

/// Builds an archive in memory.
#[derive(Default)]
pub struct ZipWriter {
    out: Vec<u8>,
    central: Vec<u8>,
    entries: usize,
}

/// 1980-01-01 00:00:00 in MS-DOS date and time format.
const DOS_DATE: u16 = (1 << 5) | 1;
const DOS_TIME: u16 = 0;
/// Version 2.0 of the format is enough for stored entries; "made by" Unix (3).
const VERSION: u16 = 20;
const MADE_BY_UNIX: u16 = (3 << 8) | VERSION;
/// Names are UTF-8.
const FLAGS: u16 = 1 << 11;

impl ZipWriter {
    pub fn new() -> ZipWriter {
        ZipWriter::default()
    }

    /// Adds a file. `name` uses `/` between folders; `executable` gives it mode 755.
    pub fn add(&mut self, name: &str, data: &[u8], executable: bool) -> io::Result<()> {
        let too_big = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_string());
        if name.is_empty() || name.starts_with('/') || name.split('/').any(|p| p == "..") {
            return Err(too_big("an archive entry needs a plain relative name"));
        }
        let size = u32::try_from(data.len()).map_err(|_| too_big("a file of 4 GiB or more"))?;
        let offset =
            u32::try_from(self.out.len()).map_err(|_| too_big("an archive of 4 GiB or more"))?;
        let name_len = u16::try_from(name.len()).map_err(|_| too_big("a name too long"))?;
        if self.entries == usize::from(u16::MAX) {
            return Err(too_big("more than 65535 files"));
        }
        let crc = crc32(data);

        // Local file header, then the data.
        let out = &mut self.out;
        put32(out, 0x0403_4b50);
        put16(out, VERSION);
        put16(out, FLAGS);
        put16(out, 0); // stored
        put16(out, DOS_TIME);
        put16(out, DOS_DATE);
        put32(out, crc);
        put32(out, size);
        put32(out, size);
        put16(out, name_len);
        put16(out, 0); // no extra field
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);

        // Its central directory record.
        let mode: u32 = if executable { 0o100_755 } else { 0o100_644 };
        let central = &mut self.central;
        put32(central, 0x0201_4b50);
        put16(central, MADE_BY_UNIX);
        put16(central, VERSION);
        put16(central, FLAGS);
        put16(central, 0);
        put16(central, DOS_TIME);
        put16(central, DOS_DATE);
        put32(central, crc);
        put32(central, size);
        put32(central, size);
        put16(central, name_len);
        put16(central, 0); // extra
        put16(central, 0); // comment
        put16(central, 0); // disk
        put16(central, 0); // internal attributes
        put32(central, mode << 16);
        put32(central, offset);
        central.extend_from_slice(name.as_bytes());
        self.entries += 1;
        Ok(())
    }

    /// The finished archive.
    pub fn finish(mut self) -> io::Result<Vec<u8>> {
        let offset = u32::try_from(self.out.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "archive too large"))?;
        let size = self.central.len() as u32;
        let entries = self.entries as u16;
        self.out.append(&mut self.central);
        let out = &mut self.out;
        put32(out, 0x0605_4b50);
        put16(out, 0); // this disk
        put16(out, 0); // disk with the directory
        put16(out, entries);
        put16(out, entries);
        put32(out, size);
        put32(out, offset);
        put16(out, 0); // comment
        Ok(self.out)
    }
}

fn put16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// CRC-32 (IEEE 802.3, the one zip and PNG use).
pub fn crc32(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut table = [0u32; 256];
        for (i, entry) in table.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 == 1 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *entry = c;
        }
        table
    });
    let mut crc = !0u32;
    for &byte in data {
        crc = table[((crc ^ u32::from(byte)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    /// Reads the archive back through its central directory (as unzip does).
    fn entries(archive: &[u8]) -> Vec<(String, Vec<u8>, u32)> {
        let le16 = |at: usize| u16::from_le_bytes([archive[at], archive[at + 1]]) as usize;
        let le32 = |at: usize| u32::from_le_bytes(archive[at..at + 4].try_into().unwrap());
        let end = archive.len() - 22;
        assert_eq!(le32(end), 0x0605_4b50);
        let count = le16(end + 10);
        let mut at = le32(end + 16) as usize;
        let mut found = Vec::new();
        for _ in 0..count {
            assert_eq!(le32(at), 0x0201_4b50);
            let crc = le32(at + 16);
            let size = le32(at + 24) as usize;
            let name_len = le16(at + 28);
            let mode = le32(at + 38) >> 16;
            let local = le32(at + 42) as usize;
            let name = String::from_utf8(archive[at + 46..at + 46 + name_len].to_vec()).unwrap();
            assert_eq!(le32(local), 0x0403_4b50);
            let data_at = local + 30 + le16(local + 26) + le16(local + 28);
            let data = archive[data_at..data_at + size].to_vec();
            assert_eq!(crc32(&data), crc, "{name}");
            found.push((name, data, mode));
            at += 46 + name_len;
        }
        found
    }

    #[test]
    fn files_come_back_with_their_modes() {
        let mut zip = ZipWriter::new();
        zip.add("run_autograder", b"#!/bin/sh\necho hi\n", true)
            .unwrap();
        zip.add("kit/é.txt", b"", false).unwrap();
        let archive = zip.finish().unwrap();
        assert_eq!(
            entries(&archive),
            [
                (
                    "run_autograder".to_string(),
                    b"#!/bin/sh\necho hi\n".to_vec(),
                    0o100_755
                ),
                ("kit/é.txt".to_string(), Vec::new(), 0o100_644),
            ]
        );
    }

    #[test]
    fn names_must_stay_inside_the_archive() {
        let mut zip = ZipWriter::new();
        assert!(zip.add("../evil", b"", false).is_err());
        assert!(zip.add("/etc/passwd", b"", false).is_err());
    }
}
