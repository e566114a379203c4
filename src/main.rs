//! The `peerhub` binary: command-line parsing and logging set-up, then the hub or a peer.

use clap::{Args, Parser, Subcommand};
use peerhub::client::{self, ClientConfig};
use peerhub::proto::frame::DEFAULT_MAX_FRAME;
use peerhub::server::hub::HubConfig;
use peerhub::server::store::StoreLimits;
use peerhub::server::{self, ServerConfig};
use peerhub::sys::{LineAligned, DEFAULT_LISTEN_BACKLOG};
use peerhub::trust::{Fingerprint, ResumeSecret};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Big blocks on a cache line: glibc's big copies between them stay fast (`sys::LineAligned`).
#[global_allocator]
static ALLOCATOR: LineAligned = LineAligned;

/// A peer-to-peer file-sharing hub and its peers.
#[derive(Parser)]
#[command(name = "peerhub", version, about)]
struct Cli {
    #[command(subcommand)]
    role: Role,
}

#[derive(Subcommand)]
enum Role {
    /// Run the hub: accounts, presence, the publish index, chat and the store.
    Server(ServerArgs),
    /// Run a peer: type commands on stdin, serve published files to other peers.
    Client(ClientArgs),
}

/// A frame limit: at least 1 KiB (every hub message must fit), at most 16 MiB.
fn frame_limit(text: &str) -> Result<usize, String> {
    let bytes: usize = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of bytes"))?;
    if (1024..=16 * 1024 * 1024).contains(&bytes) {
        Ok(bytes)
    } else {
        Err(format!("{bytes} is outside 1024..=16777216"))
    }
}

/// A hub address: `host:port` (`[v6]:port` for an IPv6 literal). Only the shape is
/// checked here (a malformed value is a usage error, exit 2); the host is resolved at
/// start-up (an unknown host exits 1 naming it).
fn hub_address(text: &str) -> Result<String, String> {
    let shape = "expected host:port, e.g. 127.0.0.1:9999 or [::1]:9999";
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("{text:?} has no port; {shape}"))?;
    if host.is_empty() || host == "[]" {
        return Err(format!("{text:?} has no host; {shape}"));
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err(format!(
            "{text:?}: an IPv6 address goes in brackets; {shape}"
        ));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(text.to_owned()),
        _ => Err(format!("{port:?} is not a port (1-65535); {shape}")),
    }
}

/// Seconds as a decimal number (`0.5`, `30`).
fn seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs)
        .map_err(|_| format!("{text:?} is not a valid number of seconds"))
}

