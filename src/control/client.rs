//! The operator's side: connect to the socket, send a request, read the
//! replies. Blocking std I/O: the CLI is synchronous and needs no runtime.
//! (Which socket is the CLI's business: `cli/socket.rs`.)
//!
//! Every wait is bounded: connecting takes at most [`CONNECT_TIMEOUT`], a
//! reply at most [`REPLY_TIMEOUT`]. Streams (`--wait`) have no reply timeout
//! by default (an announcement `--at 18:00` legitimately waits hours), but a
//! daemon that dies closes the socket, which ends the wait with an error.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::protocol::{ErrorCode, Progress, Reply, Request, Response};

/// How long connecting may take before the daemon counts as not answering.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How long the daemon may take to answer a request.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest reply line the client reads (a long `log`), in bytes.
pub const MAX_REPLY: usize = 16 * 1024 * 1024;

/// What went wrong talking to the daemon. `Display` is one line, ready for
/// stderr, starting with `corong:`.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens at the socket path (missing file, connection refused).
    #[error("corong: the daemon is not running (no answer on {})", path.display())]
    NotRunning { path: PathBuf },
    /// The socket's mode keeps this user out.
    #[error("corong: permission denied on {}: ask the administrator to add you to the operators group", path.display())]
    PermissionDenied { path: PathBuf },
    /// Connected (or connecting) but no answer in time: the daemon is stuck
    /// or overloaded.
    #[error("corong: the daemon on {} does not answer", path.display())]
    NotResponding { path: PathBuf },
    /// The daemon closed the connection before its final reply (it stopped
    /// or crashed).
    #[error("corong: the daemon on {} closed the connection before answering", path.display())]
    Closed { path: PathBuf },
    #[error("corong: cannot talk to the daemon on {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    /// The daemon answered something this client does not understand.
    #[error("corong: unexpected reply from the daemon: {0}")]
    Protocol(String),
    /// The daemon refused or failed the request; `message` is its one line.
    #[error("corong: {message}")]
    Refused { code: ErrorCode, message: String },
    /// A file to send could not be read here (this user cannot read it
    /// either, or it is not a regular file).
    #[error("corong: {0}")]
    File(String),
}

impl ClientError {
    /// A process exit status for this error (the table in
    /// docs/operation.md): 3 when the daemon cannot be reached (not
    /// running, not answering, gone), 4 for permission denied, 2 for a
    /// value the operator typed that the daemon refused as bad (a garbled
    /// or past `--at`), 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            ClientError::NotRunning { .. }
            | ClientError::NotResponding { .. }
            | ClientError::Closed { .. } => 3,
            ClientError::PermissionDenied { .. } => 4,
            ClientError::Refused {
                code: ErrorCode::Denied,
                ..
            } => 4,
            ClientError::Refused {
                code: ErrorCode::BadRequest,
                ..
            } => 2,
            _ => 1,
        }
    }

    /// The protocol's error code for this error, for `--json` output.
    pub fn code(&self) -> ErrorCode {
        match self {
            ClientError::NotRunning { .. }
            | ClientError::NotResponding { .. }
            | ClientError::Closed { .. } => ErrorCode::Unavailable,
            ClientError::PermissionDenied { .. } => ErrorCode::Denied,
            ClientError::Refused { code, .. } => *code,
            ClientError::Io { .. } | ClientError::Protocol(_) | ClientError::File(_) => {
                ErrorCode::Failed
            }
        }
    }

    /// The message without the `corong: ` prefix.
    pub fn message(&self) -> String {
        let text = self.to_string();
        text.strip_prefix("corong: ").unwrap_or(&text).to_string()
    }
}

/// A connection to the daemon. Requests go one at a time.
pub struct Client {
    path: PathBuf,
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    reply_timeout: Duration,
    stream_timeout: Option<Duration>,
}

impl Client {
    /// Connect to the daemon's socket at `path`, within [`CONNECT_TIMEOUT`].
    pub fn connect(path: &Path) -> Result<Client, ClientError> {
        let stream = connect_bounded(path, CONNECT_TIMEOUT)?;
        let io_err = |source| ClientError::Io {
            path: path.to_path_buf(),
            source,
        };
        stream
            .set_write_timeout(Some(REPLY_TIMEOUT))
            .map_err(io_err)?;
        let writer = stream.try_clone().map_err(io_err)?;
        Ok(Client {
            path: path.to_path_buf(),
            reader: BufReader::new(stream),
            writer,
            reply_timeout: REPLY_TIMEOUT,
            stream_timeout: None,
        })
    }

