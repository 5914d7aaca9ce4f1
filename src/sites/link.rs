//! The link to the broker: one task on the control plane that owns the
//! MQTT client's event loop, this kiosk's presence and state, the table of
//! kiosks, and the orders sent from here waiting for their acks.
//!
//! Connecting: MQTT 3.1.1, client id = the site's name, a persistent
//! session (the broker keeps QoS 1 orders for a kiosk that is away), a
//! retained Last Will `{"online":false}` on its presence topic and the
//! configured keep-alive, so that the broker declares a vanished kiosk
//! offline within 1.5 keep-alives. A lost connection is retried with a
//! backoff from 250 ms doubling to 5 s; the loss is logged once per outage.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, LastWill, MqttOptions, Packet, QoS, Transport};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::message::{self, Ack, Heard, Order, Presence, Topics};
use super::table::{self, Table};
use super::{carry, now_ms, Ask};
use crate::config::Regency;
use crate::control::protocol::{
    BrokerLink, ErrorCode, FileRef, OrderResult, Reply, Request, Response, SiteAck, SitesResult,
};
use crate::control::server::{Handler, Peer};

/// How long an order from here waits for acks before the CLI is answered.
const ACK_WAIT: Duration = Duration::from_secs(5);
/// An order is not carried out after this (but `emergency --stop` is).
pub const ORDER_EXPIRY: Duration = Duration::from_secs(60);
/// This kiosk's state goes out at most this often.
const STATE_EVERY: Duration = Duration::from_millis(500);
const BACKOFF_FIRST: Duration = Duration::from_millis(250);
const BACKOFF_MOST: Duration = Duration::from_secs(5);

/// Refused payloads logged one by one in a minute, at most; the rest are
/// counted and said in one line (a kiosk or a broker gone wrong that
/// floods a topic must not fill the disk with the log).
const REFUSALS_LOGGED: u32 = 20;
const REFUSALS_WINDOW: Duration = Duration::from_secs(60);

/// How many refusals this minute has logged and hushed.
struct Refusals {
    since: Instant,
    logged: u32,
    hushed: u64,
}

impl Refusals {
    fn new() -> Refusals {
        Refusals {
            since: Instant::now(),
            logged: 0,
            hushed: 0,
        }
    }

    /// Count one more refusal; whether to log it.
    fn log(&mut self) -> bool {
        self.roll();
        if self.logged < REFUSALS_LOGGED {
            self.logged += 1;
            true
        } else {
            self.hushed += 1;
            false
        }
    }

    /// At the minute's end, say how many were not logged.
    fn roll(&mut self) {
        if self.since.elapsed() < REFUSALS_WINDOW {
            return;
        }
        if self.hushed > 0 {
            tracing::warn!(
                "regency: {} more payloads refused in the last minute (not logged one by one)",
                self.hushed
            );
        }
        *self = Refusals::new();
    }
}

/// What the link's helpers report back.
enum Back {
    /// This kiosk's state, from the loop's own replies.
    Own(message::State),
}

/// An order sent from here, gathering acks.
struct Pending {
    reply: mpsc::Sender<Response>,
    acks: Vec<SiteAck>,
    /// The kiosks that should answer.
    expected: BTreeSet<String>,
    until: Instant,
    /// Named kiosks (not `all`): those silent are listed.
    named: bool,
}

/// The client's options from the config: credentials, TLS, Will.
fn options(r: &Regency, topics: &Topics) -> Result<MqttOptions, String> {
    let mut o = MqttOptions::new(r.site.clone(), r.broker.host.clone(), r.broker.port);
    o.set_keep_alive(r.keep_alive);
    o.set_clean_session(false);
    // Larger than any payload read, so that an oversized one is refused by
    // the parser with a log line rather than cut the connection.
    o.set_max_packet_size(1 << 20, 1 << 20);
    let will = serde_json::to_vec(&Presence {
        online: false,
        at_ms: None,
    })
    .expect("presence serializes");
    o.set_last_will(LastWill::new(
        topics.online(&r.site),
        will,
        QoS::AtLeastOnce,
        true,
    ));
    if let Some(user) = &r.username {
        let password = match &r.password_file {
            Some(p) => std::fs::read_to_string(p)
                .map_err(|e| format!("password_file {}: {e}", p.display()))?
                .lines()
                .next()
                .unwrap_or("")
                .to_string(),
            None => String::new(),
        };
        o.set_credentials(user.clone(), password);
    }
    if r.broker.tls {
        o.set_transport(Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(Arc::new(tls(r)?)),
        ));
    }
    Ok(o)
}

