//! `fetch`: the lookup, the holder choice (with its prompt), the download the loop runs
//! — from several holders at once, each piece verified as it comes (`SwarmSpec`), or,
//! over plaintext from one holder, the raw spliced `Get` (`DownloadSpec`) — and its
//! result.

use super::request::RequestKind;
use super::{Action, ActiveFetch, FetchReq, Prompt, Session, Then};
use crate::client::command;
use crate::client::partials::PartialRecord;
use crate::output::human_size;
use crate::output::{CommandResult, Event};
use crate::proto::message::{hash_hex, Body, ClientMsg, Hash, Holder};
use crate::proto::names;
use crate::proto::status::Status;
use crate::transfer::choose::{choose, Choice};
use crate::transfer::download::{Delivered, DownloadSpec, Outcome, PartialFate};
use crate::transfer::swarm::{Fault, SwarmSpec};
use log::debug;
use std::time::Instant;

/// A `fetch` command's arguments, as typed.
pub(super) struct FetchArgs {
    pub name: String,
    pub from: Option<String>,
    pub as_name: Option<String>,
    pub sources: Option<String>,
    pub sequential: bool,
}

impl Session {
    pub(super) fn fetch(&mut self, id: u64, args: FetchArgs, out: &mut Vec<Action>) {
        let FetchArgs {
            name,
            from,
            as_name,
            sources,
            sequential,
        } = args;
        let fail = |status: Status, text: &str| fetch_failed(id, status, text);
        let max = crate::client::MAX_SOURCES;
        let sources = match sources.map(|s| s.parse::<usize>()) {
            None => self.config.sources,
            Some(Ok(n)) if (1..=max).contains(&n) => n,
            Some(_) => {
                let why = format!("--sources takes a number of holders from 1 to {max}");
                return out.push(fail(Status::BAD_REQUEST, &why));
            }
        };
        if let Err(e) = names::check_file_name(&name) {
            return out.push(fail(Status::INVALID_NAME, &e.0));
        }
        let dest = as_name.unwrap_or_else(|| name.clone());
        if let Err(e) = names::check_published_name(&dest) {
            return out.push(fail(Status::INVALID_NAME, &e.0));
        }
        if let Some(f) = &from {
            if let Err(e) = names::check_user(f) {
                return out.push(fail(Status::INVALID_NAME, &e.0));
            }
            if self.user.as_deref() == Some(f.as_str()) {
                return out.push(fail(Status::BAD_REQUEST, "you cannot fetch from yourself"));
            }
        }
        if self.fetching(&dest) {
            return out.push(fail(
                Status::NAME_TAKEN,
                &format!("{dest} is already being fetched"),
            ));
        }
        let req = FetchReq {
            id,
            name: name.clone(),
            dest,
            from,
            sources,
            sequential,
            retried: false,
            cancelled: false,
        };
        self.request_with(
            id,
            RequestKind::Plain("fetch"),
            Then::Fetch(req),
            |tag| ClientMsg::Lookup { tag, name },
            out,
        );
    }

    /// Whether a fetch into `dest` is under way (lookup, prompt or download).
    pub(super) fn fetching(&self, dest: &str) -> bool {
        self.downloads.values().any(|d| d.dest == dest)
            || self.prompt.as_ref().is_some_and(|p| p.req.dest == dest)
            || self
                .pending
                .values()
                .any(|p| matches!(&p.then, Then::Fetch(r) if r.dest == dest))
    }

    /// Downloads running from `user`.
    pub(super) fn busy_with(&self, user: &str) -> usize {
        self.downloads.values().filter(|d| d.holder == user).count()
    }

