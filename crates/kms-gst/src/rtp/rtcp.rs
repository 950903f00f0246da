//! The RTCP RtpEndpoint reads and writes itself (rtpbin does the rest):
//! telling RTCP from RTP on a muxed socket, and REMB.

use gstreamer as gst;

/// RFC 5761 §4: RTCP packet types 192..=223 in the second byte.
pub(super) fn is_rtcp(buffer: &gst::BufferRef) -> bool {
    let mut byte = [0u8; 1];
    buffer.copy_to_slice(1, &mut byte).is_ok() && (192..=223).contains(&byte[0])
}

/// A compound RTCP packet carrying a REMB (draft-alvestrand-rmcat-remb
/// §2.2): an empty receiver report from `sender` (RFC 3550 §6.1: compounds
/// start with a report), then the PSFB/AFB REMB of `bitrate` bits/s for
/// `media_ssrc`.
pub(super) fn remb_packet(sender: u32, media_ssrc: u32, bitrate: u64) -> Vec<u8> {
    let mut exp = 0u32;
    while (bitrate >> exp) >= (1 << 18) {
        exp += 1;
    }
    let mantissa = (bitrate >> exp) as u32;
    let mut p = Vec::with_capacity(32);
    p.extend_from_slice(&[0x80, 201, 0, 1]);
    p.extend_from_slice(&sender.to_be_bytes());
    p.extend_from_slice(&[0x80 | 15, 206, 0, 5]);
    p.extend_from_slice(&sender.to_be_bytes());
    p.extend_from_slice(&0u32.to_be_bytes());
    p.extend_from_slice(b"REMB");
    p.push(1);
    p.push(((exp << 2) as u8) | ((mantissa >> 16) as u8 & 0x03));
    p.push((mantissa >> 8) as u8);
    p.push(mantissa as u8);
    p.extend_from_slice(&media_ssrc.to_be_bytes());
    p
}

/// A REMB (draft-alvestrand-rmcat-remb §2.2) in a PSFB/AFB FCI: bits/s.
pub(super) fn remb_bitrate(fci: &[u8]) -> Option<u64> {
    if fci.len() < 8 || &fci[..4] != b"REMB" {
        return None;
    }
    let exp = u32::from(fci[5] >> 2);
    let mantissa = (u64::from(fci[5] & 0x03) << 16) | (u64::from(fci[6]) << 8) | u64::from(fci[7]);
    mantissa.checked_shl(exp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remb_is_read_from_its_fci() {
        // "REMB", 1 SSRC, exp 2, mantissa 250000 -> 1,000,000 bit/s.
        let mantissa: u32 = 250_000;
        let fci = [b'R', b'E', b'M', b'B', 1, (2 << 2) | ((mantissa >> 16) as u8 & 3), (mantissa >> 8) as u8, mantissa as u8, 0, 0, 0, 1];
        assert_eq!(remb_bitrate(&fci), Some(1_000_000));
        assert_eq!(remb_bitrate(b"NOPE1234"), None);
        assert_eq!(remb_bitrate(b"REMB"), None);
    }

    #[test]
    fn our_remb_is_a_compound_packet_peers_read_back() {
        let p = remb_packet(0x1111, 0x2222, 1_500_000);
        assert_eq!(p.len(), 8 + 24);
        assert_eq!(p[1], 201, "starts with a receiver report");
        assert_eq!((p[8] & 0x1f, p[9]), (15, 206), "PSFB, FMT 15");
        assert_eq!(u16::from_be_bytes([p[10], p[11]]) as usize, (24 / 4) - 1, "length in words minus one");
        assert_eq!(remb_bitrate(&p[20..]), Some(1_500_000 >> 3 << 3), "mantissa 18 bits");
        assert_eq!(&p[28..32], &0x2222u32.to_be_bytes());
        assert_eq!(remb_bitrate(&remb_packet(1, 2, 300_000)[20..]), Some(300_000 >> 1 << 1));
    }
}
