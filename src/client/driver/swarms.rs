//! Swarm downloads in the loop: a [`SwarmFetch`] takes one slot of the transfer slab,
//! and each of its holder connections one more (`Transfer::Leg`, a token whose events
//! run the download it belongs to). The loop connects and registers what the download
//! asks for, frees the tokens of the connections it drops, and hands the verified
//! record, the dropped holders and the outcome to the session.

use super::Client;
use super::Transfer;
use super::DOWNLOAD_BUDGET;
use crate::output::{Flow, Row};
use crate::transfer::download::Ctx;
use crate::transfer::swarm::{SwAction, SwarmFetch, SwarmSpec};
use mio::net::TcpStream;
use mio::Interest;
use std::time::Instant;

impl Client {
    pub(super) fn start_swarm(&mut self, spec: SwarmSpec, _now: Instant) {
        let key = self
            .transfers
            .insert(Transfer::Swarm(Box::new(SwarmFetch::new(
                spec,
                &self.share,
            ))));
        self.ready.push(key);
    }

    /// One turn of swarm download `key`.
    pub(super) fn run_swarm(&mut self, key: usize, now: Instant) {
        let Some(Transfer::Swarm(sw)) = self.transfers.get_mut(key) else {
            return;
        };
        let mut ctx = Ctx {
            share: &self.share,
            share_dir: &self.share_dir,
            buf: &mut self.download_buf,
            hash_slice: self.hash_slice,
            read_budget: DOWNLOAD_BUDGET,
        };
        let mut out = Vec::new();
        sw.turn(&mut ctx, now, &mut out);
        self.swarm_actions(key, out, now);
    }

    /// Carry out what swarm download `key` asked for.
    pub(super) fn swarm_actions(&mut self, key: usize, mut out: Vec<SwAction>, now: Instant) {
        while !out.is_empty() {
            for action in std::mem::take(&mut out) {
                self.swarm_action(key, action, now, &mut out);
            }
        }
    }

    fn swarm_action(
        &mut self,
        key: usize,
        action: SwAction,
        now: Instant,
        out: &mut Vec<SwAction>,
    ) {
        let job = match self.transfers.get(key) {
            Some(Transfer::Swarm(sw)) => sw.job(),
            _ => return,
        };
        match action {
            SwAction::Connect { source } => self.dial_source(key, source, now, out),
            SwAction::Register { source } => {
                let Some(Transfer::Swarm(sw)) = self.transfers.get_mut(key) else {
                    return;
                };
                let token = sw.tokens_of(source);
                let registry = self.poll.registry();
                if let (Some(stream), Some(token)) = (sw.stream_mut(source), token) {
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    if let Err(e) = registry.register(stream, mio::Token(token), interest) {
                        log::warn!("registering a holder connection: {e}");
                    }
                }
                self.ready.push(key);
            }
            SwAction::Close { token } => self.free_leg(token),
            SwAction::Again => self.ready.push(key),
            SwAction::Record(ranges) => self.record_ranges(key, &ranges),
            SwAction::Dropped { user, why, fault } => {
                self.session
                    .on_source_dropped(job, &user, &why, fault, &mut self.actions)
            }
            SwAction::Done(outcome) => self.finish_download(key, outcome, now),
        }
    }

    /// Connect to holder `source` of swarm `key` over TLS that trusts exactly the key
    /// the hub vouches for it, under a token of its own.
    fn dial_source(&mut self, key: usize, source: usize, now: Instant, out: &mut Vec<SwAction>) {
        let token = self.transfers.insert(Transfer::Leg { swarm: key });
        let Some(Transfer::Swarm(sw)) = self.transfers.get_mut(key) else {
            return;
        };
        let Some(holder) = sw.holder(source) else {
            return;
        };
        let (addr, key_shown) = (holder.addr, holder.fingerprint);
        let (tls, identity) = (&mut self.peer_tls, &self.identity);
        let wire = TcpStream::connect(addr)
            .and_then(|socket| tls.dialled(socket, addr, key_shown, identity));
        sw.dialled(source, token, wire, now, out);
    }

    /// The token of a holder connection that is gone: its stream was dropped with it.
    fn free_leg(&mut self, token: usize) {
        if matches!(self.transfers.get(token), Some(Transfer::Leg { .. }))
            && !self.closing.contains(&token)
        {
            self.closing.push(token);
        }
    }

    /// A swarm download's `transfers` row: one per file, with its holders.
    pub(super) fn swarm_row(sw: &SwarmFetch<super::PeerWire>, now: Instant) -> Row {
        let (since, moved) = sw.flow();
        let users = sw.source_users();
        let peer = match users.first() {
            Some(first) if users.len() > 1 => format!("{first} +{}", users.len() - 1),
            Some(first) => first.clone(),
            None => sw
                .spec()
                .holders
                .first()
                .map(|h| h.user.clone())
                .unwrap_or_default(),
        };
        let flow = Flow {
            bytes: sw.verified_bytes(),
            size: sw.spec().size,
            moved,
            since,
        };
        Row::new("download", &sw.spec().dest, &peer, flow, now)
            .with_swarm(users, sw.verified_prefix())
    }

    /// Before swarm download `key` is stopped (`cancel`, a signal): the record keeps
    /// every group it verified.
    pub(super) fn record_swarm(&mut self, key: usize) {
        if let Some(Transfer::Swarm(sw)) = self.transfers.get(key) {
            let ranges = sw.verified_ranges();
            self.record_ranges(key, &ranges);
        }
    }

    /// The record of swarm download `key`'s partial file keeps groups `ranges`.
    fn record_ranges(&mut self, key: usize, ranges: &[std::ops::Range<u64>]) {
        if let Some(Transfer::Swarm(sw)) = self.transfers.get(key) {
            let spec = sw.spec();
            (self.session).record_verified(
                &spec.dest,
                spec.size,
                &spec.hash,
                ranges,
                &mut self.actions,
            );
        }
    }

    /// Drop the stalled holders of every swarm download.
    pub(super) fn sweep_swarms(&mut self, now: Instant) {
        let mut work = Vec::new();
        for (key, t) in self.transfers.iter_mut() {
            if let Transfer::Swarm(sw) = t {
                let mut out = Vec::new();
                sw.expire(now, self.stall, &mut out);
                if !out.is_empty() {
                    work.push((key, out));
                }
            }
        }
        for (key, out) in work {
            self.swarm_actions(key, out, now);
        }
    }
}
