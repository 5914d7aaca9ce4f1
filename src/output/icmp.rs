//! "Nothing listens there": ICMP port-unreachable reports for a zone's
//! unicast destinations.
//!
//! A zone sends from one unconnected socket to all its destinations, and
//! Linux tells an unconnected socket nothing of the ICMP errors that come
//! back, unless `IP_RECVERR` is on. With it, each error is queued on the
//! socket's error queue with the destination it was about, which
//! [`drain_refused`] reads (the control plane does, not the engine).
//!
//! The price of `IP_RECVERR`: the error is also left pending on the socket,
//! and the next send on it, to whichever destination, fails once with
//! `ECONNREFUSED` without sending. [`send_to`] sends again at once in that
//! case, so a dead pole never costs a live one a packet.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsRawFd, RawFd};

/// Entries read from an error queue in one call at most: the queue is
/// bounded by the socket's buffer, and a loop here must end.
const MAX_PER_CALL: usize = 256;

/// Ask the kernel to queue ICMP errors on `socket` (IPv4).
pub fn enable_reports(socket: &impl AsRawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: setsockopt(2) on an open descriptor, with a pointer to a
    // c_int that lives across the call and its exact size.
    let r = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_IP,
            libc::IP_RECVERR,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// How many times a send is tried while it fails with a pending report.
/// Each failure clears the report, but reading the error queue (the
/// control plane does, meanwhile) sets the next queued one pending again.
const SEND_TRIES: usize = 4;

/// `socket.send_to(buf, dest)`, sent again when it failed with a pending
/// ICMP report of an earlier datagram (see the module docs).
pub fn send_to(
    socket: &socket2::Socket,
    buf: &[u8],
    dest: &socket2::SockAddr,
) -> io::Result<usize> {
    let mut result = socket.send_to(buf, dest);
    for _ in 1..SEND_TRIES {
        match &result {
            Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {
                result = socket.send_to(buf, dest);
            }
            _ => break,
        }
    }
    result
}

/// Read the error queue of the socket `fd` (non-blocking) and pass each
/// destination that answered "port unreachable" to `refused`. Returns how
/// many entries were read.
pub fn drain_refused(fd: RawFd, mut refused: impl FnMut(SocketAddr)) -> io::Result<usize> {
    let mut read = 0;
    while read < MAX_PER_CALL {
        match next_error(fd)? {
            None => break,
            Some(dest) => {
                read += 1;
                if let Some(dest) = dest {
                    refused(dest);
                }
            }
        }
    }
    Ok(read)
}

/// One entry of the error queue: `None` when it is empty; `Some(None)` for
/// an error that is not a refusal (or not about an IPv4 destination).
fn next_error(fd: RawFd) -> io::Result<Option<Option<SocketAddr>>> {
    // SAFETY: all-zero is a valid value of these plain C structs.
    let mut name: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    // u64 words: cmsg headers need their natural alignment.
    let mut control = [0u64; 64];
    let mut data = [0u8; 64];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: as above.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut name as *mut libc::sockaddr_in).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: recvmsg(2) with every pointer in `msg` valid for the sizes
    // given, all of it living across the call.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::WouldBlock {
            Ok(None)
        } else {
            Err(e)
        };
    }
    let mut refused = false;
    // SAFETY: the CMSG_* walk stays inside `control`, which recvmsg filled
    // and described in `msg.msg_controllen`; the extended error is read
    // unaligned from the data of a header of its own level and type.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_IP && (*cmsg).cmsg_type == libc::IP_RECVERR {
                let ee = (libc::CMSG_DATA(cmsg) as *const libc::sock_extended_err).read_unaligned();
                refused = ee.ee_origin == libc::SO_EE_ORIGIN_ICMP
                    && ee.ee_errno == libc::ECONNREFUSED as u32;
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    if !refused || name.sin_family != libc::AF_INET as libc::sa_family_t {
        return Ok(Some(None));
    }
    let ip = Ipv4Addr::from(u32::from_be(name.sin_addr.s_addr));
    let port = u16::from_be(name.sin_port);
    Ok(Some(Some(SocketAddr::V4(SocketAddrV4::new(ip, port)))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};

    /// A port on 127.0.0.1 where nothing listens (bound, then closed).
    fn dead_port() -> SocketAddr {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap()
    }

    #[test]
    fn a_dead_destination_is_reported_and_a_live_one_loses_nothing() {
        let sender = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
        sender
            .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
            .unwrap();
        enable_reports(&sender).unwrap();
        sender.set_nonblocking(true).unwrap();
        let dead = dead_port();
        let live = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        live.set_read_timeout(Some(std::time::Duration::from_secs(1)))
            .unwrap();
        let live_addr = SockAddr::from(live.local_addr().unwrap());
        let dead_addr = SockAddr::from(dead);
        for i in 0..20u8 {
            let _ = send_to(&sender, &[i], &dead_addr);
            // Loopback answers at once: the report is pending now.
            std::thread::sleep(std::time::Duration::from_millis(2));
            send_to(&sender, &[i], &live_addr).expect("the live pole's send");
        }
        let mut buf = [0u8; 4];
        for i in 0..20u8 {
            let n = live.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], &[i], "the live pole lost a packet");
        }
        let mut seen = Vec::new();
        drain_refused(sender.as_raw_fd(), |d| seen.push(d)).unwrap();
        assert!(!seen.is_empty(), "no report");
        assert!(seen.iter().all(|d| *d == dead), "{seen:?}");
    }
}
