//! A minimal STUN message codec (RFC 5389) with the TURN attributes of
//! RFC 5766: enough for a Binding (server-reflexive discovery) and a TURN
//! client over UDP. Parsing never panics; malformed input yields `None`.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

const MAGIC: u32 = 0x2112_A442;
const HEADER: usize = 20;

/// STUN methods used here (RFC 5389 §18.1, RFC 5766 §13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Binding = 0x001,
    Allocate = 0x003,
    Refresh = 0x004,
    Send = 0x006,
    Data = 0x007,
    CreatePermission = 0x008,
}

/// Message classes (RFC 5389 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Request,
    Indication,
    Success,
    Error,
}

/// Attribute types (RFC 5389 §18.2, RFC 5766 §14).
pub mod attr {
    pub const USERNAME: u16 = 0x0006;
    pub const MESSAGE_INTEGRITY: u16 = 0x0008;
    pub const ERROR_CODE: u16 = 0x0009;
    pub const LIFETIME: u16 = 0x000D;
    pub const XOR_PEER_ADDRESS: u16 = 0x0012;
    pub const DATA: u16 = 0x0013;
    pub const REALM: u16 = 0x0014;
    pub const NONCE: u16 = 0x0015;
    pub const XOR_RELAYED_ADDRESS: u16 = 0x0016;
    pub const REQUESTED_TRANSPORT: u16 = 0x0019;
    pub const XOR_MAPPED_ADDRESS: u16 = 0x0020;
}

/// A 96-bit transaction id.
pub type TransactionId = [u8; 12];

/// A message to encode. Attribute values are borrowed where they can be
/// (a relayed packet's DATA is copied once, into the encoded message).
#[derive(Debug, Clone)]
pub struct Message<'a> {
    pub method: Method,
    pub class: Class,
    pub transaction: TransactionId,
    attrs: Vec<(u16, Cow<'a, [u8]>)>,
}

impl<'a> Message<'a> {
    pub fn new(method: Method, class: Class, transaction: TransactionId) -> Message<'a> {
        Message { method, class, transaction, attrs: Vec::new() }
    }

    pub fn with(mut self, kind: u16, value: impl Into<Cow<'a, [u8]>>) -> Message<'a> {
        self.attrs.push((kind, value.into()));
        self
    }

    /// Adds an XOR-encoded address attribute (XOR-PEER-ADDRESS, ...).
    pub fn with_address(self, kind: u16, addr: SocketAddr) -> Message<'a> {
        let value = xor_address(addr, &self.transaction);
        self.with(kind, value)
    }

    /// The wire bytes; with `key`, a MESSAGE-INTEGRITY attribute
    /// (HMAC-SHA1, RFC 5389 §15.4) ends the message.
    pub fn encode(&self, key: Option<&[u8]>) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + self.attrs.iter().map(|(_, v)| 4 + v.len() + 3).sum::<usize>() + 24);
        out.extend_from_slice(&message_type(self.method, self.class).to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&MAGIC.to_be_bytes());
        out.extend_from_slice(&self.transaction);
        for (kind, value) in &self.attrs {
            out.extend_from_slice(&kind.to_be_bytes());
            out.extend_from_slice(&(value.len() as u16).to_be_bytes());
            out.extend_from_slice(value);
            out.resize(out.len().next_multiple_of(4), 0);
        }
        if let Some(key) = key {
            // The length covers MESSAGE-INTEGRITY itself when it is computed.
            let len = out.len() - HEADER + 24;
            set_length(&mut out, len);
            let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
            mac.update(&out);
            out.extend_from_slice(&attr::MESSAGE_INTEGRITY.to_be_bytes());
            out.extend_from_slice(&20u16.to_be_bytes());
            out.extend_from_slice(&mac.finalize().into_bytes());
        }
        let len = out.len() - HEADER;
        set_length(&mut out, len);
        out
    }
}

fn set_length(out: &mut [u8], len: usize) {
    out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
}

fn message_type(method: Method, class: Class) -> u16 {
    let m = method as u16;
    let c = match class {
        Class::Request => 0x000,
        Class::Indication => 0x010,
        Class::Success => 0x100,
        Class::Error => 0x110,
    };
    (m & 0x000F) | ((m & 0x0070) << 1) | ((m & 0x0F80) << 2) | c
}

/// A parsed message borrowing the datagram; attributes are looked up in place
/// (no allocation: Data indications carry every relayed packet).
#[derive(Debug)]
pub struct Parsed<'a> {
    pub method: u16,
    pub class: Class,
    pub transaction: TransactionId,
    body: &'a [u8],
}

/// The (type, value) attributes of a message body; stops at the first
/// malformed one.
fn attributes(body: &[u8]) -> impl Iterator<Item = Option<(u16, &[u8])>> + '_ {
    let mut rest = body;
    std::iter::from_fn(move || {
        if rest.len() < 4 {
            return None;
        }
        let t = u16::from_be_bytes([rest[0], rest[1]]);
        let l = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        let Some(value) = rest.get(4..4 + l) else {
            rest = &[];
            return Some(None);
        };
        rest = rest.get((4 + l).next_multiple_of(4)..).unwrap_or(&[]);
        Some(Some((t, value)))
    })
}

/// True when `buf` looks like a STUN message (RFC 5389 §6: top bits zero and
/// the magic cookie), as opposed to DTLS, RTP or TURN ChannelData.
pub fn is_stun(buf: &[u8]) -> bool {
    buf.len() >= HEADER && buf[0] & 0xC0 == 0 && buf[4..8] == MAGIC.to_be_bytes()
}

