//! The control socket end to end: a test handler served on a socket in a
//! temporary folder, real clients (and raw sockets for the abuse cases).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream as StdStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use corong::control::protocol::*;
use corong::control::server::{bind, serve_with, user_name, Handler, Peer, ServeOptions};
use corong::control::{Client, ClientError};
use corong::ids::JobId;
use tokio::sync::{mpsc, oneshot};

/// Answers from fixed data, and remembers who asked what.
#[derive(Default)]
struct TestHandler {
    seen: Mutex<Vec<(String, Peer)>>,
}

fn done(message: &str) -> Response {
    Response::Ok(Reply::Done(DoneResult {
        message: message.into(),
        zones: vec![],
    }))
}

fn status_result() -> StatusResult {
    StatusResult {
        daemon: DaemonInfo {
            version: "0.1.0".into(),
            pid: 1,
            started_at: "2024-05-01T23:00:00Z".into(),
            timezone: "Asia/Jakarta".into(),
            fires: 0,
            fires_missed: 0,
            decode_errors: 0,
        },
        zones: vec![ZoneStatus {
            name: "alun-alun".into(),
            state: "streaming".into(),
            playing: None,
            error: None,
            endpoint_health: vec![],
            receivers: vec![],
        }],
        next_events: vec![],
        loudness_pending: None,
        broker: None,
        feeds: vec![],
    }
}

impl Handler for TestHandler {
    fn handle(&self, req: Request, peer: Peer, reply: mpsc::Sender<Response>) {
        self.seen
            .lock()
            .unwrap()
            .push((req.name().to_string(), peer.clone()));
        let now = |r: Response| {
            reply.try_send(r).expect("fresh channel has room");
        };
        match req {
            Request::Status => now(Response::Ok(Reply::Status(status_result()))),
            // An announcement that never finishes playing.
            Request::Announce { delivery, .. } if delivery.at.as_deref() == Some("never") => {
                tokio::spawn(async move {
                    let p = Progress {
                        id: JobId(6),
                        zones_done: 0,
                        zones_total: 1,
                        state: JobState::Queued,
                        reason: None,
                    };
                    let _ = reply.send(p.into()).await;
                    reply.closed().await;
                });
            }
            Request::Announce { delivery, .. } if delivery.wait => {
                tokio::spawn(async move {
                    for done in 0..3 {
                        let p = Progress {
                            id: JobId(5),
                            zones_done: done,
                            zones_total: 3,
                            state: JobState::Playing,
                            reason: None,
                        };
                        if reply.send(p.into()).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    let last = Progress {
                        id: JobId(5),
                        zones_done: 3,
                        zones_total: 3,
                        state: JobState::Done,
                        reason: None,
                    };
                    let _ = reply.send(Response::Ok(Reply::Finished(last))).await;
                });
            }
            Request::Announce { delivery, .. } => {
                now(Response::Ok(Reply::Announced(AnnounceResult {
                    id: JobId(5),
                    zones: delivery.zones,
                    not_before: delivery.at,
                    on_air: false,
                    warning: None,
                })))
            }
            Request::Cancel { id: JobId(99) } => {
                now(Response::error(ErrorCode::NotFound, "no pending job 99"))
            }
            Request::Cancel { id } => now(done(&format!("cancelled job {id}"))),
            // Says who asked, so the client side can check the credentials.
            Request::Skip { .. } => now(done(&format!("{} {}", peer.uid, peer.user))),
            // A handler that forgets to answer.
            Request::Reload => drop(reply),
            _ => now(done("ok")),
        }
    }
}

/// A server on its own runtime thread; stopped (and joined) on drop.
struct TestServer {
    _dir: tempfile::TempDir,
    path: PathBuf,
    handler: Arc<TestHandler>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    fn start() -> TestServer {
        Self::start_with(ServeOptions::default())
    }

