//! The receiver's two UDP sockets: RTP on the listen port, RTCP on port + 1.
//!
//! A unicast address is bound as it is (`127.0.0.1:5004`, or `0.0.0.0:5004`
//! for every interface). A multicast group is bound by its own address, so
//! that the socket receives that group only, with `SO_REUSEADDR` so that
//! several receivers on one host each get every packet, and joined
//! (`IP_ADD_MEMBERSHIP`) on the interface named by `--interface`: an IPv4
//! address of the interface (`127.0.0.1`) or its name (`eth0`), which is
//! looked up with `if_nametoindex`. Without one the kernel picks the
//! interface by its routes. Both sockets are non-blocking.

use std::ffi::CString;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, Socket, Type};

/// Kernel receive buffer asked for each socket: a second of 48 kHz L16.
const RECV_BUFFER: usize = 256 * 1024;

/// The interface a multicast group is joined on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interface {
    Address(Ipv4Addr),
    Name(String),
}

impl std::fmt::Display for Interface {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Interface::Address(a) => write!(f, "{a}"),
            Interface::Name(n) => write!(f, "{n}"),
        }
    }
}

impl std::str::FromStr for Interface {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Ok(a) = s.parse() {
            return Ok(Interface::Address(a));
        }
        if s.is_empty() || s.len() > 15 || s.contains(['/', '\0', ' ']) {
            return Err(format!(
                "`{s}` is neither an IPv4 address nor an interface name"
            ));
        }
        Ok(Interface::Name(s.to_string()))
    }
}

impl Interface {
    fn to_socket2(&self) -> io::Result<InterfaceIndexOrAddress> {
        match self {
            Interface::Address(a) => Ok(InterfaceIndexOrAddress::Address(*a)),
            Interface::Name(n) => {
                let c = CString::new(n.as_str()).map_err(io::Error::other)?;
                // SAFETY: `c` is a valid NUL-terminated string for the call.
                let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
                if index == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("no network interface `{n}`"),
                    ));
                }
                Ok(InterfaceIndexOrAddress::Index(index))
            }
        }
    }
}

/// Open the RTP socket on `listen` and the RTCP one on its port + 1.
pub fn open(
    listen: SocketAddrV4,
    interface: Option<&Interface>,
) -> io::Result<(UdpSocket, UdpSocket)> {
    let rtcp_port = crate::rtp::rtcp_port(listen.port()).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "port 65535 leaves no port for RTCP",
        )
    })?;
    if listen.port() == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "listen on a port, not 0",
        ));
    }
    let rtp = open_one(listen, interface)?;
    let rtcp = open_one(SocketAddrV4::new(*listen.ip(), rtcp_port), interface)?;
    Ok((rtp, rtcp))
}

fn open_one(addr: SocketAddrV4, interface: Option<&Interface>) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    let group = *addr.ip();
    if group.is_multicast() {
        socket.set_reuse_address(true)?;
    }
    // Best effort: a smaller buffer still works.
    let _ = socket.set_recv_buffer_size(RECV_BUFFER);
    socket
        .bind(&addr.into())
        .map_err(|e| io::Error::new(e.kind(), format!("binding {addr}: {e}")))?;
    if group.is_multicast() {
        let iface = match interface {
            Some(i) => i.to_socket2()?,
            None => InterfaceIndexOrAddress::Address(Ipv4Addr::UNSPECIFIED),
        };
        socket.join_multicast_v4_n(&group, &iface).map_err(|e| {
            io::Error::new(e.kind(), format!("joining {group} on {interface:?}: {e}"))
        })?;
        // Only this group's packets, even if another socket on this host
        // joins another group on the same port.
        #[cfg(target_os = "linux")]
        let _ = socket.set_multicast_all_v4(false);
    }
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_and_addresses() {
        assert_eq!(
            "127.0.0.1".parse(),
            Ok(Interface::Address(Ipv4Addr::LOCALHOST))
        );
        assert_eq!("eth0".parse(), Ok(Interface::Name("eth0".into())));
        assert!("a/b".parse::<Interface>().is_err());
        let err = Interface::Name("nosuchif0".into())
            .to_socket2()
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn two_receivers_share_a_group_and_get_every_packet() {
        let port = 20_000 + (std::process::id() % 20_000) as u16 * 2;
        let group = Ipv4Addr::new(239, 255, 77, 1);
        let lo = Interface::Address(Ipv4Addr::LOCALHOST);
        let (a, _ra) = open(SocketAddrV4::new(group, port), Some(&lo)).unwrap();
        let (b, _rb) = open(SocketAddrV4::new(group, port), Some(&lo)).unwrap();
        let tx = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
        tx.set_multicast_if_v4(&Ipv4Addr::LOCALHOST).unwrap();
        tx.send_to(b"hello", &SocketAddrV4::new(group, port).into())
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let mut buf = [0u8; 16];
        assert_eq!(a.recv(&mut buf).unwrap(), 5);
        assert_eq!(b.recv(&mut buf).unwrap(), 5);
    }
}
