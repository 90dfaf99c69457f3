//! Length-prefixed framing, read across segments: the shape that MySQL packets (4-byte header),
//! HTTP/2 frames (9 bytes) and PostgreSQL messages share. A fixed-size header says how long
//! the payload is; the header may arrive split over several segments, the payload arrives in
//! whatever pieces the segments cut it into.
//!
//! Takes a direction's bytes in stream order; gives each whole header (the protocol reads the
//! length from it and says how long the payload is) and then the payload's pieces, each with
//! its offset in the payload and whether it ends the frame. Nothing is copied but the header.

/// One direction's reader of frames with an `H`-byte header.
#[derive(Debug, Clone)]
pub struct FrameReader<const H: usize> {
    header: [u8; H],
    header_seen: usize,
    /// Payload length of the frame being read, once its header has been taken.
    len: Option<u32>,
    /// Payload bytes of the current frame read (or skipped) so far.
    read: u32,
    /// Capture time and TCP sequence number of the current frame's first header byte.
    start: (u64, u32),
}

impl<const H: usize> Default for FrameReader<H> {
    fn default() -> Self {
        FrameReader {
            header: [0; H],
            header_seen: 0,
            len: None,
            read: 0,
            start: (0, 0),
        }
    }
}

/// What the next bytes completed.
#[derive(Debug, PartialEq, Eq)]
pub enum Read<'a, const H: usize> {
    /// A whole header. The protocol calls [`FrameReader::begin`] with the payload length it
    /// gives (a frame without payload is then already whole), or drops the reader's state.
    Header([u8; H]),
    /// Payload bytes of the current frame, starting `offset` bytes into its payload; `last`
    /// when they end it.
    Payload {
        bytes: &'a [u8],
        offset: u32,
        last: bool,
    },
}

impl<const H: usize> FrameReader<H> {
    /// Reads from the front of `data` (advancing it, and `seq` with it) up to the next whole
    /// header or payload piece; `None` once `data` is used up.
    pub fn read<'a>(
        &mut self,
        data: &mut &'a [u8],
        ts_ns: u64,
        seq: &mut u32,
    ) -> Option<Read<'a, H>> {
        if data.is_empty() {
            return None;
        }
        let Some(len) = self.len else {
            if self.header_seen == 0 {
                self.start = (ts_ns, *seq);
            }
            let room = self.header.get_mut(self.header_seen..).unwrap_or(&mut []);
            let n = room.len().min(data.len());
            let (head, tail) = data.split_at(n);
            if let Some(slot) = room.get_mut(..n) {
                slot.copy_from_slice(head);
            }
            self.header_seen += n;
            *data = tail;
            *seq = seq.wrapping_add(n as u32);
            if self.header_seen < H {
                return None;
            }
            self.header_seen = 0;
            return Some(Read::Header(self.header));
        };
        let n = ((len - self.read) as usize).min(data.len());
        let (bytes, tail) = data.split_at(n);
        let offset = self.read;
        self.read += n as u32;
        *data = tail;
        *seq = seq.wrapping_add(n as u32);
        let last = self.read == len;
        if last {
            self.len = None;
        }
        Some(Read::Payload {
            bytes,
            offset,
            last,
        })
    }

    /// Starts the payload of the frame whose header was just read. Returns whether the frame
    /// is already whole (no payload).
    pub fn begin(&mut self, len: u32) -> bool {
        self.read = 0;
        if len == 0 {
            self.len = None;
            return true;
        }
        self.len = Some(len);
        false
    }

    /// Payload length and bytes read so far of the frame being read, if one is.
    pub fn current(&self) -> Option<(u32, u32)> {
        self.len.map(|len| (len, self.read))
    }

    /// Where the current (or last) frame started: capture time and TCP sequence number.
    pub fn start(&self) -> (u64, u32) {
        self.start
    }

    /// Skips `n` payload bytes that the capture lost, when they fall inside the current
    /// payload short of its end; returns whether they did (else nothing changes).
    pub fn skip_inside(&mut self, n: u32) -> bool {
        match self.len {
            Some(len) if self.read.saturating_add(n) < len => {
                self.read += n;
                true
            }
            _ => false,
        }
    }

    /// Forgets the frame in progress: the next byte is read as the start of a header.
    pub fn reset(&mut self) {
        self.len = None;
        self.header_seen = 0;
        self.read = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames of a 2-byte big-endian length header, split at every point, read back whole.
    #[test]
    fn frames_split_anywhere_read_the_same() {
        let stream = [0u8, 3, b'a', b'b', b'c', 0, 0, 0, 1, b'z'];
        for split in 0..=stream.len() {
            let mut reader = FrameReader::<2>::default();
            let mut frames: Vec<(u32, Vec<u8>)> = Vec::new();
            let mut seq = 100u32;
            let mut body = Vec::new();
            for (i, part) in [&stream[..split], &stream[split..]].into_iter().enumerate() {
                let mut data: &[u8] = part;
                while let Some(read) = reader.read(&mut data, i as u64, &mut seq) {
                    match read {
                        Read::Header(h) => {
                            if reader.begin(u32::from(u16::from_be_bytes(h))) {
                                frames.push((reader.start().1, Vec::new()));
                            }
                        }
                        Read::Payload {
                            bytes,
                            offset,
                            last,
                        } => {
                            assert_eq!(offset as usize, body.len());
                            body.extend_from_slice(bytes);
                            if last {
                                frames.push((reader.start().1, std::mem::take(&mut body)));
                            }
                        }
                    }
                }
            }
            assert_eq!(
                frames,
                vec![(100, b"abc".to_vec()), (105, vec![]), (107, b"z".to_vec())],
                "split at {split}"
            );
            assert_eq!(seq, 110);
        }
    }

    #[test]
    fn a_hole_inside_a_payload_keeps_step_and_one_past_it_does_not() {
        let mut reader = FrameReader::<2>::default();
        let mut seq = 0;
        let mut data: &[u8] = &[0, 10, 1, 2];
        assert_eq!(
            reader.read(&mut data, 0, &mut seq),
            Some(Read::Header([0, 10]))
        );
        reader.begin(10);
        reader.read(&mut data, 0, &mut seq);
        assert_eq!(reader.current(), Some((10, 2)));
        assert!(reader.skip_inside(5));
        assert_eq!(reader.current(), Some((10, 7)));
        assert!(!reader.skip_inside(3), "the hole reaches the frame's end");
        reader.reset();
        assert_eq!(reader.current(), None);
    }
}
