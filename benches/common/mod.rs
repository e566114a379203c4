//! A small closed-loop load driver shared by the benches, with protocol adapters for
//! peerhub and Redis, and helpers that start either server on a free loopback port.
//!
//! # Shape
//! One thread runs one `mio::Poll` over every client connection. The machine the
//! benches run on has two cores and both servers are single-threaded: one thread
//! leaves the other core to the server, where `C` client threads would fight it.
//! Each connection is a [`Role::Requester`] that keeps `depth` requests outstanding
//! (1: a closed loop; more: a pipelined sender) or a [`Role::Listener`] that only
//! receives pushes (fan-out). A request is timestamped when it is written and its
//! latency recorded when its reply is recognised; replies are matched to requests in
//! order, as both protocols answer in order.
//!
//! What differs between servers is a [`Protocol`] adapter: how to set a connection up,
//! how to encode one request, how to recognise one complete message in a byte buffer.
//! The driver is the same for every server, so a ratio compares servers, not drivers.
//!
//! # Use
//! ```ignore
//! mod common;
//! use common::*;
//! let hub = HubProcess::start(&[])?;
//! let mut driver = Driver::connect(hub.addr, 50, PeerhubEcho::new(1))?;
//! let stats = driver.run(Duration::from_millis(300), Duration::from_secs(3))?;
//! println!("{} req/s, p99 {} us", stats.rate(), stats.latency.percentile(99.0) / 1000);
//! ```
//! [`Summary`] collects the runs of one system and [`print_table`] prints them with
//! the ratio to a baseline.

// Each bench uses a different part of this module.
#![allow(dead_code)]

pub mod blocking;
pub mod rows;
pub mod tls;

use mio::{Events, Interest, Poll, Token};
use peerhub::proto::frame;
use peerhub::proto::message::{Body, ClientMsg, HubMsg, Role as HelloRole, VERSION};
use peerhub::proto::status::Status;
use peerhub::trust::Fingerprint;
// Not every bench uses them (see dead_code above).
#[allow(unused_imports)]
pub use rows::{alternate, label, wire_modes, Row};
use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};
pub use tls::Transport;
use tls::{Link, ThrowAwayCert};

// ---------------------------------------------------------------------------------
// The adapter
// ---------------------------------------------------------------------------------

/// What a connection does once the measured loop starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Keep `depth` requests outstanding: 1 is a closed loop (send, wait for the
    /// reply, send again); more is a pipelined sender. `depth` 0 is treated as 1.
    Requester { depth: usize },
    /// Send nothing; count (and time, if they carry a send time) the pushes that
    /// arrive, e.g. a chat subscriber in a fan-out bench.
    Listener,
}

/// One complete message the adapter recognised at the start of the receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incoming {
    /// The reply to this connection's oldest outstanding request: its latency is
    /// recorded and, for a requester, the next request is sent.
    Reply,
    /// A message no request asked for (a chat line, a PUBLISH delivery). It is counted
    /// in [`RunStats::pushes`]; when it carries the time it was sent, as nanoseconds on
    /// the driver's clock (the `now_ns` handed to [`Protocol::request`]), its delivery
    /// latency goes into [`RunStats::push_latency`].
    Push { sent_ns: Option<u64> },
    /// Anything else (a keep-alive ping the adapter answered, a subscribe confirmation):
    /// consumed and not counted.
    Ignore,
}

/// How the driver talks to one kind of server. One adapter value serves all the
/// connections of a [`Driver`]; `index` (0..clients) says which connection is meant,
/// so an adapter can keep per-connection state or give connections different roles.
///
/// The driver calls, per connection: [`open`](Protocol::open) once, blocking, before
/// anything is measured; then, in the measured loop, [`request`](Protocol::request)
/// each time a requester has room for one more outstanding request, and
/// [`parse`](Protocol::parse) repeatedly on the bytes received until it returns
/// `Ok(None)` (more bytes are needed). Nothing in `request` or `parse` may block.
pub trait Protocol {
    /// Set up connection `index` on a connected, blocking socket: handshake, log in,
    /// subscribe, whatever the bench needs, with [`Setup::send`] and [`Setup::recv`].
    /// Returns what the connection does in the measured loop. Time spent here is not
    /// measured. Bytes received past the last `recv` stay buffered and are parsed
    /// ahead of whatever arrives in the loop.
    fn open(&mut self, index: usize, conn: &mut Setup) -> io::Result<Role>;

    /// Append exactly one request to `out` (it may already hold bytes for this
    /// connection, which are sent first). `seq` counts this connection's requests
    /// from 0 (handy as a tag); `now_ns` is the driver's clock, for adapters that carry
    /// a send time to the listeners of a fan-out.
    fn request(&mut self, index: usize, seq: u64, now_ns: u64, out: &mut Vec<u8>);

    /// Recognise one complete message at the start of `buf`: `Ok(Some((len, what)))`
    /// consumes `len` bytes (`len` > 0), `Ok(None)` waits for more bytes, `Err` stops
    /// the bench with that message (an error reply, a malformed frame). Bytes written
    /// to `answer` are sent on this connection (e.g. a Pong to a keep-alive Ping).
    fn parse(
        &mut self,
        index: usize,
        buf: &[u8],
        answer: &mut Vec<u8>,
    ) -> Result<Option<(usize, Incoming)>, String>;
}

/// A freshly connected blocking socket (TLS over it, if the driver's transport says
/// so) with its receive buffer, for [`Protocol::open`].
pub struct Setup {
    stream: Link,
    buf: Vec<u8>,
}

