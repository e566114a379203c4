//! A page's WebSocket as the web interface reads it (tungstenite's server context with
//! `web::socket_config`), on any bytes after the upgrade: never panics, and no message
//! it hands over is longer than `web::MAX_MESSAGE`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerhub::web::{socket_config, WebLimits, MAX_MESSAGE};
use std::io::{self, Read, Write};
use tungstenite::protocol::{Role, WebSocketContext};

/// The fuzzer's bytes to read, and a sink for what the server writes back.
struct Wire<'a> {
    input: &'a [u8],
}

impl Read for Wire<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.input.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.input.len()).min(977);
        buf[..n].copy_from_slice(&self.input[..n]);
        self.input = &self.input[n..];
        Ok(n)
    }
}

impl Write for Wire<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let mut ws = WebSocketContext::new(Role::Server, Some(socket_config(&WebLimits::default())));
    let mut wire = Wire { input: data };
    for _ in 0..10_000 {
        match ws.read(&mut wire) {
            Ok(message) => assert!(message.len() <= MAX_MESSAGE),
            Err(_) => break,
        }
    }
});
