//! Chat fan-out: N subscribers logged in to the optimised hub, one sender pipelining
//! 64-byte messages (`Say`, chat rate limit off) as fast as the protocol allows; every
//! subscriber receives every message. Reports delivered messages per second (pushes
//! received by all subscribers together) and the p50/p99 send-to-delivery latency (the
//! send time travels in the message). In the same run, the same driver against a Redis
//! of our own with SUBSCRIBE/PUBLISH on one channel, same N, size and pipelining; each
//! in plaintext (the hub under `--insecure-plaintext`) and over TLS 1.3 (the hub's
//! default, Redis on `--tls-port`), alternating runs; prints the ratios peerhub/Redis
//! and peerhub+tls/redis+tls (target ≥ 1.0). Skips Redis with a message when it is
//! absent.
//!
//! Settings (environment): `PEERHUB_BENCH_SUBSCRIBERS` (comma list, "100,1000"),
//! `PEERHUB_BENCH_DEPTH` messages in flight from the sender (64), `PEERHUB_BENCH_RUNS`
//! (3), `PEERHUB_BENCH_SECS` (3), `PEERHUB_BENCH_WARMUP` (0.3), `PEERHUB_BENCH_PIN`,
//! `PEERHUB_BENCH_TLS` (`plain` or `tls` for one transport only; default both).
//! Under `cargo test --benches` it runs a small smoke round.

mod common;

use common::blocking::per_address_limits_lifted;
use common::*;
use peerhub::proto::frame;
use peerhub::proto::message::{ClientMsg, HubMsg};
use std::io;

/// Bytes of message text, as the issue sets them.
const MESSAGE_BYTES: usize = 64;

fn main() {
    if let Err(e) = bench() {
        eprintln!("fanout bench failed: {e}");
        std::process::exit(1);
    }
}