#[derive(Args)]
struct ServerArgs {
    /// Address to listen on (IPv4 or IPv6; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:9999")]
    listen: SocketAddr,
    /// Connections the kernel queues for accepting while the hub is busy (capped at net.core.somaxconn); enough for a reconnect storm.
    #[arg(long, default_value_t = DEFAULT_LISTEN_BACKLOG, value_parser = clap::value_parser!(u32).range(1..))]
    listen_backlog: u32,
    /// Directory for the database and the store.
    #[arg(long, default_value = "./peerhub-data")]
    data: PathBuf,
    /// Directory of the hub's key and certificate (hub-key.pem, hub-cert.pem), made on
    /// first start and created if missing; hubs given the same one share an identity
    /// (default: the --data directory).
    #[arg(long)]
    identity: Option<PathBuf>,
    /// INSECURE: speak plaintext instead of TLS, so passwords, chat and files cross the
    /// network readable by anyone on it (benchmarks and debugging only; clients need it too).
    #[arg(long)]
    insecure_plaintext: bool,
    /// One JSON object per line on stdout.
    #[arg(long)]
    json: bool,
    /// Most connections at once; the excess is refused with 503.
    #[arg(long, default_value_t = 10_000)]
    max_clients: usize,
    /// Largest frame accepted, in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_FRAME)]
    #[arg(value_parser = frame_limit)]
    max_frame: usize,
    /// Most bytes queued for one connection before it is dropped as a slow reader (0: no limit).
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    max_output: usize,
    /// Most heap bytes the output queues of all connections may hold together; past it the biggest queues are dropped first (0: no limit). The default leaves room, within 256 MiB of hub memory, for 10,000 connections' input buffers and state.
    #[arg(long, default_value_t = 128 * 1024 * 1024)]
    max_output_total: usize,
    /// Most connections from one address; the excess is refused with 503 (0: no limit).
    #[arg(long, default_value_t = 256)]
    max_per_address: usize,
    /// Seconds a new connection has to say hello.
    #[arg(long, default_value = "15", value_parser = seconds)]
    hello_timeout: Duration,
    /// Seconds a connection may stay without logging in, whatever it sends meanwhile.
    #[arg(long, default_value = "300", value_parser = seconds)]
    idle_timeout: Duration,
    /// Seconds of quiet before the hub pings a client.
    #[arg(long, default_value = "30", value_parser = seconds)]
    ping_interval: Duration,
    /// Seconds a client has to answer a ping before it is dropped.
    #[arg(long, default_value = "10", value_parser = seconds)]
    ping_timeout: Duration,
    /// Failed attempts allowed per address per minute: logins refused 401/402, passwd
    /// with a wrong old password, registrations of a taken name; successes do not count
    /// (0: no limit).
    #[arg(long, default_value_t = 10)]
    auth_rate: u32,
    /// Failed password attempts allowed per account per minute, from any address (0: no limit).
    #[arg(long, default_value_t = 20)]
    account_auth_rate: u32,
    /// Password checks (each costs an argon2 hash) allowed per address per minute (0: no limit).
    #[arg(long, default_value_t = 120)]
    hash_rate: u32,
    /// Most files one account may publish (0: no limit).
    #[arg(long, default_value_t = 10_000)]
    max_published: usize,
    /// Chat messages per second per user, burst max(2×rate, 5) (0: no limit).
    #[arg(long, default_value_t = 20.0)]
    chat_rate: f64,
    /// Chat messages replayed to whoever joins.
    #[arg(long, default_value_t = 20)]
    history: usize,
    /// Largest single file accepted into the store, in bytes (0: no limit).
    #[arg(long, default_value_t = 4 << 30)]
    store_max_file: u64,
    /// Most bytes one user may keep in the store (0: no limit).
    #[arg(long, default_value_t = 16 << 30)]
    store_quota: u64,
    /// Free bytes the store's disk must keep after an upload.
    #[arg(long, default_value_t = 64 << 20)]
    store_reserve: u64,
    /// Most files and directories in one store entry.
    #[arg(long, default_value_t = 100_000)]
    store_max_items: u64,
    /// Seconds a store ticket stays valid before its transfer connection must use it.
    #[arg(long, default_value = "30", value_parser = seconds)]
    store_ticket_ttl: Duration,
    /// Seconds a store transfer may move nothing before the hub closes it (an upload is discarded).
    #[arg(long, default_value = "30", value_parser = seconds)]
    store_stall: Duration,
    /// Store tickets one user may hold open, with the uploads they started (0: no limit); the excess gets 429.
    #[arg(long, default_value_t = 4)]
    store_max_tickets: u32,
    /// Store connections open at once, apart from --max-clients (0: no limit); the excess gets 503.
    #[arg(long, default_value_t = 256)]
    max_store_conns: usize,
    /// Seconds the fetch ticket of a lookup reply lets its fetcher connect to the holder.
    #[arg(long, default_value = "60", value_parser = seconds)]
    fetch_ticket_ttl: Duration,
    /// Seconds a resume token stays valid after a password login: until then a client
    /// that lost the hub (also across a restart) logs back in without its password (0: at
    /// once, so every reconnect uses the password).
    #[arg(long, default_value = "43200", value_parser = seconds)]
    resume_ttl: Duration,
    #[command(flatten)]
    web: WebArgs,
}

/// The web interface's flags, the same for both roles.
#[derive(Args)]
struct WebArgs {
    /// Serve the web interface on this address (default 127.0.0.1:0: a free loopback
    /// port); the URL with its access token is printed at start. Off loopback it is
    /// HTTPS with this process's own certificate, and a warning says so. For a client
    /// it implies --serve.
    #[arg(long, num_args = 0..=1, default_missing_value = "127.0.0.1:0")]
    web: Option<SocketAddr>,
    /// A further name the web interface's Host header may give (repeatable).
    #[arg(long)]
    web_host: Vec<String>,
    /// Serve the web interface over HTTPS on loopback too (off loopback it always is).
    #[arg(long)]
    web_https: bool,
    /// Most connections the web interface holds at once (pages, assets, WebSockets).
    #[arg(long, default_value_t = peerhub::web::WEB_MAX_CONNS, value_parser = count(65_535))]
    web_max_conns: usize,
    /// Seconds a web connection has to send its request head (TLS handshake included).
    #[arg(long, default_value = "10", value_parser = seconds)]
    web_head_timeout: Duration,
    /// The longest WebSocket message, in bytes, the web interface accepts.
    #[arg(long, default_value_t = peerhub::web::MAX_MESSAGE, value_parser = count(1 << 30))]
    web_max_message: usize,
    /// Bytes that may wait for one page before it is dropped as a slow reader.
    #[arg(long, default_value_t = peerhub::web::MAX_QUEUED, value_parser = count(1 << 40))]
    web_max_queued: usize,
}

/// A parser of a count from 1 to `max`.
fn count(max: u64) -> impl clap::builder::TypedValueParser<Value = usize> {
    use clap::builder::TypedValueParser;
    clap::value_parser!(u64)
        .range(1..=max)
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
}

impl WebArgs {
    /// Where and how to serve, if at all.
    fn listen(self) -> Option<peerhub::web::WebListen> {
        let limits = peerhub::web::WebLimits {
            max_conns: self.web_max_conns,
            head_timeout: self.web_head_timeout,
            max_message: self.web_max_message,
            max_queued: self.web_max_queued,
        };
        self.web.map(|addr| peerhub::web::WebListen {
            addr,
            hosts: self.web_host,
            https: self.web_https,
            limits,
        })
    }
}