    /// Change how long a reply may take (default [`REPLY_TIMEOUT`]).
    pub fn set_reply_timeout(&mut self, timeout: Duration) {
        self.reply_timeout = timeout;
    }

    /// Give up on a stream when no line comes for this long (default `None`:
    /// wait as long as the daemon lives).
    pub fn set_stream_timeout(&mut self, timeout: Option<Duration>) {
        self.stream_timeout = timeout;
    }

    /// Send `req` and return the final response (`Ok` or `Err`); progress
    /// lines, if any, are skipped.
    pub fn request(&mut self, req: &Request) -> Result<Response, ClientError> {
        self.request_stream(req, |_| {})
    }

    /// Send `req`, pass each progress line to `on_progress`, and return the
    /// final response. Requests that stream ([`Request::streams`]) read
    /// without the reply timeout (see [`Client::set_stream_timeout`]).
    pub fn request_stream(
        &mut self,
        req: &Request,
        mut on_progress: impl FnMut(&Progress),
    ) -> Result<Response, ClientError> {
        let mut line = req.to_line().into_bytes();
        line.push(b'\n');
        if let Err(e) = self.writer.write_all(&line) {
            // The daemon may have refused the connection (permission
            // denied, too busy) and closed it before reading the request:
            // its reply, if it sent one, says why.
            self.reader
                .get_ref()
                .set_read_timeout(Some(self.reply_timeout))
                .map_err(|e| self.map_io(e))?;
            return match self.read_response() {
                Ok(resp @ Response::Err { .. }) => Ok(resp),
                _ => Err(self.map_io(e)),
            };
        }
        let timeout = if req.streams() {
            self.stream_timeout
        } else {
            Some(self.reply_timeout)
        };
        self.reader
            .get_ref()
            .set_read_timeout(timeout)
            .map_err(|e| self.map_io(e))?;
        loop {
            let resp = self.read_response()?;
            match resp {
                Response::Progress(p) => on_progress(&p),
                other => return Ok(other),
            }
        }
    }

    /// Like [`Client::request`], with an error reply turned into
    /// [`ClientError::Refused`].
    pub fn call(&mut self, req: &Request) -> Result<Reply, ClientError> {
        self.call_stream(req, |_| {})
    }

    /// Like [`Client::request_stream`], with an error reply turned into
    /// [`ClientError::Refused`].
    pub fn call_stream(
        &mut self,
        req: &Request,
        on_progress: impl FnMut(&Progress),
    ) -> Result<Reply, ClientError> {
        match self.request_stream(req, on_progress)? {
            Response::Ok(reply) => Ok(reply),
            Response::Err { code, error } => Err(ClientError::Refused {
                code,
                message: error,
            }),
            Response::Progress(_) => unreachable!("request_stream returns final replies"),
        }
    }

    /// Send the content of `file` (`upload`): for a file the daemon's
    /// user cannot read. Returns where the daemon keeps it.
    pub fn upload(&mut self, file: &Path) -> Result<super::protocol::UploadResult, ClientError> {
        let mut f =
            crate::media::open_regular(file).map_err(|e| ClientError::File(e.to_string()))?;
        let size = f
            .metadata()
            .map_err(|e| ClientError::File(format!("{}: {e}", file.display())))?
            .len();
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.upload_from(&name, size, &mut f).map_err(|e| match e {
            ClientError::File(why) => ClientError::File(format!("{}: {why}", file.display())),
            e => e,
        })
    }

    /// Send `bytes` as a file called `name` (only its extension counts:
    /// the format hint): audio made by the client, such as a recorded page.
    pub fn upload_bytes(
        &mut self,
        name: &str,
        bytes: &[u8],
    ) -> Result<super::protocol::UploadResult, ClientError> {
        self.upload_from(name, bytes.len() as u64, &mut &bytes[..])
    }