    pub(super) fn on_lookup(
        &mut self,
        req: FetchReq,
        status: Status,
        message: String,
        body: Body,
        out: &mut Vec<Action>,
    ) {
        if req.cancelled {
            return out.push(fetch_failed(req.id, Status::BAD_REQUEST, "cancelled"));
        }
        if status != Status::FOUND {
            return out.push(fetch_failed(req.id, status, &message));
        }
        let holders = match body {
            Body::Holders(h) => h,
            _ => Vec::new(),
        };
        let partial = self.partials.get(&req.dest).and_then(|r| r.hash_bytes());
        let choice = choose(
            &req.name,
            &holders,
            self.user.as_deref(),
            req.from.as_deref(),
            |u| self.busy_with(u),
            partial.as_ref(),
            self.config.interactive,
        );
        match choice {
            Err((status, text)) => out.push(fetch_failed(req.id, status, &text)),
            Ok(Choice::One(i)) => match holders.get(i) {
                Some(h) => {
                    let h = h.clone();
                    self.start_download(req, h, others(&holders, i), out)
                }
                None => out.push(fetch_failed(req.id, Status::INTERNAL, "no holder")),
            },
            Ok(Choice::Ask { order }) => {
                let mut text = format!(
                    "{} holders of {}; type a number to choose one (Enter takes 1):",
                    order.len(),
                    req.name
                );
                for (n, h) in order.iter().filter_map(|&i| holders.get(i)).enumerate() {
                    let hex = hash_hex(&h.hash);
                    let busy = self.busy_with(&h.user);
                    text.push_str(&format!(
                        "\n  {}) {}  {}  {}  {}  {} download(s) running{}",
                        n + 1,
                        h.user,
                        h.addr,
                        human_size(h.size),
                        hex.get(..16).unwrap_or(&hex),
                        busy,
                        if n == 0 { "  (suggested)" } else { "" }
                    ));
                }
                out.push(Action::Event(
                    Event::new("choose", text).field("name", req.name.as_str()),
                ));
                self.prompt = Some(Prompt {
                    req,
                    holders,
                    order,
                });
            }
        }
    }

    /// A line typed while a holder-choice prompt is open: true if it answered it (a
    /// choice, or a question asked again). A line that parses as a command — a known
    /// command word, even with a usage error — cancels the choice (400) and is left to
    /// run; a number out of range or any other line asks again.
    pub(super) fn answer_prompt(
        &mut self,
        prompt: Prompt,
        line: &str,
        out: &mut Vec<Action>,
    ) -> bool {
        let answer = line.trim();
        let pick = if answer.is_empty() {
            Some(0)
        } else {
            answer.parse::<usize>().ok().map(|n| n.wrapping_sub(1))
        };
        if let Some(k) = pick {
            let chosen = prompt.order.get(k).copied();
            let holder = chosen.and_then(|i| prompt.holders.get(i)).cloned();
            if let (Some(h), Some(i)) = (holder, chosen) {
                let rest = others(&prompt.holders, i);
                self.start_download(prompt.req, h, rest, out);
            } else {
                self.ask_again(prompt, out);
            }
            return true;
        }
        let is_command = match command::parse_line(line) {
            Ok(parsed) => parsed.is_some(),
            Err(e) => command::usage(&e.command).is_some(),
        };
        if !is_command {
            self.ask_again(prompt, out);
            return true;
        }
        out.push(fetch_failed(
            prompt.req.id,
            Status::BAD_REQUEST,
            "no holder chosen: the choice was cancelled",
        ));
        false
    }

    /// Keep the prompt open and say what it takes.
    pub(super) fn ask_again(&mut self, prompt: Prompt, out: &mut Vec<Action>) {
        let text = format!(
            "choose 1\u{2013}{}, Enter for the suggestion",
            prompt.order.len()
        );
        out.push(Action::Event(
            Event::new("choose", text).field("name", prompt.req.name.as_str()),
        ));
        self.prompt = Some(prompt);
    }

