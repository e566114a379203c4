//! The peer's conversation with the hub as a pure state machine: typed commands and hub
//! messages go in; frames to send, lines to print, connects and deadlines come out.

use super::command::{self, Command};
use crate::output::{CommandResult, Event};
use crate::proto::message::{Body, ClientMsg, HubMsg, Role, VERSION};
use crate::proto::status::Status;
use log::{debug, info};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// First reconnect delay; doubled after each failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long a leaving client waits for the hub to acknowledge its logout.
const LEAVE_GRACE: Duration = Duration::from_secs(2);

/// Settings of the session.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Keep serving (and reconnecting) after end of input.
    pub serve: bool,
    /// Give up reconnecting after this long (ignored with `serve`).
    pub reconnect_for: Duration,
    /// The peer listener's port, announced at login.
    pub peer_port: u16,
}

/// What the loop must do.
#[derive(Debug, PartialEq)]
pub enum Action {
    /// Queue a frame to the hub.
    Send(Vec<u8>),
    /// Open a new connection to the hub (the old one, if any, is gone).
    Connect,
    /// Close the hub connection (we are leaving).
    Disconnect,
    /// Print a command's result.
    Result(CommandResult),
    /// Print an event.
    Event(Event),
    /// Call [`Session::on_timer`] at this instant.
    Arm(Instant),
    /// Exit the process with this code.
    Exit(i32),
}

/// The state of the link to the hub.
#[derive(Debug, Clone, PartialEq)]
enum Link {
    /// A connection is being made; hello is queued.
    Connecting,
    /// Welcome received: requests flow.
    Up,
    /// Lost; the next attempt is due at `retry_at`; `since` is when it was lost.
    Down {
        since: Instant,
        retry_at: Instant,
        backoff: Duration,
    },
}

/// Why the process is winding down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leaving {
    /// `quit` typed on this line: exit once in-flight work is done, with a result.
    Quit { id: u64 },
    /// End of input without `--serve`.
    EndOfInput,
    /// SIGINT/SIGTERM: log out and exit at once.
    Signal,
}

/// A request waiting for the hub's reply.
#[derive(Debug, Clone)]
struct Pending {
    /// The input line (0 for the client's own requests).
    id: u64,
    command: &'static str,
    /// For login: the credentials to remember on success.
    login: Option<(String, String)>,
}

/// The client's session state.
pub struct Session {
    config: SessionConfig,
    link: Link,
    /// True once the hub was reached at least once.
    ever_up: bool,
    /// The account to log back in after a reconnect.
    credentials: Option<(String, String)>,
    user: Option<String>,
    /// Kicked or banned: do not log back in by ourselves.
    stay_out: bool,
    pending: HashMap<u32, Pending>,
    next_tag: u32,
    leaving: Option<Leaving>,
    leave_deadline: Option<Instant>,
    logout_sent: bool,
    input_done: bool,
}

impl Session {
    /// A session about to connect (the loop connects at start).
    pub fn new(config: SessionConfig) -> Session {
        Session {
            config,
            link: Link::Connecting,
            ever_up: false,
            credentials: None,
            user: None,
            stay_out: false,
            pending: HashMap::new(),
            next_tag: 1,
            leaving: None,
            leave_deadline: None,
            logout_sent: false,
            input_done: false,
        }
    }

    /// The hello every connection opens with.
    pub fn hello() -> Vec<u8> {
        let mut out = Vec::new();
        ClientMsg::Hello {
            version: VERSION,
            role: Role::Session,
        }
        .encode(&mut out);
        out
    }

