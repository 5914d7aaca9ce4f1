//! The daemon's side of the control socket: bind it safely, accept
//! operators' connections, read bounded request lines, and hand each request
//! to a [`Handler`] with the peer's credentials.
//!
//! Flow (as in mini-redis): [`serve`] accepts -> one task per connection ->
//! bounded line reader -> [`Request::from_line`] -> [`Request::validate`] ->
//! [`Handler::handle`] -> reply lines until the final one.
//!
//! A connection may send several requests one after another. A line that is
//! not a valid request (too long, not UTF-8, not JSON, wrong version) gets
//! one error line and the connection is closed; every other connection goes
//! on. A connection idle for [`ServeOptions::idle_timeout`] is closed, and
//! one that sends nothing at all within
//! [`ServeOptions::first_request_timeout`] sooner.
//!
//! # When every place is taken
//!
//! At most [`ServeOptions::max_connections`] connections are served at once,
//! and an emergency must get through all the same. So a new connection
//! first takes the place of the connection that has waited longest without
//! a request in progress (idle connections hold no work; their client can
//! reconnect). Only when every place holds a request in progress (64
//! `--wait` streams) is a new connection triaged: its first request is read
//! within [`TRIAGE_TIMEOUT`], and `emergency` (start or stop) is served
//! anyway; anything else gets "too many connections". Triage itself is
//! bounded ([`ServeOptions::max_connections`] more at once).

use std::future::Future;
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, OwnedSemaphorePermit, Semaphore};

use super::peer::{peer_of, Access};
pub use super::peer::{resolve_group, user_name, Peer};
use super::protocol::{ErrorCode, ProtocolError, Request, Response, MAX_LINE};

/// What the daemon does with requests. The control module only moves lines;
/// the daemon implements this.
///
/// # Contract
///
/// `handle` is a plain function called on a tokio worker thread, once per
/// request, after [`Request::validate`] succeeded. It must not block: do
/// quick work inline, or `tokio::spawn` a task that owns `reply` for longer
/// work (`announce` with `wait`).
///
/// Send replies through `reply`:
/// - most commands: exactly one final [`Response`] (`Ok` or `Err`);
/// - `announce`/`say` with `wait`: any number of [`Response::Progress`],
///   then one final `Ok(Reply::Finished(..))` (or `Err`).
///
/// The exchange ends at the first final response; anything sent after it is
/// dropped. Dropping `reply` without a final response makes the server send
/// `{"ok":false,"code":"failed"}` for you. If the client goes away, `send`
/// fails: stop working for it (the job itself goes on).
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, req: Request, peer: Peer, reply: mpsc::Sender<Response>);

    /// A `page_live` request, with the connection its audio comes on (see
    /// `control/live.rs`): the handler reads the audio from `socket` on a
    /// thread of its own and answers through `reply` as `handle` does; the
    /// exchange ends at its final response. Refused unless implemented.
    fn handle_live(
        &self,
        req: Request,
        peer: Peer,
        socket: LiveSocket,
        reply: mpsc::Sender<Response>,
    ) {
        let _ = (req, peer, socket);
        let _ = reply.try_send(Response::error(
            ErrorCode::Unavailable,
            "live pages are not served here",
        ));
    }
}

/// The connection a live page's audio comes on: a second handle on the
/// client's socket (non-blocking: poll it), and any bytes of the audio the
/// server had already read with the request.
#[derive(Debug)]
pub struct LiveSocket {
    pub stream: std::os::unix::net::UnixStream,
    pub early: Vec<u8>,
}

/// Limits of the server. `Default` gives the documented values.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Close a connection that sends no complete request line for this long.
    /// Default 30 s.
    pub idle_timeout: Duration,
    /// Give up on a client that does not read its replies for this long.
    /// Default 10 s.
    pub write_timeout: Duration,
    /// Connections served at once; see "When every place is taken" in the
    /// module's docs. Default 64.
    pub max_connections: usize,
    /// Close a new connection that sends no complete request for this long:
    /// a client sends its request as soon as it connects. Default 3 s.
    pub first_request_timeout: Duration,
    /// Where `upload`ed files are kept (see `upload.rs`); `None`: uploads
    /// are refused. Default `None`.
    pub upload_dir: Option<std::path::PathBuf>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            idle_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(10),
            max_connections: 64,
            first_request_timeout: Duration::from_secs(3),
            upload_dir: None,
        }
    }
}

