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
pub struct PacketReader<'a> {
    format: Format<'a>,
    data: &'a [u8],
    /// Bytes up to here have been asked into memory ([`populate`]).
    populated: usize,
}

enum Format<'a> {
    Pcap(PcapReader<'a>),
    Pcapng(PcapngReader<'a>),
}

/// How much of a mapped file is brought into memory at once, ahead of the reader: one
/// `madvise` per window instead of a page fault every few pages.
const POPULATE_WINDOW: usize = 8 << 20;

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
        let format = match magic {
            [0x0a, 0x0d, 0x0d, 0x0a] => Format::Pcapng(PcapngReader::new(data, name, path)),
            _ => Format::Pcap(PcapReader::new(data, name, path, points)?),
        };
        Ok(PacketReader {
            format,
            data,
            populated: 0,
        })
    }

    /// The next packet, `Ok(None)` at a clean end of file, or the error that stops the file.
    pub fn next_packet(
        &mut self,
        points: &mut CapturePoints,
    ) -> Result<Option<RawPacket<'a>>, CaptureError> {
        let offset = self.offset() as usize;
        if offset + POPULATE_WINDOW / 2 > self.populated && self.populated < self.data.len() {
            let from = self.populated.max(offset);
            self.populated = (from + POPULATE_WINDOW).min(self.data.len());
            populate(self.data.get(from..self.populated).unwrap_or_default());
        }
        match &mut self.format {
            Format::Pcap(r) => r.next_packet(),
            Format::Pcapng(r) => r.next_packet(points),
        }
    }

    /// Byte offset of the next record: how far into the file reading has come.
    pub fn offset(&self) -> u64 {
        match &self.format {
            Format::Pcap(r) => r.offset(),
            Format::Pcapng(r) => r.offset(),
        }
    }
}

/// Asks the kernel to map `bytes` in now (`MADV_POPULATE_READ`), in one call rather than a
/// fault per few pages as the reader first touches them: a tenth of a replay's time on
/// small packets went to those faults. Only a hint: on a kernel without it (before 5.14), or
/// for bytes that are not a file map, nothing changes.
fn populate(bytes: &[u8]) {
    const PAGE: usize = 4096;
    if bytes.is_empty() {
        return;
    }
    let start = bytes.as_ptr() as usize;
    // Page-aligned, and still within the pages that hold `bytes`: mapped memory.
    let first = start & !(PAGE - 1);
    let end = start + bytes.len();
    // SAFETY: the range lies within pages that hold the slice, so it is mapped; the advice
    // only reads pages in and changes no memory.
    unsafe {
        libc::madvise(
            first as *mut libc::c_void,
            end - first,
            libc::MADV_POPULATE_READ,
        );
    }
}