    fn start_with(opts: ServeOptions) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        // Others may look into the folder: only the socket's own mode keeps
        // them out (see `other_users_cannot_connect`).
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.path().join("run/corong.sock");
        let handler = Arc::new(TestHandler::default());
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (p, h) = (path.clone(), handler.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = bind(&p, None).unwrap();
                ready_tx.send(()).unwrap();
                serve_with(
                    listener,
                    h,
                    async {
                        let _ = stopped.await;
                    },
                    opts,
                )
                .await;
            });
        });
        ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        TestServer {
            _dir: dir,
            path,
            handler,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn client(&self) -> Client {
        Client::connect(&self.path).unwrap()
    }

    /// A raw connection with a read timeout, for sending what no client would.
    fn raw(&self) -> StdStream {
        let s = StdStream::connect(&self.path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

fn announce(wait: bool) -> Request {
    Request::Announce {
        files: vec!["/srv/pengumuman.wav".into()],
        delivery: Delivery {
            zones: vec!["utara".into()],
            at: Some("18:00".into()),
            wait,
            ..Delivery::default()
        },
    }
}

/// Everything the server sends until it closes the connection.
fn read_to_close(s: &mut StdStream) -> Vec<String> {
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    String::from_utf8_lossy(&all)
        .lines()
        .map(str::to_string)
        .collect()
}

fn assert_one_bad_request(lines: &[String], needle: &str) {
    assert_eq!(lines.len(), 1, "{lines:?}");
    match Response::from_line(&lines[0]).unwrap() {
        Response::Err { code, error } => {
            assert_eq!(code, ErrorCode::BadRequest);
            assert!(error.contains(needle), "{error:?} lacks {needle:?}");
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn requests_round_trip() {
    let server = TestServer::start();
    let mut c = server.client();
    // Several requests on one connection.
    assert_eq!(
        c.call(&Request::Status).unwrap(),
        Reply::Status(status_result())
    );
    assert_eq!(
        c.call(&announce(false)).unwrap(),
        Reply::Announced(AnnounceResult {
            id: JobId(5),
            zones: vec!["utara".into()],
            not_before: Some("18:00".into()),
            on_air: false,
            warning: None,
        })
    );
    assert_eq!(
        c.call(&Request::Cancel { id: JobId(4) }).unwrap(),
        Reply::Done(DoneResult {
            message: "cancelled job 4".into(),
            zones: vec![]
        })
    );
    match c.call(&Request::Cancel { id: JobId(99) }) {
        Err(ClientError::Refused { code, message }) => {
            assert_eq!(code, ErrorCode::NotFound);
            assert_eq!(message, "no pending job 99");
        }
        other => panic!("{other:?}"),
    }
    // A handler that drops its reply without answering: the server answers.
    match c.request(&Request::Reload).unwrap() {
        Response::Err { code, .. } => assert_eq!(code, ErrorCode::Failed),
        other => panic!("{other:?}"),
    }
    // An invalid request that parses: an error, and the connection goes on.
    match c.request(&Request::Schedule { next: 0 }).unwrap() {
        Response::Err { code, error } => {
            assert_eq!(code, ErrorCode::BadRequest);
            assert!(error.contains("--next"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    assert!(c.call(&Request::Queue).is_ok());
    let seen: Vec<String> = server
        .handler
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|(cmd, _)| cmd.clone())
        .collect();
    assert_eq!(
        seen,
        ["status", "announce", "cancel", "cancel", "reload", "queue"]
    );
}

#[test]
fn wait_streams_progress_then_the_final_reply() {
    let server = TestServer::start();
    let mut c = server.client();
    let mut progress = Vec::new();
    let last = c
        .call_stream(&announce(true), |p| progress.push(p.zones_done))
        .unwrap();
    assert_eq!(progress, [0, 1, 2]);
    match last {
        Reply::Finished(p) => {
            assert!(p.succeeded());
            assert_eq!((p.zones_done, p.zones_total), (3, 3));
        }
        other => panic!("{other:?}"),
    }
    // The connection is still good afterwards.
    assert!(c.call(&Request::Status).is_ok());
}

#[test]
fn shutdown_ends_open_streams_and_returns() {
    let server = TestServer::start();
    let mut c = server.client();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let req = Request::Announce {
            files: vec!["/srv/a.wav".into()],
            delivery: Delivery {
                at: Some("never".into()),
                wait: true,
                ..Delivery::default()
            },
        };
        c.call_stream(&req, |_| started_tx.send(()).unwrap())
    });
    started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    // An idle second connection must not hold up shutdown either.
    let _idle = server.raw();
    let t = Instant::now();
    drop(server);
    assert!(t.elapsed() < Duration::from_secs(5));
    match waiter.join().unwrap() {
        Err(ClientError::Refused { code, message }) => {
            assert_eq!(code, ErrorCode::Unavailable);
            assert!(message.contains("shutting down"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_handler_sees_the_peer_credentials() {
    let server = TestServer::start();
    let mut c = server.client();
    let reply = c
        .call(&Request::Skip {
            zones: vec!["all".into()],
        })
        .unwrap();
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    let user = user_name(uid).expect("the test's user has a name");
    let Reply::Done(d) = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(d.message, format!("{uid} {user}"));
    let seen = server.handler.seen.lock().unwrap();
    let peer = &seen[0].1;
    assert_eq!(peer.uid, uid);
    assert_eq!(peer.user, user);
    assert_eq!(peer.pid, Some(std::process::id() as i32));
}

#[test]
fn bad_input_closes_only_that_connection() {
    let server = TestServer::start();
    // Connected before the abuse, used after it.
    let mut bystander = server.client();

    let mut s = server.raw();
    s.write_all(b"hello there\n").unwrap();
    assert_one_bad_request(&read_to_close(&mut s), "not valid JSON");

    // Truncated JSON, then the client stops writing.
    let mut s = server.raw();
    s.write_all(br#"{"v":1,"cmd":"sta"#).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    assert_one_bad_request(&read_to_close(&mut s), "not valid JSON");

    let mut s = server.raw();
    s.write_all(b"\xff\xfe\xfd\n").unwrap();
    assert_one_bad_request(&read_to_close(&mut s), "UTF-8");

    let mut s = server.raw();
    s.write_all(b"{\"v\":7,\"cmd\":\"status\"}\n").unwrap();
    assert_one_bad_request(&read_to_close(&mut s), "unsupported protocol version 7");

    let mut s = server.raw();
    s.write_all(b"{\"v\":1,\"cmd\":\"teleport\"}\n").unwrap();
    assert_one_bad_request(&read_to_close(&mut s), "teleport");

    // 10 MB without a newline: the server stops reading at 64 KiB, answers
    // and closes; our writer then fails with a broken pipe, which is fine.
    let mut s = server.raw();
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..10 {
            if w.write_all(&chunk).is_err() {
                return;
            }
        }
        let _ = w.write_all(b"\n");
    });
    assert_one_bad_request(&read_to_close(&mut s), "longer than 65536 bytes");
    drop(s);
    writer.join().unwrap();

    // The bystander and a newcomer are both still served.
    assert!(bystander.call(&Request::Status).is_ok());
    assert!(server.client().call(&Request::Status).is_ok());
}

#[test]
fn a_line_at_the_bound_is_accepted() {
    let server = TestServer::start();
    let mut s = server.raw();
    let head = br#"{"v":1,"cmd":"status","pad":""#;
    let tail = b"\"}";
    let mut line = head.to_vec();
    line.resize(MAX_LINE - tail.len(), b'x');
    line.extend_from_slice(tail);
    assert_eq!(line.len(), MAX_LINE);
    line.push(b'\n');
    s.write_all(&line).unwrap();
    let mut reply = String::new();
    BufReader::new(&s).read_line(&mut reply).unwrap();
    assert!(matches!(
        Response::from_line(reply.trim_end()).unwrap(),
        Response::Ok(Reply::Status(_))
    ));
}

#[test]
fn idle_connections_are_closed() {
    let server = TestServer::start_with(ServeOptions {
        idle_timeout: Duration::from_millis(200),
        ..ServeOptions::default()
    });
    let mut s = server.raw();
    writeln!(s, "{}", Request::Status.to_line()).unwrap();
    let t = Instant::now();
    let lines = read_to_close(&mut s);
    assert_eq!(lines.len(), 1, "only the status reply: {lines:?}");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}

#[test]
fn a_new_connection_takes_the_place_of_an_idle_one() {
    let server = TestServer::start_with(ServeOptions {
        max_connections: 1,
        ..ServeOptions::default()
    });
    let mut first = server.client();
    assert!(first.call(&Request::Status).is_ok());
    // The first is idle between requests: it makes room.
    let mut second = server.client();
    assert!(second.call(&Request::Status).is_ok());
    assert!(matches!(
        first.call(&Request::Status),
        Err(ClientError::Closed { .. } | ClientError::Io { .. })
    ));
}

/// A request that holds its connection (an announcement `--wait` that
/// never finishes), on a connection of its own.
fn busy_connection(server: &TestServer) -> StdStream {
    let mut s = server.raw();
    let req = Request::Announce {
        files: vec!["/a.wav".into()],
        delivery: Delivery {
            at: Some("never".into()),
            wait: true,
            ..Delivery::default()
        },
    };
    writeln!(s, "{}", req.to_line()).unwrap();
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).unwrap();
    assert!(line.contains("progress"), "{line}");
    s
}

#[test]
fn when_every_place_is_busy_only_an_emergency_is_served() {
    let server = TestServer::start_with(ServeOptions {
        max_connections: 1,
        ..ServeOptions::default()
    });
    let _busy = busy_connection(&server);
    let mut second = server.raw();
    writeln!(second, "{}", Request::Status.to_line()).unwrap();
    let lines = read_to_close(&mut second);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("\"code\":\"unavailable\""), "{lines:?}");
    for stop in [false, true] {
        let req = Request::Emergency {
            file: None,
            text: (!stop).then(|| "awas lahar".to_string()),
            zones: vec!["all".into()],
            stop,
        };
        let mut third = server.client();
        let reply = third.call(&req);
        assert!(matches!(reply, Ok(Reply::Done(_))), "{reply:?}");
    }
    let seen = server.handler.seen.lock().unwrap();
    assert_eq!(seen.iter().filter(|(r, _)| r == "emergency").count(), 2);
}

#[test]
fn a_client_that_sends_nothing_is_closed_after_the_first_request_timeout() {
    let server = TestServer::start_with(ServeOptions {
        first_request_timeout: Duration::from_millis(200),
        ..ServeOptions::default()
    });
    let mut s = server.raw();
    let t = Instant::now();
    assert!(read_to_close(&mut s).is_empty());
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn the_socket_is_0660_and_removed_on_shutdown() {
    let server = TestServer::start();
    let mode = std::fs::metadata(&server.path)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o660, "mode {mode:o}");
    let path = server.path.clone();
    drop(server_without_dir(server));
    assert!(!path.exists());
}

/// Stop the server but keep its folder, to look at what it left.
fn server_without_dir(mut server: TestServer) -> tempfile::TempDir {
    server.stop.take().unwrap().send(()).unwrap();
    server.thread.take().unwrap().join().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::mem::replace(&mut server._dir, dir)
}

#[tokio::test]
async fn stale_sockets_are_replaced_and_live_ones_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corong.sock");

    // A socket file left by a power cut: nobody listens on it.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let live = bind(&path, None).expect("stale socket replaced");

    let err = bind(&path, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "another corong daemon is already running on {}",
            path.display()
        )
    );
    drop(live);

    // Never remove something that is not a socket.
    let file = dir.path().join("not-a-socket");
    std::fs::write(&file, "precious").unwrap();
    let err = bind(&file, None).unwrap_err();
    assert!(err.to_string().contains("not a socket"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "precious");
}

#[tokio::test]
async fn group_ownership() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corong.sock");
    let err = bind(&path, Some("no-such-group-corong")).unwrap_err();
    assert!(err.to_string().contains("no-such-group-corong"), "{err}");
    assert!(!path.exists());

    if !is_root() {
        eprintln!("skipping chown to another group: not root");
        return;
    }
    let _l = bind(&path, Some("65534")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&path).unwrap().gid(), 65534);
}

#[test]
fn no_daemon_is_reported_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing.sock");
    let t = Instant::now();
    let err = Client::connect(&missing).err().expect("no daemon");
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert!(matches!(err, ClientError::NotRunning { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "corong: the daemon is not running (no answer on {})",
            missing.display()
        )
    );

    // A stale socket file: connection refused, same answer.
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let t = Instant::now();
    let err = Client::connect(&stale).err().expect("no daemon");
    assert!(t.elapsed() < Duration::from_secs(1));
    assert!(matches!(err, ClientError::NotRunning { .. }), "{err:?}");
}

#[test]
fn a_daemon_that_does_not_answer_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mute.sock");
    // Listens, never reads or answers.
    let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let mut c = Client::connect(&path).unwrap();
    c.set_reply_timeout(Duration::from_millis(200));
    let t = Instant::now();
    let err = c.request(&Request::Status).unwrap_err();
    assert!(matches!(err, ClientError::NotResponding { .. }), "{err:?}");
    assert!(t.elapsed() < Duration::from_secs(5));
}

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

const OTHER_USER_ENV: &str = "CORONG_TEST_CONNECT_AS_OTHER";

/// Not a test on its own: the body of the child process that
/// `other_users_cannot_connect` runs as `nobody`. Prints one `RESULT:` line.
#[test]
fn other_user_child() {
    let Some(path) = std::env::var_os(OTHER_USER_ENV) else {
        return;
    };
    let path = PathBuf::from(path);
    match Client::connect(&path) {
        Err(e) => println!("RESULT: connect: {e}"),
        Ok(mut c) => match c.request(&Request::Status) {
            Ok(r) => println!("RESULT: reply: {}", r.to_line()),
            Err(e) => println!("RESULT: request: {e}"),
        },
    }
}

fn run_as_nobody(path: &Path) -> String {
    use std::os::unix::process::CommandExt;
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "other_user_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(OTHER_USER_ENV, path)
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find_map(|l| l.split_once("RESULT: ").map(|(_, r)| r))
        .unwrap_or_else(|| {
            panic!(
                "child printed no result: {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
        .to_string()
}

#[test]
fn other_users_cannot_connect() {
    if !is_root() {
        eprintln!("skipping: running as another user needs root");
        return;
    }
    let server = TestServer::start();
    let result = run_as_nobody(&server.path);
    assert!(
        result.starts_with("connect: corong: permission denied on"),
        "{result}"
    );
    assert!(result.contains("operators group"), "{result}");

    // Even if the file's mode lets them in (the window between bind and
    // chmod, or an administrator's mistake), the credentials check refuses.
    std::fs::set_permissions(&server.path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let result = run_as_nobody(&server.path);
    assert!(result.starts_with("reply: "), "{result}");
    assert!(result.contains("\"code\":\"denied\""), "{result}");
    assert!(server.handler.seen.lock().unwrap().is_empty());
}