impl Setup {
    /// Write all of `bytes` (and, over TLS, the records they became).
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Read until `parse` recognises one message at the start of the buffer; consume
    /// its bytes and return what `parse` made of it. Times out after 10 s.
    pub fn recv<T>(
        &mut self,
        mut parse: impl FnMut(&[u8]) -> Result<Option<(usize, T)>, String>,
    ) -> io::Result<T> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some((len, value)) = parse(&self.buf).map_err(io::Error::other)? {
                if len == 0 || len > self.buf.len() {
                    return Err(io::Error::other("adapter consumed a bad length"));
                }
                self.buf.drain(..len);
                return Ok(value);
            }
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "server closed the connection during set-up",
                ));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The socket, e.g. for its local address.
    pub fn stream(&self) -> &std::net::TcpStream {
        &self.stream.socket().0
    }
}

// ---------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------

/// Sub-buckets per power of two: values are kept to within 1/128 (< 1 %).
const SUB_BITS: u32 = 7;
const SUB: usize = 1 << SUB_BITS;
const BUCKETS: usize = (64 - SUB_BITS as usize) * SUB + SUB;

/// A log-linear histogram of nanosecond values in constant memory (HDR-style).
#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
        }
    }
}

impl Histogram {
    fn index(v: u64) -> usize {
        if v < (2 * SUB) as u64 {
            return v as usize;
        }
        let msb = 63 - v.leading_zeros();
        let shift = msb - SUB_BITS;
        shift as usize * SUB + (v >> shift) as usize
    }

    /// The middle of bucket `i`.
    fn value(i: usize) -> u64 {
        if i < 2 * SUB {
            return i as u64;
        }
        let shift = (i / SUB - 1) as u32;
        let mantissa = (i - shift as usize * SUB) as u64;
        (mantissa << shift) + (1u64 << shift) / 2
    }

