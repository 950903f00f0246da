//! The key a worker routes datagrams by.

use kms_media::Transport;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};

/// A route: (transport, local address, remote address) of a datagram; one
/// lookup per datagram on a shared socket.
///
/// Hashed as one packed write (transport, then each address as its
/// IPv6(-mapped) octets and port): SipHash's cost is mostly per `write`
/// call, and the derived hash of the tuple made seven of them (2 % of the
/// server's instructions in one-to-one calls, `scripts/profile-viewers.sh
/// --calls`). Equality stays the addresses' own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteKey {
    pub transport: Transport,
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

/// Bytes of one address in the packed key: 16 of IP, 2 of port.
const ADDR_LEN: usize = 18;

impl Hash for RouteKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut packed = [0u8; 1 + 2 * ADDR_LEN];
        packed[0] = self.transport as u8;
        for (addr, at) in [(self.local, 1), (self.remote, 1 + ADDR_LEN)] {
            let ip = match addr.ip() {
                IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
                IpAddr::V6(v6) => v6.octets(),
            };
            packed[at..at + 16].copy_from_slice(&ip);
            packed[at + 16..at + ADDR_LEN].copy_from_slice(&addr.port().to_be_bytes());
        }
        state.write(&packed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Counts the hasher's `write` calls.
    #[derive(Default)]
    struct Writes(u32, u64);

    impl Hasher for Writes {
        fn write(&mut self, bytes: &[u8]) {
            self.0 += 1;
            self.1 = bytes.iter().fold(self.1, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(*b)));
        }
        fn finish(&self) -> u64 {
            self.1
        }
    }

    fn key(transport: Transport, local: &str, remote: &str) -> RouteKey {
        RouteKey { transport, local: local.parse().unwrap(), remote: remote.parse().unwrap() }
    }

    #[test]
    fn a_route_key_hashes_in_one_write_and_tells_routes_apart() {
        let mut h = Writes::default();
        key(Transport::Udp, "127.0.0.1:1024", "127.1.0.7:50000").hash(&mut h);
        assert_eq!(h.0, 1, "one packed write");
        let keys = [
            key(Transport::Udp, "127.0.0.1:1024", "127.1.0.7:50000"),
            key(Transport::Tcp, "127.0.0.1:1024", "127.1.0.7:50000"),
            key(Transport::Udp, "127.0.0.1:1024", "127.1.0.7:50001"),
            key(Transport::Udp, "127.0.0.1:1024", "127.1.0.8:50000"),
            key(Transport::Udp, "127.0.0.1:1025", "127.1.0.7:50000"),
            key(Transport::Udp, "[::1]:1024", "[::2]:50000"),
        ];
        let map: HashMap<RouteKey, usize> = keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
        assert_eq!(map.len(), keys.len());
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(map.get(k), Some(&i));
        }
    }
}
