//! Who is on the other end of the control socket, from the kernel
//! (`SO_PEERCRED`), and whether they may talk to the daemon: root, the
//! daemon's own user, and members of the socket file's group (the
//! password and group databases read with the reentrant libc calls).

use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use tokio::net::UnixStream;

/// Who is on the other end of a connection, from the kernel (`SO_PEERCRED`),
/// not from anything the client says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub uid: u32,
    pub gid: u32,
    /// The client's process id, when the kernel reports it.
    pub pid: Option<i32>,
    /// The user name of `uid`, or the number as text if it has no name. The
    /// daemon records it with every request (as-run log, job origin).
    pub user: String,
}

pub(super) fn peer_of(stream: &UnixStream) -> io::Result<Peer> {
    let cred = stream.peer_cred()?;
    Ok(Peer {
        uid: cred.uid(),
        gid: cred.gid(),
        pid: cred.pid(),
        user: user_name(cred.uid()).unwrap_or_else(|| cred.uid().to_string()),
    })
}

/// Who may talk to the daemon, besides what the socket's mode enforces: root,
/// the daemon's own user, and members of the socket file's group.
pub(super) struct Access {
    own_uid: u32,
    group: Option<u32>,
}

impl Access {
    pub(super) fn new(socket: Option<&Path>) -> Access {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let own_uid = unsafe { libc::geteuid() };
        let group = socket
            .and_then(|p| std::fs::metadata(p).ok())
            .map(|m| m.gid());
        Access { own_uid, group }
    }

    pub(super) fn allows(&self, peer: &Peer) -> bool {
        if peer.uid == 0 || peer.uid == self.own_uid {
            return true;
        }
        match self.group {
            // We could not see the socket's group; the file mode decides.
            None => true,
            Some(gid) => {
                peer.gid == gid || groups_of(&peer.user, peer.gid).is_some_and(|g| g.contains(&gid))
            }
        }
    }
}

/// The user name of `uid` from the password database (getpwuid_r).
pub fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: `pwd` is plain data that getpwuid_r fills; `buf` outlives
        // every pointer into it, and we pass its true length.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = unsafe {
            libc::getpwuid_r(
                uid,
                &mut pwd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        // SAFETY: on success pw_name points to a NUL-terminated string in `buf`.
        let name = unsafe { CStr::from_ptr(pwd.pw_name) };
        return Some(name.to_string_lossy().into_owned());
    }
}

/// The gid of group `name` (getgrnam_r). A name that is all digits and not
/// a group's name is taken as a gid.
pub fn resolve_group(name: &str) -> io::Result<u32> {
    let not_found = || {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("control socket group `{name}` does not exist"),
        )
    };
    let c_name = CString::new(name).map_err(|_| not_found())?;
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: as in `user_name`: `grp` is filled by getgrnam_r, `buf`
        // outlives the call, and its true length is passed.
        let mut grp: libc::group = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::group = std::ptr::null_mut();
        let rc = unsafe {
            libc::getgrnam_r(
                c_name.as_ptr(),
                &mut grp,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc == 0 && !result.is_null() {
            return Ok(grp.gr_gid);
        }
        return name.parse::<u32>().map_err(|_| not_found());
    }
}

/// Every group `user` is in, with `primary` (getgrouplist).
fn groups_of(user: &str, primary: u32) -> Option<Vec<u32>> {
    let c_user = CString::new(user).ok()?;
    let mut groups: Vec<libc::gid_t> = vec![0; 64];
    for _ in 0..8 {
        let mut n = groups.len() as libc::c_int;
        // SAFETY: `groups` has room for `n` entries; getgrouplist writes at
        // most `n` and sets `n` to the number it needs.
        let rc =
            unsafe { libc::getgrouplist(c_user.as_ptr(), primary, groups.as_mut_ptr(), &mut n) };
        if rc >= 0 {
            groups.truncate(n.max(0) as usize);
            return Some(groups);
        }
        groups.resize((n.max(0) as usize).max(groups.len() * 2), 0);
    }
    None
}
