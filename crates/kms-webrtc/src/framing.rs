//! RFC 4571 framing, which ICE-TCP uses for every packet (RFC 6544 §3): a
//! 16-bit big-endian length, then that many bytes. Sans-IO: bytes from a
//! TCP stream go in as they arrive (any split), whole frames come out.

/// The largest frame RFC 4571 can carry.
pub const MAX_FRAME: usize = u16::MAX as usize;

/// Reassembles frames from a byte stream. Holds at most one partial frame
/// plus what the last [`Deframer::push`] brought (frames are taken as they
/// complete).
#[derive(Debug, Default)]
pub struct Deframer {
    buf: Vec<u8>,
    /// Where the next frame's length starts in `buf`.
    start: usize,
}

impl Deframer {
    /// Bytes as read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame's payload, if one has arrived whole.
    pub fn next_frame(&mut self) -> Option<&[u8]> {
        let pending = &self.buf[self.start..];
        let len = usize::from(u16::from_be_bytes([*pending.first()?, *pending.get(1)?]));
        if pending.len() < 2 + len {
            return None;
        }
        let from = self.start + 2;
        self.start = from + len;
        Some(&self.buf[from..from + len])
    }

    /// Bytes held (a partial frame, or frames not yet taken).
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }
}

/// `payload` framed for the stream in one buffer (one write), or `None`
/// when it is over [`MAX_FRAME`] bytes.
pub fn frame(payload: &[u8]) -> Option<Vec<u8>> {
    let len = u16::try_from(payload.len()).ok()?;
    let mut framed = Vec::with_capacity(payload.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(payload);
    Some(framed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_come_out_whole_however_the_stream_is_split() {
        let payloads: Vec<Vec<u8>> = vec![vec![1, 2, 3], vec![], vec![9; 1500], vec![7; MAX_FRAME]];
        let stream: Vec<u8> = payloads.iter().flat_map(|p| frame(p).unwrap()).collect();
        for step in [1, 2, 3, 1000, stream.len()] {
            let mut d = Deframer::default();
            let mut out = Vec::new();
            for chunk in stream.chunks(step) {
                d.push(chunk);
                while let Some(f) = d.next_frame() {
                    out.push(f.to_vec());
                }
            }
            assert_eq!(out, payloads, "split every {step} bytes");
            assert_eq!(d.buffered(), 0);
        }
        assert!(frame(&vec![0; MAX_FRAME + 1]).is_none());
    }

    #[test]
    fn a_partial_frame_waits_and_the_buffer_stays_bounded() {
        let mut d = Deframer::default();
        d.push(&[0x00, 0x05, 1, 2]);
        assert!(d.next_frame().is_none());
        d.push(&[3, 4, 5, 0x00]);
        assert_eq!(d.next_frame(), Some(&[1u8, 2, 3, 4, 5][..]));
        assert!(d.next_frame().is_none(), "half a length");
        for _ in 0..10_000 {
            d.push(&[0x01, 0x00, 0x00, 0x00]);
            while d.next_frame().is_some() {}
        }
        assert!(d.buf.len() < 4 * (MAX_FRAME + 2), "{} bytes held", d.buf.len());
    }
}
