//! What receiving a peer fetch over TLS costs one core beyond the socket: decrypting
//! the records. An in-memory rustls pair built from peerhub's own peer configurations
//! (the listener's `peer_server_config`, a fetcher's `client_config` with its
//! certificate), so it negotiates the suite a real fetch does; the server side encrypts
//! a block over and over, and only the client side's `read_tls`, `process_new_packets`
//! and `reader().read` are timed, in this thread's CPU time. The transfer bench runs
//! it under the `peerhub` binary's allocator (`sys::LineAligned`), so rustls's copies
//! cost what they cost in a fetcher.

use super::thread_cpu;
use peerhub::trust::{self, Identity, ServerKeyVerifier};
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, ServerConnection};
use std::io::{self, Read, Write};

/// Plaintext handed to the encrypting side at a time, and read back out at a time.
const CHUNK: usize = 256 * 1024;

/// What decrypting took.
pub struct Decrypted {
    /// CPU seconds of the receiving side for `size` bytes.
    pub secs: f64,
    /// The suite both sides negotiated (as rustls names it).
    pub suite: String,
}

/// CPU seconds one core spends receiving `size` bytes of TLS 1.3 records (taking
/// them in, authenticating and decrypting them, reading the plaintext out) under the
/// suite a peer fetch negotiates; `block` is the plaintext sent over and over.
pub fn decrypt_cpu(block: &[u8], size: u64) -> io::Result<Decrypted> {
    let (mut server, mut client) = pair()?;
    let suite = client
        .negotiated_cipher_suite()
        .map_or_else(|| "unknown".to_string(), |s| format!("{:?}", s.suite()));
    let block = if block.is_empty() { &[0u8][..] } else { block };
    let mut records = Vec::with_capacity(2 * CHUNK);
    let mut out = vec![0u8; CHUNK];
    let (mut sent, mut got, mut secs) = (0u64, 0u64, 0.0);
    while got < size {
        records.clear();
        let mut queued = 0;
        while queued < CHUNK && sent < size {
            let at = (sent % block.len() as u64) as usize;
            let end = block.len().min(at + CHUNK - queued);
            let want = ((end - at) as u64).min(size - sent) as usize;
            let n = server.writer().write(&block[at..at + want])?;
            while server.wants_write() {
                server.write_tls(&mut records)?;
            }
            sent += n as u64;
            queued += n;
        }
        let start = thread_cpu();
        got += receive(&mut client, &records, &mut out)?;
        secs += thread_cpu() - start;
        if records.is_empty() {
            return Err(io::Error::other("the TLS pair stopped moving"));
        }
    }
    std::hint::black_box(&out);
    Ok(Decrypted { secs, suite })
}

/// Feed `records` to `client` and read all the plaintext they hold; its length.
fn receive(client: &mut ClientConnection, records: &[u8], out: &mut [u8]) -> io::Result<u64> {
    let mut input = records;
    let mut got = 0u64;
    while !input.is_empty() {
        client.read_tls(&mut input)?;
        client.process_new_packets().map_err(io::Error::other)?;
        loop {
            match client.reader().read(out) {
                Ok(0) => break,
                Ok(n) => got += n as u64,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
    }
    Ok(got)
}

/// A listener's server and a fetcher's client, handshake done in memory.
fn pair() -> io::Result<(ServerConnection, ClientConnection)> {
    let holder = Identity::generate().map_err(io::Error::other)?;
    let fetcher = Identity::generate().map_err(io::Error::other)?;
    let server_config = trust::peer_server_config(&holder).map_err(io::Error::other)?;
    let verifier = ServerKeyVerifier::new(&trust::provider(), |_| true);
    let client_config = trust::client_config(verifier, Some(&fetcher)).map_err(io::Error::other)?;
    let mut server = ServerConnection::new(server_config).map_err(io::Error::other)?;
    let name = ServerName::try_from("localhost").map_err(io::Error::other)?;
    let mut client = ClientConnection::new(client_config, name).map_err(io::Error::other)?;
    for _ in 0..16 {
        if !server.is_handshaking() && !client.is_handshaking() {
            return Ok((server, client));
        }
        let mut flight = Vec::new();
        client.write_tls(&mut flight)?;
        server.read_tls(&mut &flight[..])?;
        server.process_new_packets().map_err(io::Error::other)?;
        flight.clear();
        server.write_tls(&mut flight)?;
        client.read_tls(&mut &flight[..])?;
        client.process_new_packets().map_err(io::Error::other)?;
    }
    Err(io::Error::other(
        "the in-memory TLS handshake did not finish",
    ))
}