/// rustls with ring: the system's roots and `ca_file`'s.
fn tls(r: &Regency) -> Result<tokio_rustls::rustls::ClientConfig, String> {
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(ca) = &r.ca_file {
        let pem = std::fs::read(ca).map_err(|e| format!("ca_file {}: {e}", ca.display()))?;
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let cert = cert.map_err(|e| format!("ca_file {}: {e}", ca.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("ca_file {}: {e}", ca.display()))?;
        }
    }
    // ring, as the web console's TLS (no aws-lc-rs to build on a kiosk).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Everything the task keeps.
struct Link {
    site: String,
    topics: Topics,
    client: AsyncClient,
    handler: Arc<dyn Handler>,
    table: Table,
    connected: bool,
    link: watch::Sender<BrokerLink>,
    pending: HashMap<String, Pending>,
    orders: mpsc::Sender<Order>,
    back: mpsc::UnboundedSender<Back>,
    /// The last state published (zones and alerts; not the time).
    published: Option<message::State>,
    asking_state: bool,
    refusals: Refusals,
}

/// The task: runs until the runtime stops.
pub(super) async fn run(
    regency: Regency,
    state_dir: PathBuf,
    search: Vec<PathBuf>,
    handler: Arc<dyn Handler>,
    mut changes: watch::Receiver<u64>,
    mut asks: mpsc::Receiver<Ask>,
    link: watch::Sender<BrokerLink>,
) {
    let topics = Topics {
        prefix: regency.topic_prefix.clone(),
    };
    let options = match options(&regency, &topics) {
        Ok(o) => o,
        Err(e) => {
            tracing::error!("regency: {e}; this kiosk stays on its own");
            while let Some(ask) = asks.recv().await {
                let _ = ask.reply.try_send(Response::error(ErrorCode::Failed, &e));
            }
            return;
        }
    };
    let (client, mut events) = AsyncClient::new(options, 256);
    let (back_tx, mut back) = mpsc::unbounded_channel();
    let (acks_tx, mut acks) = mpsc::unbounded_channel();
    let orders = carry::start(
        regency.site.clone(),
        state_dir,
        search,
        handler.clone(),
        acks_tx,
    );
    let mut l = Link {
        site: regency.site.clone(),
        topics,
        client,
        handler,
        table: Table::default(),
        connected: false,
        link,
        pending: HashMap::new(),
        orders,
        back: back_tx,
        published: None,
        asking_state: false,
        refusals: Refusals::new(),
    };
    tracing::info!(
        broker = %format!("{}:{}", regency.broker.host, regency.broker.port),
        site = %regency.site,
        "regency: joining the broker"
    );
    let mut backoff = BACKOFF_FIRST;
    let mut loss_logged = false;
    let pause = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(pause);
    let mut paused = false;
    let mut dirty = true;
    let mut state_timer = tokio::time::interval(STATE_EVERY);
    state_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sweep = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            ev = poll(&mut events), if !paused => match ev {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    l.on_connected();
                    backoff = BACKOFF_FIRST;
                    loss_logged = false;
                    dirty = true;
                }
                Ok(Event::Incoming(Packet::Publish(p))) => l.on_publish(&p.topic, &p.payload),
                Ok(_) => {}
                Err(e) => {
                    if l.connected || !loss_logged {
                        tracing::warn!(
                            "regency: broker {} ({e}); this kiosk goes on on its own and retries",
                            if l.connected { "lost" } else { "not reached" }
                        );
                        loss_logged = true;
                    }
                    l.set_connected(false);
                    paused = true;
                    pause.as_mut().reset(Instant::now() + backoff);
                    backoff = (backoff * 2).min(BACKOFF_MOST);
                }
            },
            _ = &mut pause, if paused => paused = false,
            Some(ask) = asks.recv() => l.on_ask(ask),
            Ok(()) = changes.changed() => dirty = true,
            _ = state_timer.tick() => {
                l.refusals.roll();
                if dirty && l.connected && !l.asking_state {
                    dirty = false;
                    l.ask_state();
                }
            }
            Some(b) = back.recv() => match b {
                Back::Own(state) => {
                    l.asking_state = false;
                    l.publish_state(state);
                }
            },
            Some((origin, ack)) = acks.recv() => l.send_ack(&origin, ack),
            _ = sweep.tick(), if !l.pending.is_empty() => l.sweep(),
        }
    }
}

/// One event of the client (a named future, so `select!` can hold it).
async fn poll(events: &mut EventLoop) -> Result<Event, rumqttc::ConnectionError> {
    events.poll().await
}

impl Link {
    fn set_connected(&mut self, connected: bool) {
        if self.connected != connected {
            self.connected = connected;
            self.link.send_modify(|b| {
                b.connected = connected;
                b.since = chrono::Utc::now().to_rfc3339();
            });
        }
    }