/// How long a connection over the limit has to send its first request (to
/// be served if it is an emergency).
pub const TRIAGE_TIMEOUT: Duration = Duration::from_secs(1);

/// A counted place among [`ServeOptions::max_connections`], given back
/// when the connection ends.
struct Place(Arc<std::sync::atomic::AtomicUsize>);

impl Place {
    fn take(count: &Arc<std::sync::atomic::AtomicUsize>) -> Place {
        count.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Place(count.clone())
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// What a connection holds while it is served.
enum Held {
    /// One of the counted places.
    Place(#[allow(dead_code)] Place),
    /// A place in triage (over the limit, emergencies only).
    Triage(#[allow(dead_code)] OwnedSemaphorePermit),
}

/// The connections that wait for a request (none in progress), oldest
/// first: the ones to close when a new connection needs a place.
#[derive(Default)]
struct IdleSet {
    inner: std::sync::Mutex<IdleInner>,
}

#[derive(Default)]
struct IdleInner {
    next: u64,
    /// Key: when it went idle (a counter); value: how to close it.
    waiting: std::collections::BTreeMap<u64, Arc<tokio::sync::Notify>>,
}

/// A connection's entry in the [`IdleSet`], left when dropped: on every
/// way out of a wait, so that no entry outlives its connection (an entry
/// evicted in vain would let a new connection in over the limit).
struct IdleEntry {
    set: Arc<IdleSet>,
    key: u64,
}

impl Drop for IdleEntry {
    fn drop(&mut self) {
        self.set.leave(self.key);
    }
}

impl IdleSet {
    /// `close` waits for a request from now on, until the entry drops.
    fn enter(set: &Arc<IdleSet>, close: &Arc<tokio::sync::Notify>) -> IdleEntry {
        // A plain mutex: held for a map operation, never across an await.
        let mut inner = set.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.next += 1;
        let key = inner.next;
        inner.waiting.insert(key, close.clone());
        IdleEntry {
            set: set.clone(),
            key,
        }
    }

    fn leave(&self, key: u64) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.waiting.remove(&key);
    }

    /// Ask the longest-idle connection to close; false if none is idle.
    fn evict_oldest(&self) -> bool {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match inner.waiting.pop_first() {
            Some((_, close)) => {
                close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Create the control socket at `path`, mode 0660, group `group` (a name, or
/// a number) if given.
///
/// - Creates the parent folder.
/// - A socket file nobody answers on (left by a power cut) is removed; one a
///   daemon answers on is an error "another corong daemon is already running
///   on PATH". A file there that is not a socket is never removed.
/// - The group is resolved before binding, and failing to give the socket to
///   it is an error naming the group (the socket is then removed).
///
/// Must be called inside a tokio runtime. Between `bind(2)` and `chmod(2)`
/// the file has the mode the umask gives; [`serve`] also checks each peer's
/// credentials, so that window lets nobody in.
pub fn bind(path: &Path, group: Option<&str>) -> io::Result<UnixListener> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot create folder {}: {e}", parent.display()),
            )
        })?;
    }
    remove_stale_socket(path)?;
    let gid = group.map(resolve_group).transpose()?;

    let listener = UnixListener::bind(path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot bind control socket {}: {e}", path.display()),
        )
    })?;
    let finish = || -> io::Result<()> {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot set mode 0660 on {}: {e}", path.display()),
            )
        })?;
        if let (Some(gid), Some(name)) = (gid, group) {
            std::os::unix::fs::chown(path, None, Some(gid)).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "cannot give control socket {} to group `{name}` (gid {gid}): {e}",
                        path.display()
                    ),
                )
            })?;
        }
        Ok(())
    };
    if let Err(e) = finish() {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(listener)
}

fn remove_stale_socket(path: &Path) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(io::Error::new(
                e.kind(),
                format!("cannot look at {}: {e}", path.display()),
            ))
        }
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!(
                "{} exists and is not a socket; not touching it",
                path.display()
            ),
        ));
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "another corong daemon is already running on {}",
                path.display()
            ),
        )),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::info!(path = %path.display(), "removing stale control socket");
            std::fs::remove_file(path).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("cannot remove stale socket {}: {e}", path.display()),
                )
            })
        }
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("cannot check existing socket {}: {e}", path.display()),
        )),
    }
}