    pub fn record(&mut self, ns: u64) {
        self.counts[Self::index(ns)] += 1;
        self.total += 1;
        self.max = self.max.max(ns);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at percentile `p` (0..=100), in nanoseconds; 0 when empty.
    pub fn percentile(&self, p: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((p / 100.0 * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::value(i).min(self.max);
            }
        }
        self.max
    }
}

/// What one measured run saw.
#[derive(Clone, Default)]
pub struct RunStats {
    /// Replies received inside the measured window.
    pub replies: u64,
    /// Pushes ([`Incoming::Push`]) received inside the measured window.
    pub pushes: u64,
    /// Length of the measured window.
    pub elapsed: Duration,
    /// Request → reply latency, ns.
    pub latency: Histogram,
    /// Send → delivery latency of pushes that carry a send time, ns.
    pub push_latency: Histogram,
    /// CPU time the watched server process ([`Driver::watch`]) used in the window.
    pub server_cpu: Option<Duration>,
}

impl RunStats {
    /// Replies per second.
    pub fn rate(&self) -> f64 {
        self.replies as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Pushes per second.
    pub fn push_rate(&self) -> f64 {
        self.pushes as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Server CPU microseconds per reply: what a request costs the server, a figure
    /// that holds even when the driver, not the server, limits the rate.
    pub fn cpu_us_per_reply(&self) -> Option<f64> {
        let cpu = self.server_cpu?;
        (self.replies > 0).then(|| cpu.as_secs_f64() * 1e6 / self.replies as f64)
    }

    /// Share of one CPU the server used during the window (1.0: saturated).
    pub fn server_load(&self) -> Option<f64> {
        Some(self.server_cpu?.as_secs_f64() / self.elapsed.as_secs_f64().max(1e-9))
    }
}

/// CPU time (user + system) process `pid` has used so far, from
/// `/proc/<pid>/schedstat` (nanoseconds); `None` where that file is missing.
pub fn process_cpu(pid: u32) -> Option<Duration> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// The runs of one system: median rate, latency over all runs.
#[derive(Clone)]
pub struct Summary {
    pub name: String,
    pub runs: Vec<RunStats>,
}

impl Summary {
    pub fn new(name: impl Into<String>) -> Summary {
        Summary {
            name: name.into(),
            runs: Vec::new(),
        }
    }

    pub fn add(&mut self, run: RunStats) {
        self.runs.push(run);
    }

    pub fn median_rate(&self) -> f64 {
        median(self.runs.iter().map(RunStats::rate).collect())
    }

    pub fn median_push_rate(&self) -> f64 {
        median(self.runs.iter().map(RunStats::push_rate).collect())
    }

    /// Median server CPU per reply, µs, if the server was watched.
    pub fn median_cpu_us(&self) -> Option<f64> {
        let v: Option<Vec<f64>> = self.runs.iter().map(RunStats::cpu_us_per_reply).collect();
        v.filter(|v| !v.is_empty()).map(median)
    }

    /// Median share of a CPU the server used, if it was watched.
    pub fn median_server_load(&self) -> Option<f64> {
        let v: Option<Vec<f64>> = self.runs.iter().map(RunStats::server_load).collect();
        v.filter(|v| !v.is_empty()).map(median)
    }

    /// Request latency merged over all runs.
    pub fn latency(&self) -> Histogram {
        let mut h = Histogram::default();
        for r in &self.runs {
            h.merge(&r.latency);
        }
        h
    }

    /// Push latency merged over all runs.
    pub fn push_latency(&self) -> Histogram {
        let mut h = Histogram::default();
        for r in &self.runs {
            h.merge(&r.push_latency);
        }
        h
    }
}

/// The median of some values (the mean of the middle two for an even count); 0 if none.
pub fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// Print request rates, latencies and (when the server was watched) its CPU cost,
/// one row per system, then for each `(a, b)` of `pairs` the ratios of row `a` to
/// row `b`: `ratio peerhub/redis: 1.03 req/s, 1.10 CPU per request (redis/peerhub)`.
/// Both ratios read "above 1.0: the first system is better".
pub fn print_table(title: &str, rows: &[Summary], pairs: &[(usize, usize)]) {
    println!("{title}");
    println!(
        "{:<12}{:>14}{:>9}{:>9}{:>9}{:>9}{:>12}   runs (req/s)",
        "system", "req/s(median)", "p50 us", "p99 us", "max us", "srv cpu", "cpu us/req"
    );
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    for row in rows {
        let lat = row.latency();
        let runs: Vec<String> = row
            .runs
            .iter()
            .map(|r| format!("{:.0}", r.rate()))
            .collect();
        println!(
            "{:<12}{:>14.0}{:>9}{:>9}{:>9}{:>9}{:>12}   {}",
            row.name,
            row.median_rate(),
            lat.percentile(50.0) / 1000,
            lat.percentile(99.0) / 1000,
            lat.max() / 1000,
            opt(row
                .median_server_load()
                .map(|l| format!("{:.0}%", l * 100.0))),
            opt(row.median_cpu_us().map(|c| format!("{c:.2}"))),
            runs.join(" ")
        );
    }
    for &(a, b) in pairs {
        let (Some(first), Some(other)) = (rows.get(a), rows.get(b)) else {
            continue;
        };
        let base = other.median_rate();
        if base <= 0.0 {
            continue;
        }
        let mut line = format!(
            "ratio {}/{}: {:.2} req/s",
            first.name,
            other.name,
            first.median_rate() / base
        );
        if let (Some(a), Some(b)) = (first.median_cpu_us(), other.median_cpu_us()) {
            if a > 0.0 {
                line += &format!(
                    ", {:.2} CPU per request ({}/{})",
                    b / a,
                    other.name,
                    first.name
                );
            }
        }
        println!("{line}");
    }
}

// ---------------------------------------------------------------------------------
// The driver
// ---------------------------------------------------------------------------------

/// The per-read buffer shared by all connections.
const SCRATCH_BYTES: usize = 64 * 1024;
/// How long the end of a run waits for outstanding replies.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);
/// Listeners are drained until the connection has been quiet this long.
const QUIET: Duration = Duration::from_millis(50);

struct Client {
    stream: Link,
    role: Role,
    /// Bytes of at most one partial message (or set-up leftovers).
    inbuf: Vec<u8>,
    /// Bytes not yet written, from `out_at`.
    out: Vec<u8>,
    out_at: usize,
    writable_armed: bool,
    /// Send times (driver clock, ns) of the outstanding requests, oldest first.
    sent: VecDeque<u64>,
    seq: u64,
}

/// Runs one adapter's connections against one server, in one thread.
pub struct Driver<P: Protocol> {
    proto: P,
    poll: Poll,
    events: Events,
    clients: Vec<Client>,
    scratch: Vec<u8>,
    /// (connection, readable, writable) of the last poll's events.
    ready: Vec<(usize, bool, bool)>,
    epoch: Instant,
    /// A server process whose CPU time each run measures.
    watched: Option<u32>,
}

/// What a connection event did.
#[derive(Default)]
struct Counts {
    replies: u64,
    pushes: u64,
}

impl<P: Protocol> Driver<P> {
    /// Open `clients` plaintext connections to `addr`, each set up by
    /// [`Protocol::open`] in turn.
    pub fn connect(addr: SocketAddr, clients: usize, proto: P) -> io::Result<Driver<P>> {
        Driver::connect_over(addr, clients, proto, &Transport::Plain)
    }

    /// As [`Driver::connect`], over `transport` (the TLS handshake is done in set-up).
    pub fn connect_over(
        addr: SocketAddr,
        clients: usize,
        mut proto: P,
        transport: &Transport,
    ) -> io::Result<Driver<P>> {
        let poll = Poll::new()?;
        let mut list = Vec::with_capacity(clients);
        for index in 0..clients {
            let stream = transport.connect(addr)?;
            stream
                .socket()
                .0
                .set_read_timeout(Some(Duration::from_secs(10)))?;
            let mut setup = Setup {
                stream,
                buf: Vec::new(),
            };
            let role = proto.open(index, &mut setup)?;
            setup.stream.handshake()?;
            let role = match role {
                Role::Requester { depth } => Role::Requester {
                    depth: depth.max(1),
                },
                Role::Listener => Role::Listener,
            };
            setup.stream.socket().0.set_read_timeout(None)?;
            setup.stream.socket().0.set_nonblocking(true)?;
            let mut stream = setup.stream;
            poll.registry()
                .register(&mut stream, Token(index), Interest::READABLE)?;
            list.push(Client {
                stream,
                role,
                inbuf: setup.buf,
                out: Vec::new(),
                out_at: 0,
                writable_armed: false,
                sent: VecDeque::new(),
                seq: 0,
            });
        }
        Ok(Driver {
            proto,
            poll,
            events: Events::with_capacity(1024),
            clients: list,
            scratch: vec![0; SCRATCH_BYTES],
            ready: Vec::with_capacity(1024),
            epoch: Instant::now(),
            watched: None,
        })
    }

    /// Measure the CPU time process `pid` (the server) uses in each measured window:
    /// [`RunStats::server_cpu`].
    pub fn watch(&mut self, pid: u32) {
        self.watched = Some(pid);
    }

    /// The adapter, e.g. to read state it gathered.
    pub fn protocol(&mut self) -> &mut P {
        &mut self.proto
    }

    /// Nanoseconds on the driver's clock (the `now_ns` of [`Protocol::request`]).
    pub fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Run the loop for `warmup` unmeasured, then `duration` measured; then stop
    /// sending and wait for outstanding replies (and for listeners to go quiet), so
    /// the next run starts from idle connections.
    pub fn run(&mut self, warmup: Duration, duration: Duration) -> io::Result<RunStats> {
        let start = Instant::now();
        let measure_from = start + warmup;
        let end = measure_from + duration;
        let mut stats = RunStats::default();
        let mut measuring = false;
        let mut window_start = measure_from;
        let mut cpu_start = None;

        let now_ns = self.ns(start);
        for i in 0..self.clients.len() {
            self.top_up(i, now_ns);
            self.write(i)?;
        }
        loop {
            let now = Instant::now();
            if !measuring && now >= measure_from {
                measuring = true;
                window_start = now;
                stats = RunStats::default();
                cpu_start = self.watched.and_then(process_cpu);
            }
            if now >= end {
                stats.elapsed = now - window_start;
                let cpu_end = self.watched.and_then(process_cpu);
                if let (Some(a), Some(b)) = (cpu_start, cpu_end) {
                    stats.server_cpu = Some(b.saturating_sub(a));
                }
                break;
            }
            let wake = if measuring { end } else { measure_from };
            self.poll_once(Some(wake - now), true, measuring, &mut stats)?;
        }

        // Wind down: no new requests; collect the replies still owed.
        let deadline = Instant::now() + DRAIN_LIMIT;
        while self.clients.iter().any(|c| !c.sent.is_empty()) {
            let now = Instant::now();
            if now >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "replies still outstanding 10 s after the run ended",
                ));
            }
            self.poll_once(Some(deadline - now), false, false, &mut stats)?;
        }
        if self.clients.iter().any(|c| c.role == Role::Listener) {
            while self.poll_once(Some(QUIET), false, false, &mut stats)? > 0 {}
        }
        Ok(stats)
    }