    /// Subscribes (a broker restarted without persistence forgot them)
    /// and says this kiosk is online. The table starts again from what the
    /// broker holds (its retained messages come with each subscription): a
    /// kiosk that vanished while the broker was away is not left online.
    fn on_connected(&mut self) {
        tracing::info!(site = %self.site, "regency: broker reached");
        self.set_connected(true);
        self.table = Table::default();
        let t = &self.topics;
        for topic in [
            t.all_sites(),
            t.orders("all"),
            t.orders(&self.site),
            t.acks(&self.site),
        ] {
            if let Err(e) = self.client.try_subscribe(topic.clone(), QoS::AtLeastOnce) {
                tracing::warn!("regency: cannot subscribe to {topic}: {e}");
            }
        }
        let online = Presence {
            online: true,
            at_ms: Some(now_ms()),
        };
        self.publish(
            t.online(&self.site),
            serde_json::to_vec(&online).expect("presence serializes"),
            true,
        );
        self.published = None;
    }

    /// One more payload refused: counted for `sites --json` and
    /// `/metrics`; whether to log it.
    fn refused(&mut self) -> bool {
        self.link.send_modify(|b| b.refused += 1);
        self.refusals.log()
    }

    fn publish(&self, topic: String, payload: Vec<u8>, retain: bool) {
        if let Err(e) = self
            .client
            .try_publish(topic.clone(), QoS::AtLeastOnce, retain, payload)
        {
            tracing::warn!("regency: cannot publish on {topic}: {e}");
        }
    }

    /// What the broker sends: presence, state, an order, an ack. A payload
    /// that does not read is refused with one line and changes nothing.
    fn on_publish(&mut self, topic: &str, payload: &[u8]) {
        let Some(heard) = self.topics.heard(topic) else {
            return;
        };
        let now = now_ms();
        match heard {
            Heard::Online(name) | Heard::State(name) if !ok_site(name) => {
                if self.refused() {
                    tracing::warn!(topic, "regency: refused: not a kiosk name");
                }
            }
            Heard::Online(name) => match message::parse::<Presence>(payload) {
                // A retained message cleared (empty payload) is no kiosk.
                _ if payload.is_empty() => {}
                Ok(p) => {
                    self.table.presence(name, &p, now);
                    self.link.send_modify(|b| b.heard += 1);
                }
                Err(e) => {
                    if self.refused() {
                        tracing::warn!(topic, "regency: presence refused: {e}")
                    }
                }
            },
            Heard::State(name) => match message::parse_state(payload) {
                _ if payload.is_empty() => {}
                Ok(s) => {
                    self.table.state(name, s);
                    self.link.send_modify(|b| b.heard += 1);
                }
                Err(e) => {
                    if self.refused() {
                        tracing::warn!(topic, "regency: state refused: {e}")
                    }
                }
            },
            Heard::Order => match message::parse_order(payload) {
                Ok(order) => {
                    let (id, origin) = (order.id.clone(), order.origin.clone());
                    if let Err(e) = self.orders.try_send(order) {
                        if self.refused() {
                            tracing::warn!(order = %id, origin = %origin, "regency: order refused: too many waiting ({e})");
                        }
                        self.send_ack(
                            &origin,
                            Ack {
                                order: id,
                                site: self.site.clone(),
                                accepted: false,
                                job: None,
                                reason: Some("too many orders waiting".into()),
                            },
                        );
                    }
                }
                Err(e) => {
                    if self.refused() {
                        tracing::warn!(topic, "regency: order refused: {e}")
                    }
                }
            },
            Heard::Ack => match message::parse::<Ack>(payload) {
                Ok(ack) => self.on_ack(ack),
                Err(e) => {
                    if self.refused() {
                        tracing::warn!(topic, "regency: ack refused: {e}")
                    }
                }
            },
        }
    }

    /// `sites`, or an order to send.
    fn on_ask(&mut self, ask: Ask) {
        match ask.request {
            Request::Sites => {
                let _ = ask.reply.try_send(Response::Ok(Reply::Sites(SitesResult {
                    this: self.site.clone(),
                    link: self.link.borrow().clone(),
                    sites: self.table.rows(),
                })));
            }
            Request::Order {
                sites,
                request,
                files,
            } => self.send_order(sites, *request, files, ask.user, ask.reply),
            other => {
                let _ = ask.reply.try_send(Response::error(
                    ErrorCode::BadRequest,
                    format!("`{}` is not the regency's", other.name()),
                ));
            }
        }
    }