    /// Fetch `req` from `holder` — and, unless `--from` pinned it, from up to
    /// `--sources` of `rest` (the other holders offered, in the hub's order) that hold
    /// the same content. Plaintext from one holder takes the raw `Get`; everything else
    /// is a swarm download, verified group by group.
    pub(super) fn start_download(
        &mut self,
        req: FetchReq,
        holder: Holder,
        rest: Vec<Holder>,
        out: &mut Vec<Action>,
    ) {
        let job = self.next_download;
        self.next_download += 1;
        let record = self
            .partials
            .get(&req.dest)
            .filter(|r| r.is_for(holder.size, &holder.hash))
            .cloned();
        let me = self.user.clone();
        let mut holders = vec![holder.clone()];
        if req.from.is_none() {
            let same = |h: &&Holder| {
                h.size == holder.size && h.hash == holder.hash && Some(&h.user) != me.as_ref()
            };
            let extra = req.sources.saturating_sub(1);
            holders.extend(rest.iter().filter(same).take(extra).cloned());
        }
        let swarm_record = record.as_ref().is_some_and(|r| !r.verified.is_empty());
        let raw = self.config.plaintext && holders.len() == 1 && !swarm_record && !req.sequential;
        let mut entry = PartialRecord::new(&req.dest, &req.name, holder.size, &holder.hash);
        if let Some(r) = &record {
            entry.verified = r.verified.clone();
        }
        self.partials.insert(entry);
        out.push(Action::SavePartials);
        let users: Vec<&str> = holders.iter().map(|h| h.user.as_str()).collect();
        debug!(
            "fetching {} from {} into {}",
            req.name,
            users.join(", "),
            req.dest
        );
        self.downloads.insert(
            job,
            ActiveFetch {
                id: req.id,
                name: req.name.clone(),
                dest: req.dest.clone(),
                holder: holder.user.clone(),
                hash: holder.hash,
                from: req.from.clone(),
                sources: req.sources,
                sequential: req.sequential,
                changed: false,
                retried: req.retried,
                rest,
            },
        );
        if raw {
            return out.push(Action::StartDownload(DownloadSpec {
                job,
                name: req.name,
                dest: req.dest,
                holder,
                resume: record.is_some(),
            }));
        }
        out.push(Action::StartSwarm(SwarmSpec {
            job,
            name: req.name,
            dest: req.dest,
            size: holder.size,
            hash: holder.hash,
            holders,
            sequential: req.sequential,
            verified: record.map(|r| r.verified_groups()).unwrap_or_default(),
        }));
    }

    /// A swarm download into `dest` of content `size`/`hash` verified more of its
    /// partial file (also as it is cancelled): the record keeps it, so a resume (even
    /// after this process is killed) fetches only the rest.
    pub fn record_verified(
        &mut self,
        dest: &str,
        size: u64,
        hash: &crate::proto::message::Hash,
        ranges: &[std::ops::Range<u64>],
        out: &mut Vec<Action>,
    ) {
        let Some(record) = self
            .partials
            .get(dest)
            .filter(|r| r.is_for(size, hash))
            .cloned()
        else {
            return;
        };
        let verified: Vec<(u64, u64)> = ranges.iter().map(|r| (r.start, r.end)).collect();
        if record.verified != verified {
            self.partials.insert(PartialRecord { verified, ..record });
            out.push(Action::SavePartials);
        }
    }

    /// A swarm download dropped holder `user` for this file: say so, and report it to
    /// the hub when it sent bad data.
    pub fn on_source_dropped(
        &mut self,
        job: u64,
        user: &str,
        why: &str,
        fault: Fault,
        out: &mut Vec<Action>,
    ) {
        let Some(f) = self.downloads.get_mut(&job) else {
            return;
        };
        let bad = fault == Fault::Bad;
        f.changed |= fault == Fault::Changed;
        let (name, hash) = (f.name.clone(), f.hash);
        // A listener that is not the holder's client is skipped, as a single-holder
        // fetch says it (`holder_skipped`), naming a holder that goes on.
        let next = if user == f.holder {
            f.rest
                .iter()
                .find(|h| h.hash == f.hash)
                .map(|h| h.user.clone())
        } else {
            Some(f.holder.clone())
        };
        if let (Fault::WrongPeer, Some(next)) = (fault, next) {
            let text = format!("{why}; fetching {name} from {next} instead");
            return out.push(Action::Event(
                Event::new("holder_skipped", text)
                    .field("status", Status::WRONG_PEER.0)
                    .field("from", user)
                    .field("name", name.as_str())
                    .field("next", next.as_str())
                    .field("message", why),
            ));
        }
        let text = if bad {
            format!("{why}: {user} is dropped for {name} and reported to the hub")
        } else {
            format!("{why}: {name} goes on without {user}")
        };
        out.push(Action::Event(
            Event::new("source_dropped", text)
                .field("name", name.as_str())
                .field("user", user)
                .field("bad", bad)
                .field("message", why),
        ));
        if bad {
            self.report(user.to_owned(), name, hash, out);
        }
    }