/// Serve requests on `listener` until `shutdown` completes, with the default
/// [`ServeOptions`].
pub async fn serve(
    listener: UnixListener,
    handler: Arc<dyn Handler>,
    shutdown: impl Future<Output = ()>,
) {
    serve_with(listener, handler, shutdown, ServeOptions::default()).await
}

/// Serve requests on `listener` until `shutdown` completes.
///
/// On shutdown it stops accepting, tells every connection (a connection in
/// the middle of a `wait` stream gets an `unavailable` error line), waits for
/// them to finish, and removes the socket file.
pub async fn serve_with(
    listener: UnixListener,
    handler: Arc<dyn Handler>,
    shutdown: impl Future<Output = ()>,
    opts: ServeOptions,
) {
    let socket_path = listener
        .local_addr()
        .ok()
        .and_then(|a| a.as_pathname().map(Path::to_path_buf));
    let access = Access::new(socket_path.as_deref());
    // Dropping `notify_shutdown` tells every connection; each holds a clone
    // of `done_tx`, so `done_rx` sees `None` when the last one has finished.
    let (notify_shutdown, _) = broadcast::channel::<()>(1);
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let server = Server {
        listener,
        handler,
        opts: opts.clone(),
        access: Arc::new(access),
        places: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        triage: Arc::new(Semaphore::new(opts.max_connections.max(1))),
        idle: Arc::new(IdleSet::default()),
        notify_shutdown: notify_shutdown.clone(),
        done_tx,
    };
    tokio::select! {
        _ = server.accept_loop() => {}
        _ = shutdown => tracing::debug!("control socket shutting down"),
    }
    // Stop accepting, tell every connection, and drop our `done_tx` (in
    // `server`) so that `done_rx` ends when the last connection has.
    drop(server);
    drop(notify_shutdown);
    let _ = done_rx.recv().await;
    if let Some(path) = socket_path {
        let _ = std::fs::remove_file(path);
    }
}

struct Server {
    listener: UnixListener,
    handler: Arc<dyn Handler>,
    opts: ServeOptions,
    access: Arc<Access>,
    /// Connections served now (see [`Place`]).
    places: Arc<std::sync::atomic::AtomicUsize>,
    /// Places for connections over the limit, whose first request is read
    /// to serve emergencies.
    triage: Arc<Semaphore>,
    idle: Arc<IdleSet>,
    notify_shutdown: broadcast::Sender<()>,
    done_tx: mpsc::Sender<()>,
}