#[derive(Args)]
struct ClientArgs {
    /// The hub's address.
    #[arg(long, env = "PEERHUB_SERVER", default_value = "127.0.0.1:9999")]
    #[arg(value_parser = hub_address)]
    server: String,
    /// Trust exactly this hub key (sha256:<64 hex digits>, as the hub prints it at start),
    /// even on first use; without it the first key seen is pinned in <share>/.peerhub-known-hubs.
    #[arg(long)]
    hub_key: Option<Fingerprint>,
    /// INSECURE: speak plaintext instead of TLS, to the hub and to other peers, so
    /// passwords, chat and files cross the network readable by anyone on it (benchmarks
    /// and debugging only; the hub needs it too).
    #[arg(long)]
    insecure_plaintext: bool,
    /// Directory of the files this peer publishes and fetches.
    #[arg(long, default_value = "./peerhub-share")]
    share: PathBuf,
    /// Address of this peer's listener (default: an ephemeral port on the address used to reach the hub).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// One JSON object per line on stdout.
    #[arg(long)]
    json: bool,
    /// With --json: also a `progress` event per running transfer, at most 4 a second.
    #[arg(long, requires = "json")]
    progress_events: bool,
    /// Keep serving published files after the end of input, until SIGINT/SIGTERM.
    #[arg(long)]
    serve: bool,
    /// Seconds to keep trying to reconnect to a lost hub before exiting 1 (not with --serve).
    #[arg(long, default_value = "60", value_parser = seconds)]
    reconnect_for: Duration,
    /// Bytes of a file hashed per loop turn (smaller: more responsive while publishing big files).
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    hash_slice: usize,
    /// Seconds without progress before a transfer fails (504) or an upload is closed;
    /// a connecting peer gets this long (at most 5 s) to send its request.
    #[arg(long, default_value = "30", value_parser = seconds)]
    stall_timeout: Duration,
    /// Bytes per second per upload to other peers (0: unlimited).
    #[arg(long, default_value_t = 0)]
    upload_rate: u64,
    /// Most connections from one address on the peer listener; the excess gets 503 (0: no limit).
    #[arg(long, default_value_t = 16)]
    peer_max_per_address: usize,
    /// Most uploads to other peers at once, counted once a peer's request is valid; the next gets 503.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..))]
    max_uploads: u64,
    /// Most holders one `fetch` takes a file from at once (its `--sources` default).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=peerhub::client::MAX_SOURCES as u64))]
    sources: u64,
    #[command(flatten)]
    web: WebArgs,
    /// The largest file, in bytes, the web page may add to the share (`PUT /share/<name>`).
    #[arg(long, default_value_t = peerhub::web::share::DEFAULT_MAX_UPLOAD)]
    web_max_upload: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .target(env_logger::Target::Stderr)
        .init();
    let result = match cli.role {
        Role::Server(a) => server::run(ServerConfig {
            listen: a.listen,
            listen_backlog: a.listen_backlog,
            data: a.data,
            identity: a.identity,
            insecure_plaintext: a.insecure_plaintext,
            json: a.json,
            max_clients: a.max_clients,
            max_frame: a.max_frame,
            max_output: a.max_output,
            max_output_total: a.max_output_total,
            max_per_address: a.max_per_address,
            hub: HubConfig {
                hello_timeout: a.hello_timeout,
                idle_timeout: a.idle_timeout,
                ping_interval: a.ping_interval,
                ping_timeout: a.ping_timeout,
                auth_rate: a.auth_rate,
                account_auth_rate: a.account_auth_rate,
                hash_rate: a.hash_rate,
                max_published: a.max_published,
                chat_rate: a.chat_rate,
                history: a.history,
                store_ticket_ttl: a.store_ticket_ttl,
                store_max_items: a.store_max_items,
                store_max_tickets: a.store_max_tickets,
                max_store_conns: a.max_store_conns,
                fetch_ticket_ttl: a.fetch_ticket_ttl,
                // The loop sets it from the identity it loads.
                fingerprint: None,
                resume_ttl: a.resume_ttl,
                // The loop loads it from <data>/resume-secret.
                resume_secret: ResumeSecret::from_bytes([0; 32]),
            },
            store: StoreLimits {
                max_file: a.store_max_file,
                user_quota: a.store_quota,
                reserve: a.store_reserve,
            },
            store_stall: a.store_stall,
            web: a.web.listen(),
        }),
        Role::Client(a) => client::run(ClientConfig {
            server: a.server,
            hub_key: a.hub_key,
            insecure_plaintext: a.insecure_plaintext,
            share: a.share,
            listen: a.listen,
            json: a.json,
            progress_events: a.progress_events,
            serve: a.serve,
            reconnect_for: a.reconnect_for,
            hash_slice: a.hash_slice,
            stall_timeout: a.stall_timeout,
            upload_rate: a.upload_rate,
            peer_max_per_address: a.peer_max_per_address,
            max_uploads: a.max_uploads as usize,
            sources: a.sources as usize,
            web: a.web.listen(),
            web_max_upload: a.web_max_upload,
        }),
    };
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("peerhub: {e}");
            ExitCode::from(1)
        }
    }
}