    fn send_order(
        &mut self,
        sites: Vec<String>,
        request: Request,
        files: Vec<FileRef>,
        user: String,
        reply: mpsc::Sender<Response>,
    ) {
        if !self.connected {
            let _ = reply.try_send(Response::error(
                ErrorCode::Unavailable,
                "the regency's broker is not reached: the order was not sent",
            ));
            return;
        }
        let now = now_ms();
        let stop = matches!(request, Request::Emergency { stop: true, .. });
        let id = format!("{}-{now}-{:08x}", self.site, rand::random::<u32>());
        let order = Order {
            id: id.clone(),
            origin: self.site.clone(),
            user: user.chars().take(128).collect(),
            issued_ms: now,
            expires_ms: (!stop).then(|| now + ORDER_EXPIRY.as_millis() as i64),
            request,
            files,
        };
        let payload = serde_json::to_vec(&order).expect("orders serialize");
        let all = sites.iter().any(|s| s == "all");
        let expected: BTreeSet<String> = if all {
            let mut e: BTreeSet<String> = self.table.online().into_iter().collect();
            e.insert(self.site.clone());
            e
        } else {
            sites.iter().cloned().collect()
        };
        if all {
            self.publish(self.topics.orders("all"), payload, false);
        } else {
            for s in &expected {
                self.publish(self.topics.orders(s), payload.clone(), false);
            }
        }
        tracing::info!(order = %id, user = %order.user, sites = %sites.join(","), "regency: order sent");
        self.pending.insert(
            id,
            Pending {
                reply,
                acks: Vec::new(),
                expected,
                until: Instant::now() + ACK_WAIT,
                named: !all,
            },
        );
    }

    fn on_ack(&mut self, ack: Ack) {
        let Some(p) = self.pending.get_mut(&ack.order) else {
            return;
        };
        if p.acks.iter().any(|a| a.site == ack.site) {
            return;
        }
        p.acks.push(SiteAck {
            site: ack.site,
            accepted: ack.accepted,
            job: ack.job,
            reason: ack.reason,
        });
        let answered = p
            .expected
            .iter()
            .all(|s| p.acks.iter().any(|a| &a.site == s));
        if answered {
            let id = ack.order;
            if let Some(p) = self.pending.remove(&id) {
                finish(id, p);
            }
        }
    }

    /// Answers the orders whose wait is over.
    fn sweep(&mut self) {
        let now = Instant::now();
        let over: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| p.until <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in over {
            if let Some(p) = self.pending.remove(&id) {
                finish(id, p);
            }
        }
    }

    /// The ack goes to the kiosk that sent the order.
    fn send_ack(&self, origin: &str, ack: Ack) {
        let topic = self.topics.acks(origin);
        self.publish(
            topic,
            serde_json::to_vec(&ack).expect("acks serialize"),
            false,
        );
    }

    /// Asks the loop for this kiosk's status and alerts, beside the link.
    fn ask_state(&mut self) {
        self.asking_state = true;
        let handler = self.handler.clone();
        let back = self.back.clone();
        let site = self.site.clone();
        tokio::spawn(async move {
            let status = ask(&*handler, Request::Status).await;
            let alerts = ask(&*handler, Request::Alerts).await;
            let pending = match alerts {
                Some(Reply::Alerts(a)) => {
                    a.alerts.iter().filter(|r| r.state == "pending").count() as u64
                }
                _ => 0,
            };
            if let Some(Reply::Status(s)) = status {
                let _ = back.send(Back::Own(table::own_state(&site, &s, pending, now_ms())));
            } else {
                let _ = back.send(Back::Own(message::State {
                    site,
                    version: env!("CARGO_PKG_VERSION").into(),
                    at_ms: now_ms(),
                    zones: vec![],
                    pending_alerts: pending,
                    feeds_failing: vec![],
                }));
            }
        });
    }

    /// Publishes this kiosk's state when its zones or alerts changed.
    fn publish_state(&mut self, state: message::State) {
        let same = self
            .published
            .as_ref()
            .is_some_and(|p| p.zones == state.zones && p.pending_alerts == state.pending_alerts);
        if same || !self.connected {
            return;
        }
        let topic = self.topics.state(&self.site);
        self.publish(
            topic,
            serde_json::to_vec(&state).expect("states serialize"),
            true,
        );
        self.published = Some(state);
    }
}

/// A read-only request into the loop, as the kiosk itself.
async fn ask(handler: &dyn Handler, request: Request) -> Option<Reply> {
    let (tx, mut rx) = mpsc::channel(4);
    let peer = Peer {
        uid: u32::MAX,
        gid: u32::MAX,
        pid: None,
        user: "regency".into(),
    };
    handler.handle(request, peer, tx);
    let got = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(r) = rx.recv().await {
            if r.is_final() {
                return Some(r);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()?;
    match got {
        Response::Ok(reply) => Some(reply),
        _ => None,
    }
}

fn finish(id: String, p: Pending) {
    let silent = if p.named {
        p.expected
            .iter()
            .filter(|s| !p.acks.iter().any(|a| &a.site == *s))
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    let _ = p.reply.try_send(Response::Ok(Reply::Ordered(OrderResult {
        order: id,
        acks: p.acks,
        silent,
    })));
}

fn ok_site(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