    /// The user logged in now, if any.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    fn tag(&mut self) -> u32 {
        let tag = self.next_tag;
        self.next_tag = self.next_tag.wrapping_add(1).max(1);
        tag
    }

    /// Send a request and remember who waits for it.
    fn request(
        &mut self,
        id: u64,
        command: &'static str,
        make: impl FnOnce(u32) -> ClientMsg,
        out: &mut Vec<Action>,
    ) {
        self.request_with(id, command, None, make, out)
    }

    fn request_with(
        &mut self,
        id: u64,
        command: &'static str,
        login: Option<(String, String)>,
        make: impl FnOnce(u32) -> ClientMsg,
        out: &mut Vec<Action>,
    ) {
        if matches!(self.link, Link::Down { .. }) {
            out.push(Action::Result(CommandResult::new(
                id,
                command,
                false,
                Status::UNAVAILABLE.0,
                "not connected to the hub (reconnecting); try again shortly",
            )));
            return;
        }
        let tag = self.tag();
        let mut frame = Vec::new();
        make(tag).encode(&mut frame);
        self.pending.insert(tag, Pending { id, command, login });
        out.push(Action::Send(frame));
    }

    /// One typed line (`id` is its 1-based line number).
    pub fn on_line(&mut self, id: u64, line: &str, now: Instant, out: &mut Vec<Action>) {
        let command = match command::parse_line(line) {
            Ok(Some(command)) => command,
            Ok(None) => return,
            Err(e) => {
                let name = if e.command.is_empty() {
                    "?"
                } else {
                    e.command.as_str()
                };
                out.push(Action::Result(CommandResult::new(
                    id,
                    name,
                    false,
                    Status::BAD_REQUEST.0,
                    e.message,
                )));
                return;
            }
        };
        if self.leaving.is_some() {
            out.push(Action::Result(CommandResult::new(
                id,
                command.name(),
                false,
                Status::UNAVAILABLE.0,
                "the client is leaving",
            )));
            return;
        }
        self.on_command(id, command, now, out);
    }

    fn on_command(&mut self, id: u64, command: Command, now: Instant, out: &mut Vec<Action>) {
        let name = command.name();
        match command {
            Command::Help => {
                let mut r = CommandResult::new(id, "help", true, 200, "commands:");
                for line in command::help_text().lines() {
                    r = r.line(line);
                }
                out.push(Action::Result(r));
            }
            Command::Register { user, password } => self.request(
                id,
                name,
                |tag| ClientMsg::Register {
                    tag,
                    user,
                    password,
                },
                out,
            ),
            Command::Login { user, password } => {
                let peer_port = self.config.peer_port;
                let creds = Some((user.clone(), password.clone()));
                self.request_with(
                    id,
                    name,
                    creds,
                    |tag| ClientMsg::Login {
                        tag,
                        user,
                        password,
                        peer_port,
                    },
                    out,
                )
            }
            Command::Logout => self.request(id, name, |tag| ClientMsg::Logout { tag }, out),
            Command::Passwd { old, new } => {
                let remember = Some((String::new(), new.clone()));
                self.request_with(
                    id,
                    name,
                    remember,
                    |tag| ClientMsg::Passwd { tag, old, new },
                    out,
                )
            }
            Command::Users => self.request(id, name, |tag| ClientMsg::Users { tag }, out),
            Command::Say { text } => {
                self.request(id, name, |tag| ClientMsg::Say { tag, text }, out)
            }
            Command::Msg { user, text } => self.request(
                id,
                name,
                |tag| ClientMsg::Msg {
                    tag,
                    to: user,
                    text,
                },
                out,
            ),
            Command::Quit => {
                self.leaving = Some(Leaving::Quit { id });
                self.try_leave(now, out);
            }
            Command::Publish { .. }
            | Command::Unpublish { .. }
            | Command::Shared
            | Command::Search { .. }
            | Command::Fetch { .. }
            | Command::Transfers
            | Command::Cancel { .. }
            | Command::Upload { .. }
            | Command::Download { .. }
            | Command::Store => out.push(Action::Result(CommandResult::new(
                id,
                name,
                false,
                Status::BAD_REQUEST.0,
                format!("{name} is not available in this build yet"),
            ))),
        }
    }

    /// End of input: finish what is in flight, then leave (or keep serving with `--serve`).
    pub fn on_end_of_input(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.input_done = true;
        if self.config.serve || self.leaving.is_some() {
            return;
        }
        self.leaving = Some(Leaving::EndOfInput);
        self.try_leave(now, out);
    }

    /// SIGINT or SIGTERM: log out and exit without waiting for other work.
    pub fn on_signal(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.leaving == Some(Leaving::Signal) {
            return;
        }
        self.leaving = Some(Leaving::Signal);
        self.try_leave(now, out);
    }

    /// Leave once nothing but our own logout is in flight.
    fn try_leave(&mut self, now: Instant, out: &mut Vec<Action>) {
        let Some(leaving) = self.leaving else {
            return;
        };
        let busy = self
            .pending
            .values()
            .any(|p| p.command != "logout" && p.command != "quit");
        if busy && leaving != Leaving::Signal {
            return;
        }
        if self.user.is_some() && self.link == Link::Up {
            if !self.logout_sent {
                self.logout_sent = true;
                let id = match leaving {
                    Leaving::Quit { id } => id,
                    _ => 0,
                };
                self.request(id, "quit", |tag| ClientMsg::Logout { tag }, out);
                let deadline = now + LEAVE_GRACE;
                self.leave_deadline = Some(deadline);
                out.push(Action::Arm(deadline));
            }
            return;
        }
        self.finish_leaving(out);
    }

    fn finish_leaving(&mut self, out: &mut Vec<Action>) {
        if let Some(Leaving::Quit { id }) = self.leaving {
            if !self.logout_sent || self.pending.values().any(|p| p.command == "quit") {
                out.push(Action::Result(CommandResult::new(
                    id,
                    "quit",
                    true,
                    Status::LEFT.0,
                    "bye",
                )));
            }
        }
        self.pending.clear();
        out.push(Action::Disconnect);
        out.push(Action::Exit(0));
    }

    /// The hub connection is established and hello was sent.
    pub fn on_connected(&mut self) {
        debug!("connected to the hub; waiting for its welcome");
    }

    /// One message from the hub.
    pub fn on_message(&mut self, msg: HubMsg, now: Instant, out: &mut Vec<Action>) {
        match msg {
            HubMsg::Welcome { server, .. } => self.on_welcome(&server, now, out),
            HubMsg::Reply {
                tag,
                status,
                message,
                body,
            } => self.on_reply(tag, status, message, body, now, out),
            HubMsg::Ping { nonce } => {
                let mut frame = Vec::new();
                ClientMsg::Pong { nonce }.encode(&mut frame);
                out.push(Action::Send(frame));
                out.push(Action::Event(
                    Event::new("ping", "").field("status", Status::PING.0),
                ));
            }
            HubMsg::Chat {
                from,
                text,
                history,
            } => {
                let mut e = Event::new("chat", format!("<{from}> {text}"))
                    .field("from", from)
                    .field("text", text);
                if history {
                    e = e.field("history", true);
                    e.human = format!("(earlier) {}", e.human);
                }
                out.push(Action::Event(e));
            }
            HubMsg::Private { from, text } => out.push(Action::Event(
                Event::new("private", format!("[{from} → you] {text}"))
                    .field("from", from)
                    .field("text", text),
            )),
            HubMsg::Join { user, online } => out.push(Action::Event(
                Event::new("join", format!("* {user} joined ({online} online)"))
                    .field("user", user)
                    .field("online", online),
            )),
            HubMsg::Leave {
                user,
                online,
                reason,
            } => out.push(Action::Event(
                Event::new(
                    "leave",
                    format!("* {user} left ({reason}; {online} online)"),
                )
                .field("user", user)
                .field("online", online)
                .field("reason", reason),
            )),
            HubMsg::Announce { text } => out.push(Action::Event(
                Event::new("announce", format!("*** {text}")).field("text", text),
            )),
            HubMsg::Kicked { status, reason } => {
                info!("kicked by the hub: {reason}");
                self.user = None;
                self.credentials = None;
                self.stay_out = true;
                out.push(Action::Event(
                    Event::new(
                        "kicked",
                        format!("you were logged out by the hub: {reason}"),
                    )
                    .field("reason", reason)
                    .field("status", status.0),
                ));
                self.try_leave(now, out);
            }
            HubMsg::Bye { status, reason } => {
                let text = format!("{} ({})", reason, status.0);
                self.on_lost(&text, now, out);
            }
        }
    }

    fn on_welcome(&mut self, server: &str, now: Instant, out: &mut Vec<Action>) {
        let was_down = self.ever_up;
        self.ever_up = true;
        self.link = Link::Up;
        debug!("hub says welcome: {server}");
        match (&self.credentials, self.stay_out) {
            (Some((user, password)), false) if was_down => {
                let (user, password) = (user.clone(), password.clone());
                let peer_port = self.config.peer_port;
                let creds = Some((user.clone(), password.clone()));
                self.request_with(
                    0,
                    "relogin",
                    creds,
                    |tag| ClientMsg::Login {
                        tag,
                        user,
                        password,
                        peer_port,
                    },
                    out,
                );
            }
            _ if was_down => out.push(Action::Event(Event::new(
                "reconnected",
                "reconnected to the hub",
            ))),
            _ => {}
        }
        self.try_leave(now, out);
    }

    fn on_reply(
        &mut self,
        tag: u32,
        status: Status,
        message: String,
        body: Body,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Some(pending) = self.pending.remove(&tag) else {
            debug!("reply to unknown tag {tag}: {status} {message}");
            return;
        };
        let command = pending.command;
        match command {
            "login" | "relogin" if status == Status::OK => {
                if let Some((user, password)) = pending.login {
                    self.user = Some(user.clone());
                    self.credentials = Some((user, password));
                    self.stay_out = false;
                }
            }
            "logout" | "quit" if status == Status::LEFT => {
                self.user = None;
                self.credentials = None;
            }
            "passwd" if status == Status::OK => {
                // The new password is what a reconnect must use; the hub confirmed it.
                if let Some((_, password)) = self.credentials.as_mut() {
                    if let Some(new) = pending.login.map(|(_, new)| new) {
                        *password = new;
                    }
                }
            }
            _ => {}
        }
        if command == "relogin" {
            let e = Event::new("reconnected", format!("reconnected to the hub ({message})"))
                .field("status", status.0)
                .field("message", message);
            out.push(Action::Event(e));
        } else {
            let ok = status.is_success()
                || (status == Status::LEFT && matches!(command, "logout" | "quit"));
            let mut result = CommandResult::new(pending.id, command, ok, status.0, message);
            result = with_body(result, body);
            out.push(Action::Result(result));
        }
        if command == "quit" {
            self.finish_leaving_after_quit(out);
            return;
        }
        self.try_leave(now, out);
    }

    fn finish_leaving_after_quit(&mut self, out: &mut Vec<Action>) {
        self.pending.clear();
        out.push(Action::Disconnect);
        out.push(Action::Exit(0));
    }

    /// The connection to the hub failed or closed.
    pub fn on_lost(&mut self, reason: &str, now: Instant, out: &mut Vec<Action>) {
        if matches!(self.link, Link::Down { .. }) {
            return;
        }
        if !self.ever_up {
            out.push(Action::Event(
                Event::new("disconnected", format!("cannot reach the hub: {reason}"))
                    .field("reason", reason),
            ));
            out.push(Action::Exit(1));
            return;
        }
        for (_, pending) in self.pending.drain() {
            if pending.id != 0 || pending.command == "quit" {
                out.push(Action::Result(CommandResult::new(
                    pending.id,
                    pending.command,
                    pending.command == "quit",
                    if pending.command == "quit" {
                        Status::LEFT.0
                    } else {
                        Status::UNAVAILABLE.0
                    },
                    format!("connection to the hub lost: {reason}"),
                )));
            }
        }
        self.user = None;
        out.push(Action::Event(
            Event::new(
                "disconnected",
                format!("disconnected from the hub: {reason}"),
            )
            .field("reason", reason),
        ));
        if self.leaving.is_some() {
            out.push(Action::Exit(0));
            return;
        }
        let backoff = FIRST_BACKOFF;
        let retry_at = now + backoff;
        self.link = Link::Down {
            since: now,
            retry_at,
            backoff,
        };
        out.push(Action::Arm(retry_at));
    }

    /// A connect attempt failed before the hub answered.
    pub fn on_connect_failed(&mut self, reason: &str, now: Instant, out: &mut Vec<Action>) {
        match self.link.clone() {
            Link::Connecting if !self.ever_up => self.on_lost(reason, now, out),
            Link::Down { since, backoff, .. } => self.retry_later(since, backoff, reason, now, out),
            _ => self.on_lost(reason, now, out),
        }
    }

    fn retry_later(
        &mut self,
        since: Instant,
        backoff: Duration,
        reason: &str,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        if !self.config.serve && now.duration_since(since) >= self.config.reconnect_for {
            out.push(Action::Event(
                Event::new("disconnected", format!("giving up on the hub: {reason}"))
                    .field("reason", format!("gave up: {reason}")),
            ));
            out.push(Action::Exit(1));
            return;
        }
        let backoff = (backoff * 2).min(MAX_BACKOFF);
        let retry_at = now + backoff;
        self.link = Link::Down {
            since,
            retry_at,
            backoff,
        };
        out.push(Action::Arm(retry_at));
    }

    /// Whether a reconnect attempt is underway while the link is down.
    pub fn reconnecting(&self) -> bool {
        matches!(self.link, Link::Down { .. })
    }

    /// A deadline armed earlier came due.
    pub fn on_timer(&mut self, now: Instant, out: &mut Vec<Action>) {
        if let Some(deadline) = self.leave_deadline {
            if now >= deadline {
                info!("the hub did not acknowledge our logout in time; leaving anyway");
                self.finish_leaving(out);
                return;
            }
        }
        if let Link::Down { retry_at, .. } = self.link {
            if now >= retry_at {
                // Stay Down until the welcome arrives; the loop reports the outcome.
                out.push(Action::Connect);
            }
        }
    }
}

/// Put a reply's typed body into the result's JSON fields and human lines.
fn with_body(mut r: CommandResult, body: Body) -> CommandResult {
    match body {
        Body::None => r,
        Body::Online(n) => r.field("online", n),
        Body::Users(users) => {
            for u in &users {
                r = r.line(u.clone());
            }
            r.field("users", users)
        }
        Body::Files(_) | Body::Search { .. } | Body::Holders { .. } => r,
    }
}
