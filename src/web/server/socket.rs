//! The WebSocket side of [`Web`]: the upgrade of a request to `/ws`, its text
//! messages read as command lines ([`MESSAGES_PER_TURN`] a turn), and JSON lines sent
//! to it.

use super::{Head, Response, Route, State, Web, WebCommand, WebLimits, MESSAGES_PER_TURN};
use crate::web::response::switching_protocols;
use log::{debug, info};
use mio::Registry;
use std::io::{self, Write};
use tungstenite::protocol::{Role, WebSocketConfig, WebSocketContext};
use tungstenite::Message;

/// How a page's WebSocket is bounded: messages and frames of at most
/// `limits.max_message`, at most `limits.max_queued` bytes waiting to be written.
pub fn socket_config(limits: &WebLimits) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size(limits.max_queued)
        .max_message_size(Some(limits.max_message))
        .max_frame_size(Some(limits.max_message))
}

impl Web {
    /// Send a JSON line to WebSocket `conn` (dropped if it is gone).
    pub(super) fn send(&mut self, registry: &Registry, conn: usize, text: &str) {
        let Some(c) = self.conns.get_mut(conn) else {
            return;
        };
        let State::Socket { ws, .. } = &mut c.state else {
            return;
        };
        match ws
            .write(&mut c.stream, Message::text(text))
            .and_then(|()| ws.flush(&mut c.stream))
        {
            Ok(()) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => {
                debug!("web connection {conn}: {e}");
                self.close(registry, conn);
            }
        }
    }

    pub(super) fn open_socket(&mut self, registry: &Registry, key: usize, head: &Head) {
        let Some(ws_key) = head.websocket_key.as_deref().filter(|_| head.websocket) else {
            return self.answer(
                registry,
                key,
                Response::text(426, "this is the WebSocket endpoint"),
            );
        };
        if head.websocket_version.as_deref() != Some("13") {
            let answer = Response::text(426, "WebSocket version 13 only")
                .header("Sec-WebSocket-Version", "13");
            return self.answer(registry, key, answer);
        }
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let upgrade = switching_protocols(ws_key);
        // A 101 is a few hundred bytes: the socket's buffer, empty yet, takes it whole
        // (TLS records that wait go out with the next flush).
        if conn.stream.write_all(&upgrade).is_err() {
            return self.close(registry, key);
        }
        match conn.stream.flush() {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => return self.close(registry, key),
            _ => {}
        }
        let ws = WebSocketContext::new(Role::Server, Some(socket_config(&self.limits)));
        info!("web: a page connected");
        conn.state = State::Socket {
            ws: Box::new(ws),
            commands: 0,
        };
    }

    pub(super) fn read_socket(
        &mut self,
        registry: &Registry,
        key: usize,
        out: &mut Vec<WebCommand>,
    ) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let State::Socket { ws, commands } = &mut conn.state else {
            return;
        };
        for _ in 0..MESSAGES_PER_TURN {
            match ws.read(&mut conn.stream) {
                Ok(Message::Text(text)) => {
                    *commands += 1;
                    let line = text.as_str().trim_end_matches(['\r', '\n']).to_owned();
                    let id = self.next_id;
                    self.next_id += 1;
                    let route = Route::Page {
                        conn: key,
                        number: *commands,
                    };
                    self.routes.insert(id, route);
                    out.push(WebCommand { id, line });
                }
                Ok(Message::Binary(_)) => {
                    let _ = ws.close(&mut conn.stream, None);
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    let _ = ws.flush(&mut conn.stream);
                    return;
                }
                Err(e) => {
                    debug!("web connection {key}: {e}");
                    return self.close(registry, key);
                }
            }
        }
        self.ready.push(key);
    }
}
