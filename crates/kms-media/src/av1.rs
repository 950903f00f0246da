//! Reading an AV1 temporal unit as WebRTC peers depacketize it: a sequence
//! of OBUs in the low-overhead format (AV1 bitstream spec §5.2, every OBU
//! with its size field, which the RTP depacketizer adds: AV1 RTP payload
//! format §4.3). Only the OBU headers and the first bits of frame headers
//! are read; nothing here decodes a picture or trusts a length it read.

/// OBU types (AV1 spec §6.2.2).
#[cfg(test)]
const OBU_SEQUENCE_HEADER: u8 = 1;
const OBU_FRAME_HEADER: u8 = 3;
const OBU_FRAME: u8 = 6;

use crate::MAX_SPATIAL_LAYERS;

/// One OBU of a temporal unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Obu {
    /// `obu_type` (§6.2.2).
    pub obu_type: u8,
    /// `spatial_id` from the extension header (§5.3.3), `None` without one
    /// (the OBU applies to every layer: sequence headers, metadata).
    pub spatial_id: Option<u8>,
    /// Where its payload starts in the temporal unit (bytes).
    pub payload_start: usize,
    /// Where the OBU ends in the temporal unit (bytes, exclusive).
    pub end: usize,
}

/// The OBUs of `data`, in order; stops at the first one that is truncated
/// or lacks its size field (the rest cannot be delimited).
pub fn obus(data: &[u8]) -> impl Iterator<Item = Obu> + '_ {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let header = *data.get(at)?;
        let has_extension = header & 0b0000_0100 != 0;
        let has_size = header & 0b0000_0010 != 0;
        if header & 0x80 != 0 || !has_size {
            return None;
        }
        let mut pos = at + 1;
        let spatial_id = if has_extension {
            let ext = *data.get(pos)?;
            pos += 1;
            Some((ext >> 3) & 0b11)
        } else {
            None
        };
        let (size, len) = leb128(data.get(pos..)?)?;
        let payload_start = pos + len;
        let end = payload_start.checked_add(usize::try_from(size).ok()?)?;
        if end > data.len() {
            return None;
        }
        at = end;
        Some(Obu { obu_type: (header >> 3) & 0x0f, spatial_id, payload_start, end })
    })
}

/// An unsigned LEB128 value (§4.10.5, at most 8 bytes) and its length.
fn leb128(data: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, b) in data.iter().take(8).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// Whether decoding can start at the temporal unit: its first frame header
/// (an OBU_FRAME_HEADER or OBU_FRAME, the lowest spatial layer's) codes a
/// KEY_FRAME (§5.9.2: `show_existing_frame` 0, `frame_type` 0; WebRTC never
/// uses `reduced_still_picture_header`).
pub fn is_keyframe(data: &[u8]) -> bool {
    obus(data)
        .find(|o| o.obu_type == OBU_FRAME_HEADER || o.obu_type == OBU_FRAME)
        .and_then(|o| data.get(o.payload_start))
        .is_some_and(|b| b & 0x80 == 0 && (b >> 5) & 0b11 == 0)
}

/// Where each spatial layer of an SVC temporal unit ends (bytes; `None`
/// for a layer it lacks): the end of the last OBU whose extension header
/// names that layer. Every entry is `None` when no OBU names a layer (no
/// SVC), when layers are out of order (a cut after one would drop a lower
/// one) or when the unit cannot be read to its end.
pub fn spatial_layer_ends(data: &[u8]) -> [Option<usize>; MAX_SPATIAL_LAYERS] {
    let mut ends = [None; MAX_SPATIAL_LAYERS];
    let mut highest = 0u8;
    let mut read_to = 0;
    for obu in obus(data) {
        read_to = obu.end;
        let Some(s) = obu.spatial_id else { continue };
        if s < highest || usize::from(s) >= MAX_SPATIAL_LAYERS {
            return [None; MAX_SPATIAL_LAYERS];
        }
        highest = s;
        ends[usize::from(s)] = Some(obu.end);
    }
    if read_to != data.len() {
        return [None; MAX_SPATIAL_LAYERS];
    }
    ends
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An OBU of `obu_type` with `payload`, with an extension header naming
    /// `spatial` when given.
    fn obu(obu_type: u8, spatial: Option<u8>, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![(obu_type << 3) | 0b10 | if spatial.is_some() { 0b100 } else { 0 }];
        if let Some(s) = spatial {
            out.push(s << 3);
        }
        out.push(payload.len() as u8);
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn keyframes_are_key_frames_at_the_lowest_layer() {
        let key = [obu(OBU_SEQUENCE_HEADER, None, &[0; 4]), obu(OBU_FRAME, Some(0), &[0x10, 1, 2]), obu(OBU_FRAME, Some(1), &[0x30, 1])].concat();
        assert!(is_keyframe(&key));
        let inter = [obu(OBU_FRAME, Some(0), &[0x30, 1, 2])].concat();
        assert!(!is_keyframe(&inter), "frame_type 1 (INTER)");
        let shown_again = obu(OBU_FRAME_HEADER, None, &[0x80]);
        assert!(!is_keyframe(&shown_again), "show_existing_frame repeats a frame");
        assert!(!is_keyframe(&[]));
        assert!(!is_keyframe(&[0x32, 0x05, 0]), "a size past the end is not read");
    }

    #[test]
    fn spatial_layers_end_where_their_last_obu_ends() {
        let seq = obu(OBU_SEQUENCE_HEADER, None, &[0; 4]);
        let l0 = obu(OBU_FRAME, Some(0), &[0x10; 10]);
        let l1 = obu(OBU_FRAME, Some(1), &[0x30; 20]);
        let l2 = obu(OBU_FRAME, Some(2), &[0x30; 30]);
        let tu = [seq.clone(), l0.clone(), l1.clone(), l2.clone()].concat();
        let (a, b) = (seq.len() + l0.len(), seq.len() + l0.len() + l1.len());
        assert_eq!(spatial_layer_ends(&tu), [Some(a), Some(b), Some(tu.len())]);
        assert!(is_keyframe(&tu[..a]), "the lowest layer alone is still a keyframe");
        assert_eq!(obus(&tu[..b]).count(), 3, "a cut leaves whole OBUs");
        let without_middle = [l0.clone(), l2.clone()].concat();
        assert_eq!(spatial_layer_ends(&without_middle), [Some(l0.len()), None, Some(without_middle.len())]);
        assert_eq!(spatial_layer_ends(&[l1.clone(), l0.clone()].concat()), [None; 3], "out of order: no cut");
        assert_eq!(spatial_layer_ends(&obu(OBU_FRAME, None, &[0x10; 5])), [None; 3], "no SVC");
        assert_eq!(spatial_layer_ends(&[l0, vec![0x32, 0x7f]].concat()), [None; 3], "unreadable to its end");
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 7u32;
        for len in 0..200 {
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (seed >> 16) as u8
                })
                .collect();
            let _ = (is_keyframe(&data), spatial_layer_ends(&data), obus(&data).count());
        }
        assert_eq!(leb128(&[0xff; 9]), None, "more than 8 bytes");
        assert_eq!(leb128(&[0x80, 0x01]), Some((128, 2)));
    }
}