    /// A download started with [`Action::StartDownload`] ended.
    pub fn on_download_done(
        &mut self,
        job: u64,
        outcome: Outcome,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Some(f) = self.downloads.remove(&job) else {
            return;
        };
        match outcome {
            Outcome::Failed {
                status, message, ..
            } if status == Status::WRONG_PEER && !f.rest.is_empty() => {
                self.try_another_holder(f, &message, out)
            }
            // Every holder had changed content before a byte verified: look it up again,
            // once, for what they announce now.
            Outcome::Failed { partial, .. }
                if f.changed && !f.retried && !matches!(partial, PartialFate::Kept(n) if n > 0) =>
            {
                self.fetch_again(f, out)
            }
            Outcome::Done(delivered) => {
                if self.partials.remove(&f.dest) {
                    out.push(Action::SavePartials);
                }
                out.push(Action::Result(fetched(&f, &delivered)));
            }
            Outcome::Failed {
                status,
                message,
                report,
                partial,
                size,
                hash,
            } => {
                match partial {
                    // A swarm download's record already says what is verified.
                    PartialFate::Kept(n)
                        if n > 0
                            && self.partials.get(&f.dest).is_some_and(|r| {
                                r.is_for(size, &hash) && !r.verified.is_empty()
                            }) => {}
                    PartialFate::Kept(n) if n > 0 => {
                        self.partials
                            .insert(PartialRecord::new(&f.dest, &f.name, size, &hash));
                    }
                    _ => {
                        self.partials.remove(&f.dest);
                    }
                }
                out.push(Action::SavePartials);
                if report {
                    self.report(f.holder.clone(), f.name.clone(), f.hash, out);
                }
                out.push(Action::Result(
                    CommandResult::new(f.id, "fetch", false, status.0, message)
                        .field("from", f.holder.as_str())
                        .field("name", f.name.as_str()),
                ));
            }
        }
        self.try_leave(now, out);
    }
}

impl Session {
    /// Tell the hub that `holder` served data for `name` that failed verification.
    fn report(&mut self, holder: String, name: String, hash: Hash, out: &mut Vec<Action>) {
        self.request(
            0,
            RequestKind::Report,
            |tag| ClientMsg::Report {
                tag,
                holder,
                name,
                hash,
            },
            out,
        );
    }

    /// Look `f` up again (its holders re-announced other content), as the same command.
    fn fetch_again(&mut self, f: ActiveFetch, out: &mut Vec<Action>) {
        debug!(
            "{}: every holder has other content now; looking it up again",
            f.name
        );
        let name = f.name.clone();
        let req = FetchReq {
            id: f.id,
            name: f.name,
            dest: f.dest,
            from: f.from,
            sources: f.sources,
            sequential: f.sequential,
            retried: true,
            cancelled: false,
        };
        self.request_with(
            f.id,
            RequestKind::Plain("fetch"),
            Then::Fetch(req),
            |tag| ClientMsg::Lookup { tag, name },
            out,
        );
    }

