//! The tracker: publish, unpublish and sync a user's shared files (each an in-memory
//! change at once, its reply when the backend recorded it), search the index, look up
//! the online holders of a name, and reports of bad data against a holder.

use super::fetch_tickets::TicketFor;
use super::pending::{ReplyTo, Then as Waiting};
use super::{
    reply, Action, Asker, ConnId, Hub, MAX_HOLDERS, MAX_OWNERS_PER_HIT, MAX_REPLY_BODY,
    MAX_SEARCH_HITS,
};
use crate::output::Event;
use crate::proto::message::{encode_holders_reply, Body, FileInfo, Hash, HolderEntry, SearchHit};
use crate::proto::names;
use crate::proto::status::Status;
use crate::server::index::{IndexError, Published, Undo};
use crate::server::persist::{Answer, Ask};
use crate::server::reports::REPORT_QUORUM;
use crate::server::reports::{Counted, REFERRAL_TTL};
use crate::trust::Fingerprint;
use log::{debug, info, warn};
use std::net::SocketAddr;
use std::time::Instant;

/// What a tracker request waits with: whom to answer, whose index changed, how to
/// take the change back if its write fails, and what the change was.
#[derive(Debug)]
pub(super) struct Then {
    to: ReplyTo,
    user: String,
    undo: Undo,
    change: Change,
}

/// A change to the index waiting for its write.
#[derive(Debug)]
enum Change {
    Published { file: FileInfo, outcome: Published },
    Unpublished { name: String },
    Synced { count: usize },
}

impl Hub {
    /// The write of a change to the index came back: reply; if it failed, the change
    /// is taken back first.
    pub(super) fn tracker_answered(&mut self, then: Then, answer: Answer, out: &mut Vec<Action>) {
        let Then {
            to,
            user,
            undo,
            change,
        } = then;
        if let Err(e) = answer.done() {
            self.index.restore(&user, undo);
            return self.send_reply(&to, (Status::INTERNAL, e.to_string()), Body::None, out);
        }
        let said = match change {
            Change::Published { file, outcome } => {
                self.announce_published(&user, &file, outcome, out)
            }
            Change::Unpublished { name } => (Status::OK, format!("unpublished {name}")),
            Change::Synced { count } => {
                if count > 0 {
                    info!("{user} announced {count} published file(s)");
                }
                (Status::OK, format!("{count} file(s) announced"))
            }
        };
        self.send_reply(&to, said, Body::None, out);
    }

    /// Ask for the write of a change made in memory; the reply waits for it.
    fn record(&mut self, ask: Ask, then: Then, out: &mut Vec<Action>) {
        self.ask(ask, Waiting::Tracker(then), out);
    }

    pub(super) fn publish(
        &mut self,
        asker: Asker,
        file: FileInfo,
        replace: bool,
        out: &mut Vec<Action>,
    ) {
        let Asker { conn, tag, user } = asker;
        let Some(to) = self.reply_to(conn, tag) else {
            return;
        };
        let refusal = match names::check_published_name(&file.name) {
            Err(e) => (Status::INVALID_NAME, e.to_string()),
            Ok(()) => match self.index.publish(user, &file, replace) {
                Ok((Published::Unchanged, _)) => (
                    Status::PUBLISHED,
                    format!("{} was already published", file.name),
                ),
                Ok((outcome, undo)) => {
                    let ask = Ask::Publish {
                        owner: user.to_owned(),
                        file: file.clone(),
                    };
                    let user = user.to_owned();
                    let change = Change::Published { file, outcome };
                    let then = Then {
                        to,
                        user,
                        undo,
                        change,
                    };
                    return self.record(ask, then, out);
                }
                Err(e @ IndexError::Duplicate) => (Status::NAME_TAKEN, e.to_string()),
                Err(e @ IndexError::TooMany(_)) => (Status::QUOTA_EXCEEDED, e.to_string()),
            },
        };
        self.send_reply(&to, refusal, Body::None, out);
    }

    /// A publication recorded: remembered for reports, logged, told to the console.
    fn announce_published(
        &mut self,
        user: &str,
        file: &FileInfo,
        outcome: Published,
        out: &mut Vec<Action>,
    ) -> (Status, String) {
        self.reports.published(user, &file.name, &file.hash);
        let verb = if outcome == Published::Replaced {
            "republished"
        } else {
            "published"
        };
        info!("{user} {verb} {} ({} bytes)", file.name, file.size);
        out.push(Action::event(
            Event::new(
                "publish",
                format!(
                    "{user} {verb} {} ({})",
                    file.name,
                    crate::output::human_size(file.size)
                ),
            )
            .field("user", user)
            .field("name", file.name.as_str()),
        ));
        (Status::PUBLISHED, format!("{verb} {}", file.name))
    }