fn bench() -> io::Result<()> {
    let quick = !is_bench();
    let sizes: Vec<usize> = std::env::var("PEERHUB_BENCH_SUBSCRIBERS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| if quick { vec![5] } else { vec![100, 1000] });
    let depth = env_usize("PEERHUB_BENCH_DEPTH", 64).max(1);
    let runs = env_usize("PEERHUB_BENCH_RUNS", if quick { 1 } else { 3 }).max(1);
    let secs = env_secs("PEERHUB_BENCH_SECS", if quick { 0.2 } else { 3.0 });
    let warmup = env_secs("PEERHUB_BENCH_WARMUP", if quick { 0.05 } else { 0.3 });
    let _ = peerhub::sys::raise_nofile_limit();

    for subscribers in sizes {
        let mut flags = vec![
            "--chat-rate",
            "0",
            "--history",
            "0",
            "--ping-interval",
            "3600",
            "--max-clients",
            "100000",
        ];
        flags.extend(per_address_limits_lifted());
        let mut hubs = Vec::new();
        let mut redises = Vec::new();
        let mut rows = Vec::new();
        let mut pairs = Vec::new();
        for tls in wire_modes() {
            let hub = if tls {
                HubProcess::start_tls(&flags)?
            } else {
                HubProcess::start(&flags)?
            };
            let proto = HubFanout { subscribers, depth };
            let mut d = Driver::connect_over(hub.addr, subscribers + 1, proto, &hub.transport())?;
            d.watch(hub.pid());
            rows.push(Row::new(label("peerhub", tls), d));
            hubs.push(hub);
            let redis = if tls {
                RedisProcess::start_tls()?
            } else {
                RedisProcess::start()?
            };
            if let Some(r) = redis {
                let proto = RedisFanout { subscribers, depth };
                let mut d = Driver::connect_over(r.addr, subscribers + 1, proto, &r.transport())?;
                d.watch(r.pid());
                pairs.push((rows.len() - 1, rows.len()));
                rows.push(Row::new(label("redis", tls), d));
                redises.push(r);
            }
        }
        if let Some((server_cpu, driver_cpu)) = pinning() {
            pin_to_cpu(0, driver_cpu);
            for pid in hubs.iter().map(HubProcess::pid) {
                pin_to_cpu(pid, server_cpu);
            }
            for pid in redises.iter().map(RedisProcess::pid) {
                pin_to_cpu(pid, server_cpu);
            }
        }
        alternate(&mut rows, runs, warmup, secs, |_| {})?;
        let summaries: Vec<Summary> = rows.into_iter().map(|r| r.summary).collect();
        println!(
            "fan-out: {subscribers} subscribers, 1 sender, {MESSAGE_BYTES}-byte messages, {depth} in flight, \
             {runs} runs x {:.1} s",
            secs.as_secs_f64()
        );
        print_fanout(&summaries, &pairs);
        if redises.is_empty() {
            println!("redis-server not found: comparison skipped (apt-get install redis-server)");
        }
        println!();
    }
    Ok(())
}

/// One row per system, then for each `(a, b)` of `pairs` the delivery ratio a/b.
fn print_fanout(rows: &[Summary], pairs: &[(usize, usize)]) {
    println!(
        "{:<12}{:>16}{:>12}{:>10}{:>10}{:>9}   runs (delivered/s)",
        "system", "delivered/s", "sent/s", "p50 us", "p99 us", "srv cpu"
    );
    for s in rows {
        let lat = s.push_latency();
        let runs: Vec<String> = s
            .runs
            .iter()
            .map(|r| format!("{:.0}", r.push_rate()))
            .collect();
        println!(
            "{:<12}{:>16.0}{:>12.0}{:>10}{:>10}{:>8.0}%   {}",
            s.name,
            s.median_push_rate(),
            s.median_rate(),
            lat.percentile(50.0) / 1000,
            lat.percentile(99.0) / 1000,
            s.median_server_load().unwrap_or(0.0) * 100.0,
            runs.join(" ")
        );
    }
    for &(a, b) in pairs {
        println!(
            "ratio {}/{}: {:.2} delivered/s",
            rows[a].name,
            rows[b].name,
            rows[a].median_push_rate() / rows[b].median_push_rate().max(1.0)
        );
    }
}

/// Message text: the send time in 16 hex digits, padded to [`MESSAGE_BYTES`].
fn stamped(now_ns: u64) -> String {
    let mut text = format!("{now_ns:016x}");
    text.extend(std::iter::repeat_n('x', MESSAGE_BYTES - 16));
    text
}

/// The send time back from a message's text.
fn stamp_of(text: &[u8]) -> Option<u64> {
    let hex = std::str::from_utf8(text.get(..16)?).ok()?;
    u64::from_str_radix(hex, 16).ok()
}

/// The text of a Chat payload (type, from, text, history flag), if it is one.
fn chat_text(payload: &[u8]) -> Option<&[u8]> {
    if *payload.first()? != CHAT_KIND.with(|k| *k) {
        return None;
    }
    let from_len = u16::from_be_bytes(payload.get(1..3)?.try_into().ok()?) as usize;
    let at = 3 + from_len;
    let text_len = u16::from_be_bytes(payload.get(at..at + 2)?.try_into().ok()?) as usize;
    payload.get(at + 2..at + 2 + text_len)
}

thread_local! {
    /// The type byte of a Chat payload, learnt from the codec.
    static CHAT_KIND: u8 = HubMsg::Chat {
        from: String::new(),
        text: String::new(),
        history: false,
    }
    .to_frame()[frame::HEADER_LEN];
}

/// Connections 0..N subscribe (log in and listen); connection N sends.
struct HubFanout {
    subscribers: usize,
    depth: usize,
}

impl Protocol for HubFanout {
    fn open(&mut self, index: usize, conn: &mut Setup) -> io::Result<Role> {
        hub_hello(conn)?;
        hub_register_login(conn, &format!("fan{index}"), 40_000)?;
        Ok(if index == self.subscribers {
            Role::Requester { depth: self.depth }
        } else {
            Role::Listener
        })
    }

    fn request(&mut self, _index: usize, seq: u64, now_ns: u64, out: &mut Vec<u8>) {
        ClientMsg::Say {
            tag: seq as u32,
            text: stamped(now_ns),
        }
        .encode(out);
    }

    fn parse(
        &mut self,
        _index: usize,
        buf: &[u8],
        answer: &mut Vec<u8>,
    ) -> Result<Option<(usize, Incoming)>, String> {
        // Fast path, so that the driver's side costs about what a RESP scan costs: a
        // chat line's text is found in place, without decoding the message.
        if let Ok(Some((len, payload))) = frame::try_parse(buf, frame::DEFAULT_MAX_FRAME) {
            if let Some(text) = chat_text(payload) {
                return Ok(Some((
                    len,
                    Incoming::Push {
                        sent_ns: stamp_of(text),
                    },
                )));
            }
        }
        Ok(
            hub_incoming(buf, answer)?.map(|(len, what, msg)| match (what, msg) {
                (Incoming::Push { .. }, HubMsg::Chat { text, .. }) => (
                    len,
                    Incoming::Push {
                        sent_ns: stamp_of(text.as_bytes()),
                    },
                ),
                // Join notices of the set-up and the like: not part of the measure.
                (Incoming::Push { .. }, _) => (len, Incoming::Ignore),
                (what, _) => (len, what),
            }),
        )
    }
}

/// Connections 0..N SUBSCRIBE to one channel; connection N PUBLISHes to it.
struct RedisFanout {
    subscribers: usize,
    depth: usize,
}

impl Protocol for RedisFanout {
    fn open(&mut self, index: usize, conn: &mut Setup) -> io::Result<Role> {
        if index == self.subscribers {
            return Ok(Role::Requester { depth: self.depth });
        }
        let mut out = Vec::new();
        resp::command(&mut out, &[b"SUBSCRIBE", b"fan"]);
        conn.send(&out)?;
        conn.recv(|b| Ok(redis_reply(b)?.map(|n| (n, ()))))?;
        Ok(Role::Listener)
    }

    fn request(&mut self, _index: usize, _seq: u64, now_ns: u64, out: &mut Vec<u8>) {
        resp::command(out, &[b"PUBLISH", b"fan", stamped(now_ns).as_bytes()]);
    }

    fn parse(
        &mut self,
        index: usize,
        buf: &[u8],
        _answer: &mut Vec<u8>,
    ) -> Result<Option<(usize, Incoming)>, String> {
        let Some(len) = redis_reply(buf)? else {
            return Ok(None);
        };
        if index == self.subscribers {
            return Ok(Some((len, Incoming::Reply)));
        }
        // A delivery ends with "$64\r\n<payload>\r\n".
        let payload = len
            .checked_sub(MESSAGE_BYTES + 2)
            .and_then(|start| buf.get(start..len - 2));
        Ok(Some((
            len,
            Incoming::Push {
                sent_ns: payload.and_then(stamp_of),
            },
        )))
    }
}