impl Server {
    /// Accept forever. Accept errors (out of file descriptors) are logged and
    /// retried with a backoff of up to a second: an unattended daemon must
    /// not lose its control socket to a passing fd shortage.
    async fn accept_loop(&self) {
        let mut backoff = Duration::from_millis(10);
        loop {
            let stream = match self.listener.accept().await {
                Ok((stream, _)) => {
                    backoff = Duration::from_millis(10);
                    stream
                }
                Err(e) => {
                    tracing::warn!("control socket accept failed: {e}; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            };
            let conn = Connection {
                handler: self.handler.clone(),
                opts: self.opts.clone(),
                access: self.access.clone(),
                shutdown: self.notify_shutdown.subscribe(),
                idle: self.idle.clone(),
                _done: self.done_tx.clone(),
                _held: None,
            };
            // A place now, or the place of the connection idle longest: it
            // is told to close and goes within a poll, so the count runs
            // over the limit only by the closes in flight. Nobody waits.
            let full = self.places.load(std::sync::atomic::Ordering::Acquire)
                >= self.opts.max_connections.max(1);
            if !full || self.idle.evict_oldest() {
                // Idle (and so a candidate to make room) from the start,
                // before its task has even run.
                let close = Arc::new(tokio::sync::Notify::new());
                let entry = IdleSet::enter(&self.idle, &close);
                let conn = conn.holding(Held::Place(Place::take(&self.places)));
                tokio::spawn(conn.run(stream, close, entry));
                continue;
            }
            match self.triage.clone().try_acquire_owned() {
                Ok(permit) => {
                    tokio::spawn(conn.holding(Held::Triage(permit)).triage(stream));
                }
                Err(_) => {
                    tokio::spawn(conn.refuse_busy(stream));
                }
            }
        }
    }
}

/// Read and drop what a refused client has sent, for at most half a
/// second, before closing. Closing a socket with unread input resets the
/// connection, and the client may then lose the reply that says why it was
/// refused (it saw "closed the connection" instead of "denied").
async fn drain_before_close(mut rd: tokio::net::unix::OwnedReadHalf) {
    use tokio::io::AsyncReadExt;
    let mut sink = [0u8; 1024];
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        while let Ok(n) = rd.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

struct Connection {
    handler: Arc<dyn Handler>,
    opts: ServeOptions,
    access: Arc<Access>,
    shutdown: broadcast::Receiver<()>,
    idle: Arc<IdleSet>,
    /// Held until this connection ends; see `serve_with`.
    _done: mpsc::Sender<()>,
    _held: Option<Held>,
}

/// "Too many connections", as a reply.
fn busy() -> Response {
    Response::error(
        ErrorCode::Unavailable,
        "the daemon is serving too many connections; try again",
    )
}

impl Connection {
    fn holding(mut self, held: Held) -> Connection {
        self._held = Some(held);
        self
    }

    async fn refuse_busy(self, stream: UnixStream) {
        let (rd, mut wr) = stream.into_split();
        let _ = write_response(&mut wr, &busy(), self.opts.write_timeout).await;
        let _ = wr.shutdown().await;
        drain_before_close(rd).await;
    }

    /// Over the limit with nothing to evict: serve the first request only
    /// if it is an emergency (start or stop); refuse anything else.
    async fn triage(mut self, stream: UnixStream) {
        let Ok(peer) = peer_of(&stream) else {
            return;
        };
        let (rd, mut wr) = stream.into_split();
        let mut reader = BufReader::with_capacity(8 * 1024, rd);
        let line = tokio::time::timeout(TRIAGE_TIMEOUT, read_line_bounded(&mut reader, MAX_LINE))
            .await
            .ok()
            .and_then(Result::ok)
            .flatten();
        // The triage place guards the read; what follows is one bounded
        // answer, and a client that connects again at once must find the
        // place free.
        drop(self._held.take());
        let req = line.and_then(|l| Request::from_line(&l).ok());
        match req {
            Some(req @ Request::Emergency { .. })
                if self.access.allows(&peer) && req.validate().is_ok() =>
            {
                tracing::warn!(user = %peer.user, "serving an emergency request over the connection limit");
                tracing::info!(user = %peer.user, uid = peer.uid, pid = peer.pid.unwrap_or_default(), cmd = req.name(), "control request");
                self.exchange(req, &peer, &mut wr, None).await;
            }
            _ => {
                let _ = write_response(&mut wr, &busy(), self.opts.write_timeout).await;
            }
        }
        let _ = wr.shutdown().await;
        drain_before_close(reader.into_inner()).await;
    }

    /// Serve requests until the client goes, idles too long, or is told to
    /// `close` (it is in the idle set as `entry` already).
    async fn run(mut self, stream: UnixStream, close: Arc<tokio::sync::Notify>, entry: IdleEntry) {
        let peer = match peer_of(&stream) {
            Ok(peer) => peer,
            Err(e) => {
                tracing::warn!("control connection without credentials: {e}");
                return;
            }
        };
        let (rd, mut wr) = stream.into_split();
        if !self.access.allows(&peer) {
            tracing::warn!(user = %peer.user, uid = peer.uid, "control connection refused: not in the socket's group");
            let resp = Response::error(
                ErrorCode::Denied,
                "permission denied: you are not in the operators group",
            );
            drop(entry);
            let _ = write_response(&mut wr, &resp, self.opts.write_timeout).await;
            let _ = wr.shutdown().await;
            drain_before_close(rd).await;
            return;
        }
        let mut reader = BufReader::with_capacity(8 * 1024, rd);
        let mut wait = self.opts.first_request_timeout;
        let mut entry = Some(entry);
        loop {
            let waiting = entry
                .take()
                .unwrap_or_else(|| IdleSet::enter(&self.idle, &close));
            // Told to make room: close, even if a request is already there
            // (its client reconnects), so a place given away is given.
            let read = tokio::select! {
                biased;
                _ = close.notified() => None,
                _ = self.shutdown.recv() => return,
                r = tokio::time::timeout(wait, read_line_bounded(&mut reader, MAX_LINE)) => Some(r),
            };
            drop(waiting);
            wait = self.opts.idle_timeout;
            let Some(read) = read else {
                tracing::debug!(user = %peer.user, "closing an idle control connection to make room for a new one");
                return;
            };
            let line = match read {
                Err(_) => {
                    tracing::debug!(user = %peer.user, "closing idle control connection");
                    return;
                }
                Ok(Ok(None)) => return,
                Ok(Ok(Some(line))) => line,
                Ok(Err(LineError::TooLong)) => {
                    tracing::warn!(user = %peer.user, "oversized control request; closing");
                    let resp = Response::error(ErrorCode::BadRequest, ProtocolError::TooLong);
                    let _ = write_response(&mut wr, &resp, self.opts.write_timeout).await;
                    return;
                }
                Ok(Err(LineError::Io(e))) => {
                    tracing::debug!(user = %peer.user, "control connection read failed: {e}");
                    return;
                }
            };
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let req = match Request::from_line(&line) {
                Ok(req) => req,
                Err(e) => {
                    tracing::warn!(user = %peer.user, "bad control request: {e}; closing");
                    let resp = Response::error(ErrorCode::BadRequest, e);
                    let _ = write_response(&mut wr, &resp, self.opts.write_timeout).await;
                    return;
                }
            };
            if let Err(e) = req.validate() {
                let resp = Response::error(ErrorCode::BadRequest, e);
                if write_response(&mut wr, &resp, self.opts.write_timeout)
                    .await
                    .is_err()
                {
                    return;
                }
                continue;
            }
            tracing::info!(user = %peer.user, uid = peer.uid, pid = peer.pid.unwrap_or_default(), cmd = req.name(), "control request");
            if let Request::Upload { name, size } = &req {
                // The bytes follow on this connection: the server takes
                // them, not the handler.
                let got = super::upload::receive(
                    &mut reader,
                    self.opts.upload_dir.as_deref(),
                    name,
                    *size,
                    self.opts.idle_timeout,
                )
                .await;
                let resp = match got {
                    Ok(r) => {
                        tracing::info!(user = %peer.user, file = %r.path.display(), bytes = r.size, "upload kept");
                        Response::Ok(super::protocol::Reply::Uploaded(r))
                    }
                    Err(e) => {
                        tracing::warn!(user = %peer.user, "upload refused: {e}");
                        let _ = write_response(
                            &mut wr,
                            &Response::error(ErrorCode::Failed, e),
                            self.opts.write_timeout,
                        )
                        .await;
                        // Unread bytes may follow: the stream is out of step.
                        return;
                    }
                };
                if write_response(&mut wr, &resp, self.opts.write_timeout)
                    .await
                    .is_err()
                {
                    return;
                }
                continue;
            }
            if matches!(req, Request::PageLive { .. }) {
                // The audio follows on this connection: a thread of the
                // handler's reads it; this task only forwards the replies,
                // and the connection ends with the page.
                let early = reader.buffer().to_vec();
                let fd = std::os::fd::AsFd::as_fd(reader.get_ref().as_ref()).try_clone_to_owned();
                let stream = match fd {
                    Ok(fd) => std::os::unix::net::UnixStream::from(fd),
                    Err(e) => {
                        let resp = Response::error(ErrorCode::Failed, format!("live page: {e}"));
                        let _ = write_response(&mut wr, &resp, self.opts.write_timeout).await;
                        return;
                    }
                };
                let socket = LiveSocket { stream, early };
                self.exchange_live(req, &peer, &mut wr, socket).await;
                return;
            }
            let (go_on, next) = self.exchange(req, &peer, &mut wr, Some(&close)).await;
            if !go_on {
                return;
            }
            entry = next;
        }
    }

    /// A live page: the handler takes the audio's socket; its replies are
    /// forwarded until the final one.
    async fn exchange_live<W: AsyncWrite + Unpin>(
        &mut self,
        req: Request,
        peer: &Peer,
        wr: &mut W,
        socket: LiveSocket,
    ) {
        let (tx, mut rx) = mpsc::channel(16);
        self.handler.handle_live(req, peer.clone(), socket, tx);
        self.forward(&mut rx, peer, wr, None).await;
    }

    /// Run one request through the handler and forward its replies. Returns
    /// whether the connection may go on.
    /// `close`: the connection's own close signal. With it, the connection
    /// is back in the idle set *before* its final reply is written, so that
    /// a client that connects again as soon as it has its answer finds it
    /// there to make room; the entry is handed back for the next wait.
    async fn exchange<W: AsyncWrite + Unpin>(
        &mut self,
        req: Request,
        peer: &Peer,
        wr: &mut W,
        close: Option<&Arc<tokio::sync::Notify>>,
    ) -> (bool, Option<IdleEntry>) {
        let (tx, mut rx) = mpsc::channel(16);
        self.handler.handle(req, peer.clone(), tx);
        self.forward(&mut rx, peer, wr, close).await
    }

    /// Write the handler's replies until the final one.
    async fn forward<W: AsyncWrite + Unpin>(
        &mut self,
        rx: &mut mpsc::Receiver<Response>,
        peer: &Peer,
        wr: &mut W,
        close: Option<&Arc<tokio::sync::Notify>>,
    ) -> (bool, Option<IdleEntry>) {
        loop {
            let next = tokio::select! {
                r = rx.recv() => r,
                _ = self.shutdown.recv() => {
                    let resp = Response::error(ErrorCode::Unavailable, "the daemon is shutting down");
                    let _ = write_response(wr, &resp, self.opts.write_timeout).await;
                    return (false, None);
                }
            };
            let resp = next.unwrap_or_else(|| {
                Response::error(
                    ErrorCode::Failed,
                    "the daemon ended the request without an answer",
                )
            });
            let entry = match close {
                Some(close) if resp.is_final() => Some(IdleSet::enter(&self.idle, close)),
                _ => None,
            };
            if let Err(e) = write_response(wr, &resp, self.opts.write_timeout).await {
                tracing::debug!(user = %peer.user, "control client went away: {e}");
                return (false, None);
            }
            if resp.is_final() {
                return (true, entry);
            }
        }
    }
}

async fn write_response<W: AsyncWrite + Unpin>(
    wr: &mut W,
    resp: &Response,
    limit: Duration,
) -> io::Result<()> {
    let mut line = resp.to_line().into_bytes();
    line.push(b'\n');
    match tokio::time::timeout(limit, async {
        wr.write_all(&line).await?;
        wr.flush().await
    })
    .await
    {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "client does not read its replies",
        )),
    }
}

#[derive(Debug)]
pub(crate) enum LineError {
    TooLong,
    Io(io::Error),
}

/// Read one `\n`-terminated line of at most `max` bytes (without the
/// newline), holding at most `max` bytes plus one buffer's worth in memory.
/// `Ok(None)` at a clean end of stream; a last line without a newline is
/// returned as a line.
pub(crate) async fn read_line_bounded<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> Result<Option<Vec<u8>>, LineError> {
    let mut line = Vec::new();
    loop {
        let buf = reader.fill_buf().await.map_err(LineError::Io)?;
        if buf.is_empty() {
            return Ok(if line.is_empty() { None } else { Some(line) });
        }
        let (chunk, found) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], true),
            None => (buf, false),
        };
        if line.len() + chunk.len() > max {
            return Err(LineError::TooLong);
        }
        line.extend_from_slice(chunk);
        let used = chunk.len() + usize::from(found);
        reader.consume(used);
        if found {
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(Some(line));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], max: usize) -> Vec<Result<Vec<u8>, String>> {
        let mut r = BufReader::with_capacity(4, input);
        let mut out = Vec::new();
        loop {
            match read_line_bounded(&mut r, max).await {
                Ok(Some(l)) => out.push(Ok(l)),
                Ok(None) => return out,
                Err(LineError::TooLong) => {
                    out.push(Err("too long".into()));
                    return out;
                }
                Err(LineError::Io(e)) => panic!("{e}"),
            }
        }
    }

    #[tokio::test]
    async fn bounded_lines_split_and_stop_at_the_bound() {
        assert_eq!(
            lines(b"ab\r\ncdefgh\n\nlast", 10).await,
            vec![
                Ok(b"ab".to_vec()),
                Ok(b"cdefgh".to_vec()),
                Ok(vec![]),
                Ok(b"last".to_vec())
            ]
        );
        assert_eq!(
            lines(b"0123456789\n", 10).await,
            vec![Ok(b"0123456789".to_vec())]
        );
        assert_eq!(
            lines(b"ok\n0123456789A\nnever", 10).await,
            vec![Ok(b"ok".to_vec()), Err("too long".into())]
        );
    }

    #[test]
    fn own_user_and_groups_resolve() {
        // SAFETY: getuid cannot fail.
        let uid = unsafe { libc::getuid() };
        assert!(user_name(uid).is_some());
        assert_eq!(resolve_group("0").unwrap(), 0);
        assert!(resolve_group("no-such-group-corong").is_err());
    }
}