    pub(super) fn unpublish(&mut self, asker: Asker, name: String, out: &mut Vec<Action>) {
        let Asker { conn, tag, user } = asker;
        let Some(to) = self.reply_to(conn, tag) else {
            return;
        };
        if let Err(e) = names::check_file_name(&name) {
            return self.send_reply(&to, (Status::INVALID_NAME, e.0), Body::None, out);
        }
        let Some(undo) = self.index.unpublish(user, &name) else {
            let text = format!("you do not publish {name:?}");
            return self.send_reply(&to, (Status::NO_FILE, text), Body::None, out);
        };
        let ask = Ask::Unpublish {
            owner: user.to_owned(),
            name: name.clone(),
        };
        let user = user.to_owned();
        let change = Change::Unpublished { name };
        let then = Then {
            to,
            user,
            undo,
            change,
        };
        self.record(ask, then, out);
    }

    pub(super) fn sync(
        &mut self,
        asker: Asker,
        files: Vec<FileInfo>,
        first: bool,
        out: &mut Vec<Action>,
    ) {
        let Asker { conn, tag, user } = asker;
        let Some(to) = self.reply_to(conn, tag) else {
            return;
        };
        if let Some(bad) = files
            .iter()
            .find_map(|f| names::check_published_name(&f.name).err())
        {
            let text = format!("{bad} (in the publication list)");
            return self.send_reply(&to, (Status::INVALID_NAME, text), Body::None, out);
        }
        let undo = match self.index.sync(user, &files, first) {
            Ok(undo) => undo,
            Err(e) => {
                let status = match e {
                    IndexError::TooMany(_) => Status::QUOTA_EXCEEDED,
                    IndexError::Duplicate => Status::NAME_TAKEN,
                };
                return self.send_reply(&to, (status, e.to_string()), Body::None, out);
            }
        };
        let count = files.len();
        let owner = user.to_owned();
        let ask = Ask::Sync {
            owner: owner.clone(),
            files,
            first,
        };
        let then = Then {
            to,
            user: owner,
            undo,
            change: Change::Synced { count },
        };
        self.record(ask, then, out);
    }

    /// A downloader says `holder` served bad data for `name`. It counts only if a lookup
    /// sent this session to that holder for that name and hash within [`REFERRAL_TTL`],
    /// once per (reporter, holder, file); see [`Reports`](crate::server::reports::Reports).
    pub(super) fn report(
        &mut self,
        asker: Asker,
        holder: &str,
        name: &str,
        hash: &Hash,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Asker { conn, tag, user } = asker;
        let referred = self
            .sessions
            .get(&conn)
            .is_some_and(|s| s.referrals.contains(name, holder, hash, now));
        let (status, text) = if !referred {
            let minutes = REFERRAL_TTL.as_secs() / 60;
            (
                Status::BAD_REQUEST,
                format!("you were not sent to {holder} for {name} in the last {minutes} minutes"),
            )
        } else if !self.index.has(holder, name, hash) {
            (
                Status::OK,
                format!("{holder} no longer publishes that content"),
            )
        } else {
            match self.reports.report(user, holder, name, hash) {
                Counted::Again => (
                    Status::OK,
                    format!("you reported {holder} for {name} already; a report counts once"),
                ),
                Counted::Yes { reporters } => {
                    warn!("{user} reports that {holder} served bad data for {name} ({reporters} of {REPORT_QUORUM})");
                    let whom = if reporters >= REPORT_QUORUM {
                        format!("anyone ({reporters} users reported it)")
                    } else {
                        format!("you ({reporters} of the {REPORT_QUORUM} reports that demote it for everyone)")
                    };
                    (
                        Status::OK,
                        format!("{holder} is not offered for {name} to {whom} while others hold it, until it publishes other content"),
                    )
                }
            }
        };
        out.push(Action::Send(conn, reply(tag, status, text, Body::None)));
    }

    pub(super) fn search(&self, text: &str) -> (Vec<SearchHit>, bool) {
        let (mut hits, mut truncated) = self
            .index
            .search(text, MAX_SEARCH_HITS, |u| self.online.contains_key(u));
        // Keep the reply inside one frame: names are long and owners many at worst.
        let mut bytes = 0;
        for (i, hit) in hits.iter_mut().enumerate() {
            hit.owners.truncate(MAX_OWNERS_PER_HIT);
            bytes +=
                44 + hit.file.name.len() + hit.owners.iter().map(|o| 2 + o.len()).sum::<usize>();
            if bytes > MAX_REPLY_BODY {
                hits.truncate(i);
                truncated = true;
                break;
            }
        }
        (hits, truncated)
    }

