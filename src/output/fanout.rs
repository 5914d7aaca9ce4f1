//! One datagram to many destinations in one system call: `sendmmsg(2)`.
//!
//! A zone whose poles take unicast sends every packet once per pole. One
//! `sendto(2)` each costs a system call per pole per packet time (100 poles
//! at 20 ms: 5,000 calls a second for one zone); `sendmmsg` hands the kernel
//! the whole list at once. The headers are allocated once, with the zone;
//! their pointers (to the packet and to each destination's address) are
//! written just before each call, so nothing here outlives the call and
//! nothing allocates on the engine thread.
//!
//! When the kernel stops part way (a full socket buffer, or a pending ICMP
//! report failing the next send: see [`super::icmp`]), the message it
//! stopped at is sent alone to learn its own result, and the rest go on in
//! a new batch: one dead pole never costs a live one its packet.

use std::io;
use std::os::fd::AsRawFd;

use socket2::{SockAddr, Socket};

/// Preallocated `mmsghdr`s for one socket's destinations.
pub struct Fanout {
    headers: Vec<libc::mmsghdr>,
}

// SAFETY: the raw pointers inside `headers` are written by `send` just
// before the system call and are never read outside it; between calls they
// are stale values nobody dereferences, so moving a `Fanout` to the engine
// thread moves no live borrow.
unsafe impl Send for Fanout {}

impl Fanout {
    /// Room for `destinations` messages per call.
    pub fn new(destinations: usize) -> Fanout {
        // SAFETY: `mmsghdr` is plain C data; all-zero is a valid value
        // (null pointers, zero lengths).
        let zero: libc::mmsghdr = unsafe { std::mem::zeroed() };
        Fanout {
            headers: vec![zero; destinations],
        }
    }

    /// Send `buf` from `socket` to every one of `dests` (at most the count
    /// given to [`Fanout::new`]), calling `result(i, outcome)` once for each
    /// destination, in order.
    pub fn send(
        &mut self,
        socket: &Socket,
        buf: &[u8],
        dests: &[SockAddr],
        mut result: impl FnMut(usize, io::Result<usize>),
    ) {
        assert!(
            dests.len() <= self.headers.len(),
            "more destinations than room"
        );
        if dests.len() == 1 {
            result(0, super::icmp::send_to(socket, buf, &dests[0]));
            return;
        }
        // One iovec for every message: the kernel only reads it.
        let mut iov = libc::iovec {
            iov_base: buf.as_ptr() as *mut libc::c_void,
            iov_len: buf.len(),
        };
        let fd = socket.as_raw_fd();
        let mut start = 0;
        while start < dests.len() {
            let batch = &dests[start..];
            for (h, d) in self.headers.iter_mut().zip(batch) {
                h.msg_hdr.msg_name = d.as_ptr() as *mut libc::c_void;
                h.msg_hdr.msg_namelen = d.len();
                h.msg_hdr.msg_iov = &mut iov;
                h.msg_hdr.msg_iovlen = 1;
                h.msg_hdr.msg_control = std::ptr::null_mut();
                h.msg_hdr.msg_controllen = 0;
                h.msg_hdr.msg_flags = 0;
                h.msg_len = 0;
            }
            // SAFETY: the first `batch.len()` headers point at `iov` (which
            // points at `buf`) and at addresses in `batch`, all alive for
            // the call; the count is within `headers`.
            let sent = unsafe {
                libc::sendmmsg(
                    fd,
                    self.headers.as_mut_ptr(),
                    batch.len() as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            let sent = usize::try_from(sent).unwrap_or(0);
            for (k, h) in self.headers[..sent].iter().enumerate() {
                result(start + k, Ok(h.msg_len as usize));
            }
            start += sent;
            if start < dests.len() {
                // The kernel stopped at this one (or failed the first):
                // alone, it tells its own outcome.
                result(start, super::icmp::send_to(socket, buf, &dests[start]));
                start += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{SocketAddr, UdpSocket};
    use std::time::Duration;

    fn sender() -> Socket {
        let s = Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        s
    }

    #[test]
    fn every_destination_gets_the_datagram() {
        let receivers: Vec<UdpSocket> = (0..50)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let dests: Vec<SockAddr> = receivers
            .iter()
            .map(|r| r.local_addr().unwrap().into())
            .collect();
        let s = sender();
        let mut fan = Fanout::new(dests.len());
        let mut results = Vec::new();
        fan.send(&s, b"halo", &dests, |i, r| results.push((i, r.unwrap())));
        assert_eq!(results, (0..50).map(|i| (i, 4)).collect::<Vec<_>>());
        for r in &receivers {
            r.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut buf = [0u8; 16];
            let n = r.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"halo");
        }
    }

    /// A destination that fails (a port nobody listens on, with ICMP
    /// reports on) gets its error; the ones after it still get the packet.
    #[test]
    fn a_dead_destination_costs_the_others_nothing() {
        let live: Vec<UdpSocket> = (0..3)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let dead = UdpSocket::bind("127.0.0.1:0").unwrap();
        let dead_addr = dead.local_addr().unwrap();
        drop(dead);
        let mut dests: Vec<SockAddr> = vec![dead_addr.into()];
        dests.extend(live.iter().map(|r| SockAddr::from(r.local_addr().unwrap())));
        let s = sender();
        super::super::icmp::enable_reports(&s).unwrap();
        let mut fan = Fanout::new(dests.len());
        for round in 0..5u8 {
            let mut got = Vec::new();
            fan.send(&s, &[round], &dests, |i, r| got.push((i, r.is_ok())));
            assert_eq!(got.len(), dests.len());
            assert!(got[1..].iter().all(|(_, ok)| *ok), "round {round}: {got:?}");
            for r in &live {
                r.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let mut buf = [0u8; 4];
                let n = r.recv(&mut buf).unwrap();
                assert_eq!(&buf[..n], &[round]);
            }
        }
    }
}
