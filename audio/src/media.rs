//! The caller's bytes, shared without copying between the sniffer and symphonia's readers.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::Arc;

use symphonia::core::io::MediaSource;

/// The encoded file as handed in by the caller. Kept behind an `Arc` so that the symphonia reader
/// (which needs a `'static` source) and the stream can both see it without a copy of up to 100 MB.
pub(crate) type Bytes = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// A seekable window `[start, end)` of the caller's bytes. The window lets a reader start after
/// a leading ID3 tag or junk, so that symphonia never has to guess where the stream begins.
pub(crate) struct SliceSource {
    bytes: Bytes,
    start: usize,
    end: usize,
    /// Position relative to `start`.
    pos: usize,
    /// Four bytes (at an offset relative to `start`) to present instead of the stored ones.
    patch: Option<(usize, [u8; 4])>,
}

impl SliceSource {
    /// A window over `bytes[start..]`.
    pub(crate) fn new(bytes: Bytes, start: usize) -> Self {
        let end = (*bytes).as_ref().len();
        SliceSource {
            bytes,
            start: start.min(end),
            end,
            pos: 0,
            patch: None,
        }
    }

    /// Presents `bytes` at `offset` (relative to the window) instead of what the file holds.
    pub(crate) fn with_patch(mut self, offset: usize, bytes: [u8; 4]) -> Self {
        self.patch = Some((offset, bytes));
        self
    }

    fn window(&self) -> &[u8] {
        &(*self.bytes).as_ref()[self.start..self.end]
    }
}

impl Read for SliceSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let pos = self.pos;
        let window = self.window();
        let rest = window.get(pos..).unwrap_or(&[]);
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        if let Some((at, patch)) = self.patch {
            for (i, &b) in patch.iter().enumerate() {
                if let Some(slot) = (at + i).checked_sub(pos).and_then(|j| buf[..n].get_mut(j)) {
                    *slot = b;
                }
            }
        }
        self.pos += n;
        Ok(n)
    }
}

impl Seek for SliceSource {
    fn seek(&mut self, from: SeekFrom) -> io::Result<u64> {
        let len = (self.end - self.start) as i128;
        let target = match from {
            SeekFrom::Start(n) => i128::from(n),
            SeekFrom::End(d) => len + i128::from(d),
            SeekFrom::Current(d) => self.pos as i128 + i128::from(d),
        };
        if target < 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the audio",
            ));
        }
        // Seeking past the end is allowed (as for files); reads there return 0 bytes.
        self.pos = usize::try_from(target).unwrap_or(usize::MAX);
        Ok(self.pos as u64)
    }
}

impl MediaSource for SliceSource {
    fn is_seekable(&self) -> bool {
        true
    }

    fn byte_len(&self) -> Option<u64> {
        Some((self.end - self.start) as u64)
    }
}