    /// The online holders of `name`: who, where the hub sees them, what they announced,
    /// the key their client shows.
    /// Holders demoted for `reader` (see [`Reports`](crate::server::reports::Reports)) are left out, unless every holder
    /// is: then only they are offered, so a holder that fixed its file can still be
    /// reached (it re-announces the new content when it serves it).
    pub(super) fn online_holders<'a>(
        &'a self,
        reader: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = OnlineHolder<'a>> + 'a {
        let online = move || {
            self.index.holders(name).filter_map(|(owner, entry)| {
                let session = self.sessions.get(self.online.get(owner)?)?;
                let addr = SocketAddr::new(session.addr.ip(), session.peer_port);
                Some(OnlineHolder {
                    user: owner,
                    addr,
                    size: entry.size,
                    hash: entry.hash,
                    key: session.fingerprint?,
                })
            })
        };
        let demoted = move |h: &OnlineHolder| self.reports.demoted(reader, h.user, name, &h.hash);
        // Only when reports exist does a lookup look at them (one pass more).
        let offer_demoted = !self.reports.is_empty() && online().all(|h| demoted(&h));
        online()
            .filter(move |h| self.reports.is_empty() || demoted(h) == offer_demoted)
            .take(MAX_HOLDERS)
    }

    /// A fetch lookup: 204 with the online holders, each with a fetch ticket for the
    /// asking client, encoded straight from the index (the reply frame and the ticket
    /// bodies are all it allocates) and held for the turn's signature; or 406.
    pub(super) fn lookup(
        &mut self,
        conn: ConnId,
        tag: u32,
        user: &str,
        name: &str,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        self.counters.lookups += 1;
        let refuse = |status, text: &str| reply(tag, status, text, Body::Holders(Vec::new()));
        if let Err(e) = names::check_file_name(name) {
            let frame = refuse(Status::INVALID_NAME, &e.0);
            return self.send_lookup_reply(conn, frame, Vec::new(), Vec::new(), out);
        }
        let Some(fetcher_key) = self.key_of(conn) else {
            let text = "this session announced no key at login: log in again";
            let frame = refuse(Status::BAD_REQUEST, text);
            return self.send_lookup_reply(conn, frame, Vec::new(), Vec::new(), out);
        };
        // Remember who this session is sent to (what it may report), as the reply is
        // encoded: the record is taken out of the session for the while.
        let mut referrals = self
            .sessions
            .get_mut(&conn)
            .map(|s| std::mem::take(&mut s.referrals))
            .unwrap_or_default();
        let (mut frame, mut tickets, mut leaves) =
            (Vec::with_capacity(256), Vec::new(), Vec::new());
        let (first, expires) = (self.tickets_issued, self.ticket_expiry());
        let holders = self
            .online_holders(user, name)
            .zip(first..)
            .map(|(h, serial)| {
                referrals.record(name, h.user, &h.hash, now);
                let ticket = TicketFor {
                    serial,
                    name,
                    holder: h.user,
                    fetcher: user,
                    fetcher_key,
                };
                let (body, leaf) = Hub::ticket_body(expires, ticket);
                leaves.push(leaf);
                HolderEntry {
                    user: h.user,
                    addr: h.addr,
                    size: h.size,
                    hash: h.hash,
                    fingerprint: h.key,
                    ticket: body,
                }
            });
        let found = encode_holders_reply(
            &mut frame,
            tag,
            Status::FOUND,
            "found",
            holders,
            &mut tickets,
        );
        self.tickets_issued += found as u64;
        if let Some(session) = self.sessions.get_mut(&conn) {
            session.referrals = referrals;
        }
        debug!("lookup {name:?} by {user}: {found} holder(s)");
        if found == 0 {
            let text = format!("nobody online publishes {name:?}");
            frame = refuse(Status::NO_FILE, &text);
        }
        self.send_lookup_reply(conn, frame, tickets, leaves, out);
    }
}

/// An online holder of a name, as the index and its session know it.
pub(super) struct OnlineHolder<'a> {
    pub(super) user: &'a str,
    pub(super) addr: SocketAddr,
    pub(super) size: u64,
    pub(super) hash: Hash,
    /// The key its client announced at login.
    pub(super) key: Fingerprint,
}
