//! Opening a capture file and choosing the pcap or pcapng reader by its magic number.

use super::{pcap::PcapReader, pcapng::PcapngReader, CaptureError, CapturePoints, RawPacket};
use memmap2::Mmap;
use std::fs::File;
use std::path::Path;

/// A capture file mapped into memory; packets borrow from it.
pub struct CaptureFile {
    /// Display name used in errors and capture-point names (the file name without directories).
    pub name: String,
    pub path: String,
    map: Option<Mmap>,
}

impl CaptureFile {
    pub fn open(path: &Path) -> Result<CaptureFile, CaptureError> {
        let display = path.display().to_string();
        let fail = |reason: String| CaptureError {
            file: display.clone(),
            offset: 0,
            reason,
        };
        let file = File::open(path).map_err(|e| fail(format!("cannot open: {e}")))?;
        let len = file
            .metadata()
            .map_err(|e| fail(format!("cannot stat: {e}")))?
            .len();
        // An empty file cannot be mapped; it is reported as too short by the reader instead.
        let map = if len == 0 {
            None
        } else {
            // SAFETY: the map is read-only; a capture file changed by another process while
            // we read it can at worst give us garbage bytes, which every parser tolerates.
            Some(unsafe { Mmap::map(&file) }.map_err(|e| fail(format!("cannot map: {e}")))?)
        };
        let name = path
            .file_name()
            .map_or_else(|| display.clone(), |n| n.to_string_lossy().into_owned());
        Ok(CaptureFile {
            name,
            path: display,
            map,
        })
    }

    /// The bodies of a pcapng file's Decryption Secrets Blocks (none for pcap), read as far
    /// as the file reads: the key material it carries for its packets.
    pub fn decryption_secrets(&self) -> Vec<Vec<u8>> {
        let bytes = self.bytes();
        if bytes.get(..4) != Some(&[0x0a, 0x0d, 0x0d, 0x0a]) {
            return Vec::new();
        }
        let mut points = CapturePoints::default();
        let mut reader = PcapngReader::new(bytes, &self.name, &self.path);
        while let Ok(Some(_)) = reader.next_packet(&mut points) {}
        reader.secrets().iter().map(|s| s.to_vec()).collect()
    }

    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }

    /// A reader over this file's packets (see [`PacketReader::new`]).
    pub fn packets<'a>(
        &'a self,
        points: &mut CapturePoints,
    ) -> Result<PacketReader<'a>, CaptureError> {
        PacketReader::new(self.bytes(), &self.name, &self.path, points)
    }
}

/// Iterates over the packets of one file, pcap or pcapng.
pub enum PacketReader<'a> {
    Pcap(PcapReader<'a>),
    Pcapng(PcapngReader<'a>),
}

impl<'a> PacketReader<'a> {
    /// A reader over a capture file's bytes, pcap or pcapng by the magic number. Capture
    /// points are registered in `points` as the file declares its interfaces; `name` names
    /// them and `path` is the file named in errors.
    pub fn new(
        data: &'a [u8],
        name: &str,
        path: &str,
        points: &mut CapturePoints,
    ) -> Result<PacketReader<'a>, CaptureError> {
        let magic = data.get(..4).ok_or_else(|| CaptureError {
            file: path.to_owned(),
            offset: 0,
            reason: format!(
                "file is {} bytes, too short for a pcap or pcapng header",
                data.len()
            ),
        })?;
        match magic {
            [0x0a, 0x0d, 0x0d, 0x0a] => {
                Ok(PacketReader::Pcapng(PcapngReader::new(data, name, path)))
            }
            _ => PcapReader::new(data, name, path, points).map(PacketReader::Pcap),
        }
    }

    /// The next packet, `Ok(None)` at a clean end of file, or the error that stops the file.
    pub fn next_packet(
        &mut self,
        points: &mut CapturePoints,
    ) -> Result<Option<RawPacket<'a>>, CaptureError> {
        match self {
            PacketReader::Pcap(r) => r.next_packet(),
            PacketReader::Pcapng(r) => r.next_packet(points),
        }
    }

    /// Byte offset of the next record: how far into the file reading has come.
    pub fn offset(&self) -> u64 {
        match self {
            PacketReader::Pcap(r) => r.offset(),
            PacketReader::Pcapng(r) => r.offset(),
        }
    }
}