    /// The listener at `f`'s holder's address is not its client: say so, and fetch from
    /// the best of the other holders the lookup offered (ranked as the first choice
    /// was, without asking again).
    fn try_another_holder(&mut self, f: ActiveFetch, why: &str, out: &mut Vec<Action>) {
        let partial = self.partials.get(&f.dest).and_then(|r| r.hash_bytes());
        let choice = choose(
            &f.name,
            &f.rest,
            self.user.as_deref(),
            f.from.as_deref(),
            |u| self.busy_with(u),
            partial.as_ref(),
            false,
        );
        let next = match choice {
            Ok(Choice::One(i)) => i,
            // Nobody else to try (only this user, or `--from` someone else).
            _ => {
                let result = CommandResult::new(f.id, "fetch", false, Status::WRONG_PEER.0, why)
                    .field("from", f.holder.as_str())
                    .field("name", f.name.as_str());
                return out.push(Action::Result(result));
            }
        };
        let Some(holder) = f.rest.get(next).cloned() else {
            return out.push(fetch_failed(f.id, Status::INTERNAL, "no holder"));
        };
        out.push(Action::Event(
            Event::new(
                "holder_skipped",
                format!("{why}; fetching {} from {} instead", f.name, holder.user),
            )
            .field("status", Status::WRONG_PEER.0)
            .field("from", f.holder.as_str())
            .field("name", f.name.as_str())
            .field("next", holder.user.as_str())
            .field("message", why),
        ));
        let req = FetchReq {
            id: f.id,
            name: f.name,
            dest: f.dest,
            from: f.from,
            sources: f.sources,
            sequential: f.sequential,
            retried: f.retried,
            cancelled: false,
        };
        self.start_download(req, holder, others(&f.rest, next), out);
    }
}

/// Every holder but the one at `i`, in their order.
fn others(holders: &[Holder], i: usize) -> Vec<Holder> {
    let mut rest = holders.to_vec();
    if i < rest.len() {
        rest.remove(i);
    }
    rest
}

/// A failed `fetch` result.
pub(super) fn fetch_failed(id: u64, status: Status, text: &str) -> Action {
    Action::Result(CommandResult::new(id, "fetch", false, status.0, text))
}

/// The result of a fetch that ended well: `from` is the holder that contributed the
/// most verified bytes, `sources` every one that contributed, `bad_sources` those
/// dropped for bad data.
fn fetched(f: &ActiveFetch, d: &Delivered) -> CommandResult {
    let Delivered {
        received,
        resumed,
        size,
        ..
    } = *d;
    let from = d
        .sources
        .first()
        .map_or(f.holder.as_str(), |(user, _)| user.as_str());
    // `fetch … --as NAME` says the new name.
    let shown = if f.dest == f.name {
        f.name.clone()
    } else {
        format!("{} as {}", f.name, f.dest)
    };
    let whom = match d.sources.len() {
        0 | 1 => from.to_owned(),
        n => format!("{n} holders ({})", users_of(&d.sources).join(", ")),
    };
    let dropped = if d.bad_sources.is_empty() {
        String::new()
    } else {
        format!("; dropped for bad data: {}", d.bad_sources.join(", "))
    };
    let text = if d.already {
        format!("{} is already here with the same content", f.dest)
    } else if resumed > 0 {
        format!(
            "fetched {shown} from {whom} ({}, {} received, resumed at {}), verified{dropped}",
            human_size(size),
            human_size(received),
            human_size(resumed)
        )
    } else {
        format!(
            "fetched {shown} from {whom} ({}), verified{dropped}",
            human_size(size)
        )
    };
    let sources: Vec<serde_json::Value> = d
        .sources
        .iter()
        .map(|(user, bytes)| serde_json::json!({"user": user, "bytes": bytes}))
        .collect();
    let mut r = CommandResult::new(f.id, "fetch", true, Status::DOWNLOADED.0, text)
        .field("path", d.path.to_string_lossy().into_owned())
        // The file now on disk (verified: its size), whatever this call moved.
        .field("bytes", size)
        .field("received", received)
        .field("from", from)
        .field("sources", sources)
        .field("bad_sources", d.bad_sources.to_vec())
        .field("hash", hash_hex(&d.hash))
        .field("name", f.name.as_str())
        .field("size", size)
        .field("resumed", resumed);
    if resumed > 0 {
        r = r.field("resumed_at", resumed);
    }
    if d.already {
        r = r.field("already", true);
    }
    if f.dest != f.name {
        r = r.field("as", f.dest.as_str());
    }
    r
}

fn users_of(sources: &[(String, u64)]) -> Vec<&str> {
    sources.iter().map(|(u, _)| u.as_str()).collect()
}

#[cfg(test)]
mod tests;
