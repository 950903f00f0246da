//! Local addresses and media sockets.
//!
//! One UDP socket per local address, bound to the first free port of
//! `minPort..=maxPort`; every WebRtcEndpoint shares them (str0m demultiplexes
//! by ICE credentials), so ports scale with addresses, not with peers.

use crate::config::Config;
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};

/// The IPv4 addresses to gather host candidates on.
///
/// With `networkInterfaces` set, the addresses of those interfaces; otherwise
/// every non-loopback interface, falling back to loopback when there is no
/// other (as libnice does for KMS).
pub fn host_addresses(interfaces: &[String]) -> std::io::Result<Vec<IpAddr>> {
    let all: Vec<_> = if_addrs::get_if_addrs()?.into_iter().filter(|i| i.ip().is_ipv4()).collect();
    let chosen: Vec<IpAddr> = if interfaces.is_empty() {
        let external: Vec<IpAddr> = all.iter().filter(|i| !i.is_loopback()).map(|i| i.ip()).collect();
        if external.is_empty() {
            all.iter().map(|i| i.ip()).collect()
        } else {
            external
        }
    } else {
        all.iter().filter(|i| interfaces.contains(&i.name)).map(|i| i.ip()).collect()
    };
    if chosen.is_empty() {
        return Err(std::io::Error::other(format!("no IPv4 address on the configured network interfaces {interfaces:?}")));
    }
    Ok(chosen)
}

/// Binds one non-blocking UDP socket per host address inside the port range.
pub fn bind_media_sockets(config: &Config) -> std::io::Result<Vec<UdpSocket>> {
    host_addresses(&config.network_interfaces)?
        .into_iter()
        .map(|ip| {
            let socket = bind_in_range(ip, config.min_port, config.max_port)?;
            tracing::info!(addr = %socket.local_addr()?, "media socket bound");
            Ok(socket)
        })
        .collect()
}

/// One non-blocking ICE-TCP listener per UDP socket's address: the same port
/// when free, else the first free one of the range. An address without a
/// listener only loses its TCP candidate.
pub fn bind_tcp_listeners(udp: &[UdpSocket], config: &Config) -> Vec<TcpListener> {
    udp.iter()
        .filter_map(|s| s.local_addr().ok())
        .filter_map(|addr| {
            let same = TcpListener::bind(addr).ok();
            let listener = same.or_else(|| (config.min_port..=config.max_port).find_map(|p| TcpListener::bind(SocketAddr::new(addr.ip(), p)).ok()));
            let listener = listener.or_else(|| {
                tracing::warn!(ip = %addr.ip(), "no free TCP port for ICE-TCP");
                None
            })?;
            listener.set_nonblocking(true).ok()?;
            tracing::info!(addr = ?listener.local_addr().ok(), "ICE-TCP listener bound");
            Some(listener)
        })
        .collect()
}

/// A non-blocking UDP socket on `ip` at the first free port of `min..=max`.
pub fn bind_in_range(ip: IpAddr, min: u16, max: u16) -> std::io::Result<UdpSocket> {
    let socket = (min..=max)
        .find_map(|port| UdpSocket::bind(SocketAddr::new(ip, port)).ok())
        .ok_or_else(|| std::io::Error::other(format!("no free UDP port on {ip} in {min}..={max}")))?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}