/// Parses a STUN message; `None` when malformed.
pub fn parse(buf: &[u8]) -> Option<Parsed<'_>> {
    if !is_stun(buf) {
        return None;
    }
    let kind = u16::from_be_bytes([buf[0], buf[1]]);
    let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    let body = buf.get(HEADER..HEADER + len)?;
    let class = match kind & 0x110 {
        0x000 => Class::Request,
        0x010 => Class::Indication,
        0x100 => Class::Success,
        _ => Class::Error,
    };
    let method = (kind & 0x000F) | ((kind >> 1) & 0x0070) | ((kind >> 2) & 0x0F80);
    if attributes(body).any(|a| a.is_none()) {
        return None;
    }
    let transaction = buf[8..20].try_into().ok()?;
    Some(Parsed { method, class, transaction, body })
}

impl<'a> Parsed<'a> {
    pub fn is(&self, method: Method, class: Class) -> bool {
        self.method == method as u16 && self.class == class
    }

    pub fn get(&self, kind: u16) -> Option<&'a [u8]> {
        attributes(self.body).flatten().find(|(t, _)| *t == kind).map(|(_, v)| v)
    }

    pub fn address(&self, kind: u16) -> Option<SocketAddr> {
        decode_xor_address(self.get(kind)?, &self.transaction)
    }

    pub fn text(&self, kind: u16) -> Option<&'a str> {
        std::str::from_utf8(self.get(kind)?).ok()
    }

    /// ERROR-CODE as its number (e.g. 401, 438).
    pub fn error_code(&self) -> Option<u16> {
        let v = self.get(attr::ERROR_CODE)?;
        Some(u16::from(*v.get(2)? & 0x07) * 100 + u16::from(*v.get(3)?))
    }

    pub fn lifetime(&self) -> Option<u32> {
        Some(u32::from_be_bytes(self.get(attr::LIFETIME)?.try_into().ok()?))
    }
}

fn xor_address(addr: SocketAddr, transaction: &TransactionId) -> Vec<u8> {
    let port = addr.port() ^ (MAGIC >> 16) as u16;
    let mut out = vec![0];
    match addr.ip() {
        IpAddr::V4(ip) => {
            out.push(1);
            out.extend_from_slice(&port.to_be_bytes());
            out.extend_from_slice(&(u32::from(ip) ^ MAGIC).to_be_bytes());
        }
        IpAddr::V6(ip) => {
            out.push(2);
            out.extend_from_slice(&port.to_be_bytes());
            let mask = xor_mask_v6(transaction);
            out.extend(ip.octets().iter().zip(mask).map(|(a, m)| a ^ m));
        }
    }
    out
}

fn xor_mask_v6(transaction: &TransactionId) -> [u8; 16] {
    let mut mask = [0u8; 16];
    mask[..4].copy_from_slice(&MAGIC.to_be_bytes());
    mask[4..].copy_from_slice(transaction);
    mask
}

fn decode_xor_address(v: &[u8], transaction: &TransactionId) -> Option<SocketAddr> {
    let port = u16::from_be_bytes([*v.get(2)?, *v.get(3)?]) ^ (MAGIC >> 16) as u16;
    let ip = match v.get(1)? {
        1 => IpAddr::V4(Ipv4Addr::from(u32::from_be_bytes(v.get(4..8)?.try_into().ok()?) ^ MAGIC)),
        2 => {
            let mut octets: [u8; 16] = v.get(4..20)?.try_into().ok()?;
            for (o, m) in octets.iter_mut().zip(xor_mask_v6(transaction)) {
                *o ^= m;
            }
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_addresses_and_integrity() {
        let tx = [7u8; 12];
        let peer: SocketAddr = "192.0.2.9:4242".parse().unwrap();
        let v6: SocketAddr = "[2001:db8::1]:9".parse().unwrap();
        let bytes = Message::new(Method::Send, Class::Indication, tx)
            .with_address(attr::XOR_PEER_ADDRESS, peer)
            .with_address(attr::XOR_RELAYED_ADDRESS, v6)
            .with(attr::DATA, &b"abc"[..])
            .encode(Some(b"key"));
        assert_eq!(bytes.len() % 4, 0);
        let m = parse(&bytes).unwrap();
        assert!(m.is(Method::Send, Class::Indication));
        assert_eq!(m.address(attr::XOR_PEER_ADDRESS), Some(peer));
        assert_eq!(m.address(attr::XOR_RELAYED_ADDRESS), Some(v6));
        assert_eq!(m.get(attr::DATA), Some(&b"abc"[..]));
        assert!(m.get(attr::MESSAGE_INTEGRITY).is_some());
    }

    #[test]
    fn the_type_field_interleaves_class_bits() {
        // RFC 5389 §6: a Binding success response is 0x0101, an Allocate error 0x0113.
        assert_eq!(message_type(Method::Binding, Class::Success), 0x0101);
        assert_eq!(message_type(Method::Allocate, Class::Error), 0x0113);
        assert_eq!(message_type(Method::Data, Class::Indication), 0x0017);
    }

    #[test]
    fn garbage_is_rejected_without_panicking() {
        assert!(parse(&[0u8; 10]).is_none());
        let mut truncated = Message::new(Method::Binding, Class::Request, [1; 12]).with(attr::USERNAME, &b"user"[..]).encode(None);
        truncated[3] = 200; // length beyond the datagram
        assert!(parse(&truncated).is_none());
        let mut bad_attr = Message::new(Method::Binding, Class::Request, [1; 12]).with(attr::USERNAME, &b"user"[..]).encode(None);
        bad_attr[23] = 99; // attribute longer than the message
        assert!(parse(&bad_attr).is_none());
    }
}
