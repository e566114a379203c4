//! `GET /metrics` on the hub's interface: the request runs `stats` under an id of its
//! own (so the accounts the backend counts are in it) and waits, at most the head's
//! time, for its result; the loop that owns the interface renders the text (it alone
//! knows its own measurements) and [`Web::answer_metrics`] sends it.

use super::{Request, Route, State, Web, WebCommand};
use crate::web::response::Response;
use mio::Registry;
use std::time::Instant;

/// The media type of the Prometheus text format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Where a command's result went.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivered {
    /// To the page whose command it ends.
    ToPage,
    /// Nobody here waits for it: it goes to stdout.
    NotAPage,
    /// A `GET /metrics` waits for it: answer with [`Web::answer_metrics`].
    Metrics(MetricsWait),
}

/// A `GET /metrics` request waiting for its answer.
#[derive(Debug, PartialEq, Eq)]
pub struct MetricsWait(pub(super) usize);

impl Web {
    /// Serve `GET /metrics` (the hub's interface).
    pub fn serve_metrics(&mut self) {
        self.metrics = true;
    }

    /// Run `stats` for the request at `key`, which waits for its result.
    pub(super) fn ask_metrics(&mut self, key: usize, request: Request) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        conn.state = State::Asked {
            deadline: request.now + self.limits.head_timeout,
        };
        let id = self.next_id;
        self.next_id += 1;
        self.routes.insert(id, Route::Metrics { conn: key });
        request.out.push(WebCommand {
            id,
            line: "stats".into(),
        });
    }

    /// Answer a waiting `GET /metrics`: `text` in the Prometheus format, or — when
    /// the counters could not be had — a 500 saying why.
    pub fn answer_metrics(
        &mut self,
        registry: &Registry,
        wait: MetricsWait,
        text: Result<String, String>,
    ) {
        let answer = match text {
            Ok(text) => Response::new(200, PROMETHEUS_TEXT, text),
            Err(why) => Response::text(500, &why),
        };
        self.answer(registry, wait.0, answer);
    }

    /// Answer what waited past its deadline: a head that never came whole (408), a
    /// `/metrics` whose counters did not come (503).
    pub(super) fn answer_late(&mut self, registry: &Registry, now: Instant) {
        let late: Vec<(usize, bool)> = self
            .conns
            .iter()
            .filter_map(|(k, c)| match c.state {
                State::Head { deadline, .. } if deadline <= now => Some((k, true)),
                State::Asked { deadline } if deadline <= now => Some((k, false)),
                _ => None,
            })
            .collect();
        for (key, head) in late {
            let answer = if head {
                Response::text(408, "the request head took too long")
            } else {
                self.routes
                    .retain(|_, route| !matches!(route, Route::Metrics { conn } if *conn == key));
                Response::text(503, "the hub's counters did not come in time")
            };
            self.answer(registry, key, answer);
        }
    }
}