    fn ns(&self, at: Instant) -> u64 {
        at.duration_since(self.epoch).as_nanos() as u64
    }

    /// One poll and its events; returns the number of events.
    fn poll_once(
        &mut self,
        timeout: Option<Duration>,
        send: bool,
        measuring: bool,
        stats: &mut RunStats,
    ) -> io::Result<usize> {
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(0),
            Err(e) => return Err(e),
        }
        let mut ready = std::mem::take(&mut self.ready);
        ready.clear();
        ready.extend(self.events.iter().map(|e| {
            (
                e.token().0,
                e.is_readable() || e.is_read_closed() || e.is_error(),
                e.is_writable(),
            )
        }));
        let mut result = Ok(ready.len());
        for &(i, readable, writable) in &ready {
            if writable {
                if let Err(e) = self.write(i) {
                    result = Err(e);
                    break;
                }
            }
            if readable {
                if let Err(e) = self.on_readable(i, send, measuring, stats) {
                    result = Err(e);
                    break;
                }
            }
        }
        self.ready = ready;
        result
    }

    /// Read what connection `i` has, handle every whole message, send what follows.
    fn on_readable(
        &mut self,
        i: usize,
        send: bool,
        measuring: bool,
        stats: &mut RunStats,
    ) -> io::Result<()> {
        loop {
            let n = match self.clients[i].stream.read(&mut self.scratch) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("connection {i}: the server closed it"),
                    ))
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            // One clock read per read: the receive time of these replies and the send
            // time of the requests they release.
            let now_ns = self.now_ns();
            let counts = self.handle_bytes(i, n, now_ns, measuring, stats)?;
            if measuring {
                stats.replies += counts.replies;
                stats.pushes += counts.pushes;
            }
            if send {
                self.top_up(i, now_ns);
            }
            self.write(i)?;
            // A short read means the socket is empty for now (epoll(7)); the next
            // bytes bring a new edge. This saves a read that would say EAGAIN. (Not
            // over TLS: its reads end at a record, not when the socket is empty.)
            if n < self.scratch.len() && !self.clients[i].stream.is_tls() {
                break;
            }
        }
        Ok(())
    }

    /// Parse `scratch[..n]` (after any partial bytes) for connection `i`.
    fn handle_bytes(
        &mut self,
        i: usize,
        n: usize,
        now_ns: u64,
        measuring: bool,
        stats: &mut RunStats,
    ) -> io::Result<Counts> {
        let Driver {
            proto,
            clients,
            scratch,
            ..
        } = self;
        let client = &mut clients[i];
        let mut counts = Counts::default();
        let mut inbuf = std::mem::take(&mut client.inbuf);
        let buf: &[u8] = if inbuf.is_empty() {
            &scratch[..n]
        } else {
            inbuf.extend_from_slice(&scratch[..n]);
            &inbuf
        };
        let mut used = 0;
        while used < buf.len() {
            let parsed = proto
                .parse(i, &buf[used..], &mut client.out)
                .map_err(|e| io::Error::other(format!("connection {i}: {e}")))?;
            let Some((len, what)) = parsed else { break };
            if len == 0 || used + len > buf.len() {
                return Err(io::Error::other("adapter consumed a bad length"));
            }
            used += len;
            match what {
                Incoming::Reply => {
                    let Some(sent) = client.sent.pop_front() else {
                        return Err(io::Error::other(format!(
                            "connection {i}: a reply to no request"
                        )));
                    };
                    counts.replies += 1;
                    if measuring {
                        stats.latency.record(now_ns.saturating_sub(sent));
                    }
                }
                Incoming::Push { sent_ns } => {
                    counts.pushes += 1;
                    if let (true, Some(sent)) = (measuring, sent_ns) {
                        stats.push_latency.record(now_ns.saturating_sub(sent));
                    }
                }
                Incoming::Ignore => {}
            }
        }
        let rest = &buf[used..];
        if !rest.is_empty() {
            let rest = rest.to_vec();
            client.inbuf = rest;
        } else if inbuf.capacity() > 0 {
            inbuf.clear();
            client.inbuf = inbuf;
        }
        Ok(counts)
    }

    /// Encode requests until connection `i` has its depth outstanding.
    fn top_up(&mut self, i: usize, now_ns: u64) {
        let client = &mut self.clients[i];
        let Role::Requester { depth } = client.role else {
            return;
        };
        while client.sent.len() < depth {
            self.proto.request(i, client.seq, now_ns, &mut client.out);
            client.sent.push_back(now_ns);
            client.seq += 1;
        }
    }

    /// Write what connection `i` has queued; arm WRITABLE only while some is left
    /// (queued here, or TLS records the stream could not write yet).
    fn write(&mut self, i: usize) -> io::Result<()> {
        let client = &mut self.clients[i];
        while client.out_at < client.out.len() {
            match client.stream.write(&client.out[client.out_at..]) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => client.out_at += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let mut pending = client.out_at < client.out.len();
        if !pending {
            client.out.clear();
            client.out_at = 0;
            match client.stream.flush() {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => pending = true,
                Err(e) => return Err(e),
            }
        }
        if pending != client.writable_armed {
            let interest = if pending {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            self.poll
                .registry()
                .reregister(&mut client.stream, Token(i), interest)?;
            client.writable_armed = pending;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------
// peerhub
// ---------------------------------------------------------------------------------

/// Recognise one hub frame at the start of `buf` and decode it.
pub fn hub_message(buf: &[u8]) -> Result<Option<(usize, HubMsg)>, String> {
    match frame::try_parse(buf, frame::DEFAULT_MAX_FRAME).map_err(|e| e.to_string())? {
        None => Ok(None),
        Some((len, payload)) => {
            let msg = HubMsg::decode(payload).map_err(|e| e.to_string())?;
            Ok(Some((len, msg)))
        }
    }
}

/// Say hello as a session and wait for the hub's welcome.
pub fn hub_hello(conn: &mut Setup) -> io::Result<()> {
    let mut out = Vec::new();
    ClientMsg::Hello {
        version: VERSION,
        role: HelloRole::Session,
    }
    .encode(&mut out);
    conn.send(&out)?;
    match conn.recv(hub_message)? {
        HubMsg::Welcome { .. } => Ok(()),
        other => Err(io::Error::other(format!(
            "expected a welcome, got {other:?}"
        ))),
    }
}

/// Send one request and wait for its reply, skipping pushes; fails unless the status
/// is 2xx. For set-up steps such as Register and Login.
pub fn hub_call(conn: &mut Setup, request: &ClientMsg) -> io::Result<HubMsg> {
    let mut out = Vec::new();
    request.encode(&mut out);
    conn.send(&out)?;
    loop {
        match conn.recv(hub_message)? {
            HubMsg::Reply { status, .. } if !(200..300).contains(&status.0) => {
                return Err(io::Error::other(format!(
                    "{request:?} answered with status {}",
                    status.0
                )))
            }
            reply @ HubMsg::Reply { .. } => return Ok(reply),
            _ => continue,
        }
    }
}

/// Register `user` (password `bench-password`) and log in, announcing `peer_port`.
pub fn hub_register_login(conn: &mut Setup, user: &str, peer_port: u16) -> io::Result<()> {
    let password = "bench-password".to_string();
    hub_call(
        conn,
        &ClientMsg::Register {
            tag: 1,
            user: user.to_owned(),
            password: password.clone(),
        },
    )?;
    hub_call(
        conn,
        &ClientMsg::Login {
            tag: 2,
            user: user.to_owned(),
            password,
            peer_port,
            fingerprint: peerhub::trust::Fingerprint::from_bytes([0; 32]),
        },
    )?;
    Ok(())
}

/// Recognise a hub message in the loop: replies are checked for a 2xx status, a Ping
/// is answered with its Pong, other messages are pushes with no send time.
pub fn hub_incoming(
    buf: &[u8],
    answer: &mut Vec<u8>,
) -> Result<Option<(usize, Incoming, HubMsg)>, String> {
    let Some((len, msg)) = hub_message(buf)? else {
        return Ok(None);
    };
    let what = match &msg {
        HubMsg::Reply {
            status, message, ..
        } => {
            if !(200..300).contains(&status.0) {
                return Err(format!("reply status {}: {message}", status.0));
            }
            Incoming::Reply
        }
        HubMsg::Ping { nonce } => {
            ClientMsg::Pong { nonce: *nonce }.encode(answer);
            Incoming::Ignore
        }
        HubMsg::Bye { reason, .. } => return Err(format!("the hub said bye: {reason}")),
        _ => Incoming::Push { sent_ns: None },
    };
    Ok(Some((len, what, msg)))
}

/// The cheapest hub request, in a closed loop: Echo → Reply 200. No login needed.
pub struct PeerhubEcho {
    depth: usize,
    /// The type byte of a Reply payload, learnt from the codec.
    reply_kind: u8,
}

impl PeerhubEcho {
    /// `depth` requests outstanding per connection (1: closed loop).
    pub fn new(depth: usize) -> PeerhubEcho {
        let frame = HubMsg::Reply {
            tag: 0x0102_0304,
            status: Status(299),
            message: String::new(),
            body: Body::None,
        }
        .to_frame();
        // The fast path below reads a Reply's status without decoding the whole
        // message: payload = type u8, tag u32, status u16, ... Check that layout.
        assert_eq!(
            frame.get(frame::HEADER_LEN + 1..frame::HEADER_LEN + 7),
            Some(&[1, 2, 3, 4, 1, 43][..]),
            "Reply layout changed: update PeerhubEcho::parse"
        );
        PeerhubEcho {
            depth,
            reply_kind: frame[frame::HEADER_LEN],
        }
    }
}

impl Protocol for PeerhubEcho {
    fn open(&mut self, _index: usize, conn: &mut Setup) -> io::Result<Role> {
        hub_hello(conn)?;
        Ok(Role::Requester { depth: self.depth })
    }

    fn request(&mut self, _index: usize, seq: u64, _now_ns: u64, out: &mut Vec<u8>) {
        ClientMsg::Echo { tag: seq as u32 }.encode(out);
    }

    fn parse(
        &mut self,
        _index: usize,
        buf: &[u8],
        answer: &mut Vec<u8>,
    ) -> Result<Option<(usize, Incoming)>, String> {
        // Fast path, so that the driver's side costs about what RESP recognition
        // costs: a 2xx Reply is recognised from its type and status bytes, with no
        // allocation. Anything else is decoded in full.
        if let Ok(Some((len, payload))) = frame::try_parse(buf, frame::DEFAULT_MAX_FRAME) {
            if payload.first() == Some(&self.reply_kind) {
                if let Some(&[hi, lo]) = payload.get(5..7) {
                    if (200..300).contains(&u16::from_be_bytes([hi, lo])) {
                        return Ok(Some((len, Incoming::Reply)));
                    }
                }
            }
        }
        Ok(hub_incoming(buf, answer)?.map(|(len, what, _)| (len, what)))
    }
}

/// A running `peerhub server` on a free loopback port, with its own data directory.
/// Killed, and its directory removed, on drop.
pub struct HubProcess {
    pub addr: SocketAddr,
    /// The key it presents, when it speaks TLS.
    pub fingerprint: Option<Fingerprint>,
    child: Child,
    /// Kept open so the console sees no end of input.
    _stdin: Option<ChildStdin>,
    data: PathBuf,
    launch: Launch,
}

impl HubProcess {
    /// Start the hub built by cargo for this bench (optimised: the bench profile), or
    /// the binary named by `PEERHUB_BENCH_HUB_BIN` (to compare two builds), with
    /// `--json --auth-rate 0 --insecure-plaintext` and any `extra` flags; wait for its
    /// listening event. The drivers speak plaintext frames to it.
    pub fn start(extra: &[&str]) -> io::Result<HubProcess> {
        let mut flags = vec!["--auth-rate", "0"];
        flags.extend(extra);
        HubProcess::start_with_limits(&flags)
    }

    /// As [`HubProcess::start`], but speaking TLS, as a hub does by default: connect
    /// to it over [`HubProcess::transport`].
    pub fn start_tls(extra: &[&str]) -> io::Result<HubProcess> {
        let mut flags = vec!["--auth-rate", "0"];
        flags.extend(extra);
        HubProcess::launch(&flags, true)
    }

    /// As [`HubProcess::start`], but the failed-login limit stays on its default.
    pub fn start_with_limits(extra: &[&str]) -> io::Result<HubProcess> {
        HubProcess::launch(extra, false)
    }

    /// How to reach it: TLS pinned to its key, or plaintext.
    pub fn transport(&self) -> Transport {
        match self.fingerprint {
            Some(fingerprint) => Transport::hub(fingerprint),
            None => Transport::Plain,
        }
    }

    fn launch(extra: &[&str], tls: bool) -> io::Result<HubProcess> {
        let program = std::env::var_os("PEERHUB_BENCH_HUB_BIN")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_peerhub").into());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let data =
            std::env::temp_dir().join(format!("peerhub-bench-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&data)?;
        // Plaintext unless asked (a hub from before TLS has no such flag).
        let mut args: Vec<String> = Vec::new();
        if !tls && blocking::hub_knows("--insecure-plaintext") {
            args.push("--insecure-plaintext".into());
        }
        args.push("--data".into());
        args.push(data.to_string_lossy().into_owned());
        args.extend(extra.iter().map(|a| a.to_string()));
        let launch = Launch { program, args, tls };
        let (child, stdin, addr, fingerprint) = launch.spawn("127.0.0.1:0")?;
        Ok(HubProcess {
            addr,
            fingerprint,
            child,
            _stdin: stdin,
            data,
            launch,
        })
    }

    /// Kill the hub at once (SIGKILL: no goodbye to anyone, nothing flushed) and start
    /// it again on the same address with the same data and flags; returns when the new
    /// one listens. Its identity is in the data directory, so its key stays the same.
    pub fn kill_and_restart(&mut self) -> io::Result<()> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (child, stdin, addr, fingerprint) = self.launch.spawn(&self.addr.to_string())?;
        if addr != self.addr || fingerprint != self.fingerprint {
            return Err(io::Error::other("the restarted hub is not the same hub"));
        }
        self.child = child;
        self._stdin = stdin;
        Ok(())
    }

    /// The hub's process id (for perf, strace, [`pin_to_cpu`]).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// The `RUST_LOG` of a process a bench starts: its warnings only (the default), or the
/// filter in `PEERHUB_BENCH_LOG` to see why a run went wrong (`peerhub=debug`); for the
/// hubs of [`HubProcess`].
pub fn bench_log_filter() -> std::ffi::OsString {
    std::env::var_os("PEERHUB_BENCH_LOG").unwrap_or_else(|| "warn".into())
}

/// How a [`HubProcess`] was started, to start it again.
struct Launch {
    program: std::ffi::OsString,
    /// Every flag after `server` but `--listen` and `--json`.
    args: Vec<String>,
    tls: bool,
}

impl Launch {
    /// Start the hub listening on `listen`; wait for its listening event and read the
    /// address and (over TLS) the fingerprint from it.
    fn spawn(
        &self,
        listen: &str,
    ) -> io::Result<(Child, Option<ChildStdin>, SocketAddr, Option<Fingerprint>)> {
        let mut child = Command::new(&self.program)
            .arg("server")
            .args(["--listen", listen, "--json"])
            .args(&self.args)
            .env("RUST_LOG", bench_log_filter())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let started = (|| {
            let stdout = stdout.ok_or_else(|| io::Error::other("no stdout pipe"))?;
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            reader.read_line(&mut line)?;
            let (addr, fingerprint) = self.listening(&line)?;
            // The hub prints an event per connection: keep its stdout pipe from filling.
            std::thread::spawn(move || io::copy(&mut reader, &mut io::sink()));
            Ok((addr, fingerprint))
        })();
        match started {
            Ok((addr, fingerprint)) => Ok((child, stdin, addr, fingerprint)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
        }
    }

    /// The address and fingerprint of a `listening` event.
    fn listening(&self, line: &str) -> io::Result<(SocketAddr, Option<Fingerprint>)> {
        let event: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| io::Error::other(format!("hub's first line {line:?}: {e}")))?;
        let addr = event
            .get("addr")
            .and_then(|a| a.as_str())
            .filter(|_| event.get("event").and_then(|e| e.as_str()) == Some("listening"))
            .ok_or_else(|| io::Error::other(format!("not a listening event: {line:?}")))?;
        let addr = addr
            .parse()
            .map_err(|e| io::Error::other(format!("address {addr:?}: {e}")))?;
        if !self.tls {
            return Ok((addr, None));
        }
        let fingerprint = event
            .get("fingerprint")
            .and_then(|f| f.as_str())
            .ok_or_else(|| io::Error::other(format!("no fingerprint in {line:?}")))?;
        let fingerprint = fingerprint
            .parse()
            .map_err(|e| io::Error::other(format!("fingerprint {fingerprint:?}: {e}")))?;
        Ok((addr, Some(fingerprint)))
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

// ---------------------------------------------------------------------------------
// Redis
// ---------------------------------------------------------------------------------

/// RESP (Redis protocol) encoding and recognition.
pub mod resp {
    /// Append a command as a RESP array of bulk strings.
    pub fn command(out: &mut Vec<u8>, args: &[&[u8]]) {
        out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The length of the one complete RESP2/RESP3 value at the start of `buf`, or
    /// `None` if it is not all there yet.
    pub fn value_len(buf: &[u8]) -> Result<Option<usize>, String> {
        value_end(buf, 0, 0)
    }

    fn line_end(buf: &[u8], from: usize) -> Option<usize> {
        buf.get(from..)?
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|p| from + p)
    }

    fn number(buf: &[u8], from: usize, to: usize) -> Result<i64, String> {
        std::str::from_utf8(&buf[from..to])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| "bad RESP length".to_string())
    }

    fn value_end(buf: &[u8], at: usize, depth: usize) -> Result<Option<usize>, String> {
        if depth > 32 {
            return Err("RESP nested too deep".into());
        }
        let Some(&kind) = buf.get(at) else {
            return Ok(None);
        };
        let Some(eol) = line_end(buf, at + 1) else {
            return Ok(None);
        };
        let after_line = eol + 2;
        match kind {
            b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Ok(Some(after_line)),
            b'$' | b'!' | b'=' => {
                let len = number(buf, at + 1, eol)?;
                if len < 0 {
                    return Ok(Some(after_line));
                }
                let end = after_line + len as usize + 2;
                Ok((buf.len() >= end).then_some(end))
            }
            b'*' | b'>' | b'~' | b'%' | b'|' => {
                let n = number(buf, at + 1, eol)?;
                if n < 0 {
                    return Ok(Some(after_line));
                }
                let items = if matches!(kind, b'%' | b'|') {
                    2 * n
                } else {
                    n
                };
                let mut pos = after_line;
                for _ in 0..items {
                    match value_end(buf, pos, depth + 1)? {
                        Some(end) => pos = end,
                        None => return Ok(None),
                    }
                }
                Ok(Some(pos))
            }
            other => Err(format!("not RESP: type byte {other:#04x}")),
        }
    }
}

/// Redis PING in a closed loop: `*1\r\n$4\r\nPING\r\n` → `+PONG\r\n`.
pub struct RedisPing {
    /// Requests outstanding per connection (1: closed loop).
    pub depth: usize,
}

/// Recognise one Redis reply; an error reply (`-ERR ...`) stops the bench.
pub fn redis_reply(buf: &[u8]) -> Result<Option<usize>, String> {
    let Some(len) = resp::value_len(buf)? else {
        return Ok(None);
    };
    if buf.first() == Some(&b'-') {
        return Err(format!(
            "redis error: {}",
            String::from_utf8_lossy(&buf[1..len - 2])
        ));
    }
    Ok(Some(len))
}

impl Protocol for RedisPing {
    fn open(&mut self, _index: usize, conn: &mut Setup) -> io::Result<Role> {
        conn.send(b"*1\r\n$4\r\nPING\r\n")?;
        conn.recv(|b| Ok(redis_reply(b)?.map(|n| (n, ()))))?;
        Ok(Role::Requester { depth: self.depth })
    }

    fn request(&mut self, _index: usize, _seq: u64, _now_ns: u64, out: &mut Vec<u8>) {
        out.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
    }

    fn parse(
        &mut self,
        _index: usize,
        buf: &[u8],
        _answer: &mut Vec<u8>,
    ) -> Result<Option<(usize, Incoming)>, String> {
        Ok(redis_reply(buf)?.map(|n| (n, Incoming::Reply)))
    }
}

/// A `redis-server` of our own on a free loopback port, without persistence.
/// Killed on drop.
pub struct RedisProcess {
    pub addr: SocketAddr,
    child: Child,
    transport: Transport,
    /// The certificate of a TLS Redis, removed with it.
    _cert: Option<ThrowAwayCert>,
}

impl RedisProcess {
    /// Start one if `redis-server` is on PATH (`Ok(None)` if not), and wait until it
    /// answers PING.
    pub fn start() -> io::Result<Option<RedisProcess>> {
        RedisProcess::launch(false)
    }

    /// As [`RedisProcess::start`], but speaking only TLS (`--port 0 --tls-port`, a
    /// throw-away certificate, no client certificates asked for): connect to it over
    /// [`RedisProcess::transport`].
    pub fn start_tls() -> io::Result<Option<RedisProcess>> {
        RedisProcess::launch(true)
    }

    /// How to reach it: plaintext, or TLS accepting its throw-away key.
    pub fn transport(&self) -> Transport {
        self.transport.clone()
    }

    fn launch(tls: bool) -> io::Result<Option<RedisProcess>> {
        // A port the kernel just handed out and we released: free unless raced.
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let cert = if tls {
            Some(ThrowAwayCert::new()?)
        } else {
            None
        };
        let mut command = Command::new("redis-server");
        match &cert {
            None => command.args(["--port", &port.to_string()]),
            Some(cert) => command
                .args(["--port", "0", "--tls-port", &port.to_string()])
                .arg("--tls-cert-file")
                .arg(cert.cert_file())
                .arg("--tls-key-file")
                .arg(cert.key_file())
                .args(["--tls-auth-clients", "no"]),
        };
        let child = match command
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            // Past its default of 10,000 clients (it lowers this to what its descriptor
            // limit allows, as the hub does), so the idle-memory count of 10,000 fits.
            .args(["--maxclients", "100000"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut redis = RedisProcess {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child,
            transport: if tls {
                Transport::any_key()
            } else {
                Transport::Plain
            },
            _cert: cert,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if redis.ping().is_ok() {
                return Ok(Some(redis));
            }
            if let Some(status) = redis.child.try_wait()? {
                if tls {
                    // A build without TLS refuses --tls-port: no TLS baseline, say so.
                    eprintln!(
                        "redis-server exited at start with --tls-port ({status}): built \
                         without TLS? The TLS baseline is skipped"
                    );
                    return Ok(None);
                }
                return Err(io::Error::other(format!("redis-server exited: {status}")));
            }
            if Instant::now() >= deadline {
                return Err(io::Error::other("redis-server did not answer PING in 10 s"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn ping(&self) -> io::Result<()> {
        let mut stream = self.transport.connect(self.addr)?;
        stream
            .socket()
            .0
            .set_read_timeout(Some(Duration::from_secs(1)))?;
        stream.write_all(b"*1\r\n$4\r\nPING\r\n")?;
        stream.flush()?;
        let mut reply = [0u8; 7];
        stream.read_exact(&mut reply)?;
        if &reply == b"+PONG\r\n" {
            Ok(())
        } else {
            Err(io::Error::other("unexpected PING reply"))
        }
    }

    /// The server's process id (for perf, strace, [`pin_to_cpu`]).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------

/// Pin process `pid` (0: the calling thread) to one CPU. Returns whether it worked.
///
/// Why: in a closed loop the scheduler's wake-affine logic puts the driver and the
/// server on the same CPU (each wakes the other), so the run measures both sharing a
/// core while the other idles. Pinning them apart gives the server a core of its own.
pub fn pin_to_cpu(pid: u32, cpu: usize) -> bool {
    // SAFETY: cpu_set_t is plain data for which all zeroes is the empty set; CPU_SET
    // bounds-checks `cpu`; sched_setaffinity only reads the set we pass.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(pid as libc::pid_t, std::mem::size_of_val(&set), &set) == 0
    }
}

/// CPUs this process may run on.
pub fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Where to pin, from `PEERHUB_BENCH_PIN` (default on when there are 2+ CPUs):
/// `Some((server_cpu, driver_cpu))` — the servers on CPU 0, the driver on the last.
pub fn pinning() -> Option<(usize, usize)> {
    let cpus = cpu_count();
    let wanted = env_usize("PEERHUB_BENCH_PIN", 1) != 0;
    (wanted && cpus >= 2).then_some((0, cpus - 1))
}

/// `true` under `cargo bench` (which passes `--bench`); `false` under
/// `cargo test --benches`, where a bench should only prove it still works, quickly.
pub fn is_bench() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// A whole number from the environment, or `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// A number of seconds (fractions allowed) from the environment, or `default`.
pub fn env_secs(name: &str, default: f64) -> Duration {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .unwrap_or_else(|| Duration::from_secs_f64(default))
}

/// Checks of the pure parts (harness-less benches run no `#[test]`s): the quick mode
/// of `cargo test --benches` calls this.
pub fn self_check() {
    {
        for v in [
            0u64,
            1,
            255,
            256,
            257,
            1000,
            12_345,
            987_654_321,
            u64::MAX / 3,
        ] {
            let i = Histogram::index(v);
            let mid = Histogram::value(i);
            let err = (mid as f64 - v as f64).abs() / (v.max(1) as f64);
            assert!(err < 0.01, "{v} -> bucket {i} -> {mid}");
        }
    }
    {
        assert_eq!(resp::value_len(b"+PONG\r\n"), Ok(Some(7)));
        assert_eq!(resp::value_len(b"+PON"), Ok(None));
        assert_eq!(resp::value_len(b"$3\r\nabc\r\n+"), Ok(Some(9)));
        assert_eq!(resp::value_len(b"$-1\r\n"), Ok(Some(5)));
        assert_eq!(
            resp::value_len(b"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$2\r\nhi\r\n"),
            Ok(Some(32))
        );
        assert_eq!(resp::value_len(b"*2\r\n:1\r\n"), Ok(None));
    }
}