    /// Exactly `size` bytes of `content` after an `upload` request line.
    fn upload_from(
        &mut self,
        name: &str,
        size: u64,
        content: &mut impl Read,
    ) -> Result<super::protocol::UploadResult, ClientError> {
        let req = Request::Upload {
            name: name.to_string(),
            size,
        };
        req.validate()
            .map_err(|e| ClientError::File(e.to_string()))?;
        let mut line = req.to_line().into_bytes();
        line.push(b'\n');
        self.writer.write_all(&line).map_err(|e| self.map_io(e))?;
        // Exactly `size` bytes, even if a file grows meanwhile.
        let sent =
            io::copy(&mut content.take(size), &mut self.writer).map_err(|e| self.map_io(e))?;
        if sent != size {
            return Err(ClientError::File(format!(
                "it shrank to {sent} bytes while it was sent"
            )));
        }
        self.reader
            .get_ref()
            .set_read_timeout(Some(self.reply_timeout))
            .map_err(|e| self.map_io(e))?;
        match self.read_response()? {
            Response::Ok(Reply::Uploaded(r)) => Ok(r),
            Response::Err { code, error } => Err(ClientError::Refused {
                code,
                message: error,
            }),
            other => Err(ClientError::Protocol(format!(
                "unexpected reply to upload: {other:?}"
            ))),
        }
    }

    fn read_response(&mut self) -> Result<Response, ClientError> {
        let mut buf = Vec::new();
        let n = (&mut self.reader)
            .take(MAX_REPLY as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|e| self.map_io(e))?;
        if n == 0 {
            return Err(ClientError::Closed {
                path: self.path.clone(),
            });
        }
        if buf.last() != Some(&b'\n') {
            return Err(if buf.len() > MAX_REPLY {
                ClientError::Protocol(format!("reply longer than {MAX_REPLY} bytes"))
            } else {
                ClientError::Closed {
                    path: self.path.clone(),
                }
            });
        }
        let text = std::str::from_utf8(&buf)
            .map_err(|_| ClientError::Protocol("reply is not UTF-8".into()))?;
        Response::from_line(text.trim_end()).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    fn map_io(&self, e: io::Error) -> ClientError {
        let path = self.path.clone();
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                ClientError::NotResponding { path }
            }
            io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::UnexpectedEof => ClientError::Closed { path },
            _ => ClientError::Io { path, source: e },
        }
    }
}

/// Connect with a bound. On Linux a blocking connect to a Unix socket waits
/// only when the listener's backlog is full, and that wait is bounded by
/// `SO_SNDTIMEO`, so setting it first bounds the connect.
fn connect_bounded(path: &Path, timeout: Duration) -> Result<UnixStream, ClientError> {
    let owned = || path.to_path_buf();
    let io_err = |source| ClientError::Io {
        path: owned(),
        source,
    };
    let addr = socket2::SockAddr::unix(path).map_err(io_err)?;
    let socket =
        socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).map_err(io_err)?;
    socket.set_write_timeout(Some(timeout)).map_err(io_err)?;
    match socket.connect(&addr) {
        Ok(()) => Ok(socket.into()),
        Err(e) => Err(match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                ClientError::NotRunning { path: owned() }
            }
            // A path through something that is not a folder: nothing there.
            _ if e.raw_os_error() == Some(libc::ENOTDIR) => {
                ClientError::NotRunning { path: owned() }
            }
            io::ErrorKind::PermissionDenied => ClientError::PermissionDenied { path: owned() },
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                ClientError::NotResponding { path: owned() }
            }
            _ => ClientError::Io {
                path: owned(),
                source: e,
            },
        }),
    }
}

/// Make announcement files absolute against the client's working directory
/// (the daemon's is elsewhere). Paths are not canonicalized: the daemon
/// reports a missing file itself.
pub fn absolute_files(files: &[PathBuf]) -> io::Result<Vec<PathBuf>> {
    files.iter().map(std::path::absolute).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_one_line_and_name_the_path() {
        let e = ClientError::NotRunning {
            path: "/run/corong.sock".into(),
        };
        assert_eq!(
            e.to_string(),
            "corong: the daemon is not running (no answer on /run/corong.sock)"
        );
        assert_eq!(e.exit_code(), 3);
        let e = ClientError::PermissionDenied {
            path: "/run/corong.sock".into(),
        };
        assert!(e.to_string().contains("operators group"));
        assert_eq!(e.exit_code(), 4);
    }

    #[test]
    fn relative_files_become_absolute() {
        let out = absolute_files(&["a.wav".into(), "/b.wav".into()]).unwrap();
        assert!(out[0].is_absolute() && out[0].ends_with("a.wav"));
        assert_eq!(out[1], PathBuf::from("/b.wav"));
    }
}
