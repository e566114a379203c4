//! A holder that is no peerhub client and misbehaves on purpose, for the swarm tests:
//! a hub session that publishes a file, and a TLS peer listener (a thread of the test)
//! that answers each `GetRange` with the range's true proof (made by peerhub's own
//! `ProofSource` from a correct outboard) — then spoils it as [`Misdeed`] says.

use super::fetcher::login_announcing;
use super::Raw;
use peerhub::proto::message::{ClientMsg, FileInfo};
use peerhub::proto::peer::{self, Answer};
use peerhub::proto::status::Status;
use peerhub::transfer::stream::{ProofSource, Stream};
use peerhub::transfer::verified::encode::group_range;
use peerhub::transfer::verified::outboard::{Header, OutboardBuilder};
use peerhub::trust::{self, Identity};
use rustls::{ServerConnection, StreamOwned};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

/// How the holder spoils what it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misdeed {
    /// One byte of the range's last group flipped.
    CorruptGroup,
    /// One byte of the first tree node flipped.
    WrongNode,
    /// The proof of the next range along instead of the one asked for.
    UnaskedRange,
    /// The proof, then bytes nobody asked for.
    MoreBytes,
    /// Half the proof, then the connection closed.
    Truncated,
    /// Half the proof, then nothing (the connection held open).
    Stall,
}

/// The misbehaving holder: its hub session (dropping it logs it out).
pub struct Mallory {
    pub raw: Raw,
    pub addr: SocketAddr,
}

impl Mallory {
    /// Log in as `user` on `hub`, publish `data` as `name`, and serve it badly.
    pub fn start(
        hub: SocketAddr,
        user: &str,
        name: &str,
        data: &[u8],
        misdeed: Misdeed,
    ) -> Mallory {
        let identity = Identity::generate().expect("a key pair");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().unwrap();
        let mut raw = login_announcing(hub, user, addr.port(), identity.fingerprint());
        let hash = *blake3::hash(data).as_bytes();
        let size = data.len() as u64;
        let r = raw.request(&ClientMsg::Publish {
            tag: 9,
            file: FileInfo {
                name: name.into(),
                size,
                hash,
            },
            replace: false,
        });
        assert_eq!(r.status, 202, "publish: {r:?}");
        let dir = std::env::temp_dir().join(format!(
            "peerhub-mallory-{}-{}",
            std::process::id(),
            addr.port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("data");
        std::fs::write(&file, data).unwrap();
        let mut builder = OutboardBuilder::new(size);
        builder.update(data).unwrap();
        let (_, parents) = builder.finish().unwrap();
        let mut outboard = Header { size }.to_bytes().to_vec();
        outboard.extend_from_slice(&parents);
        std::fs::write(dir.join("obao"), outboard).unwrap();
        let server = Server {
            identity,
            user: user.to_owned(),
            dir,
            size,
            hash,
            misdeed,
        };
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let _ = server.serve(conn);
            }
        });
        Mallory { raw, addr }
    }
}

struct Server {
    identity: Identity,
    user: String,
    dir: PathBuf,
    size: u64,
    hash: [u8; 32],
    misdeed: Misdeed,
}

impl Server {
    /// One connection: requests until the fetcher goes, each answered badly.
    fn serve(&self, socket: TcpStream) -> std::io::Result<()> {
        socket.set_read_timeout(Some(Duration::from_secs(30)))?;
        let config = trust::peer_server_config(&self.identity).map_err(std::io::Error::other)?;
        let conn = ServerConnection::new(config).map_err(std::io::Error::other)?;
        let mut tls = StreamOwned::new(conn, socket);
        let mut buf = Vec::new();
        loop {
            let request = loop {
                if let Ok(Some((used, request))) = peer::parse_request(&buf) {
                    buf.drain(..used);
                    break request;
                }
                let mut chunk = [0u8; 4096];
                let n = tls.read(&mut chunk)?;
                if n == 0 {
                    return Ok(());
                }
                buf.extend_from_slice(&chunk[..n]);
            };
            let end = request.range_end.unwrap_or(self.size);
            let mut out = Vec::new();
            peer::encode_answer(
                &Answer {
                    status: Status::OK,
                    message: "ok".into(),
                    size: self.size,
                    hash: self.hash,
                    user: self.user.clone(),
                },
                &mut out,
            );
            // Another group than the one asked for (the file has two or more).
            let group = peerhub::transfer::verified::GROUP;
            let (start, stop) = match (self.misdeed, request.offset) {
                (Misdeed::UnaskedRange, 0) => (group, 2 * group),
                (Misdeed::UnaskedRange, _) => (0, group),
                _ => (request.offset, end),
            };
            let mut proof = self.proof(start, stop);
            match self.misdeed {
                Misdeed::CorruptGroup => *proof.last_mut().unwrap() ^= 0xFF,
                Misdeed::WrongNode => proof[0] ^= 0xFF,
                Misdeed::MoreBytes => proof.extend_from_slice(&[7; 100]),
                Misdeed::Truncated | Misdeed::Stall => proof.truncate(proof.len() / 2),
                Misdeed::UnaskedRange => {}
            }
            out.extend_from_slice(&proof);
            tls.write_all(&out)?;
            tls.flush()?;
            match self.misdeed {
                Misdeed::Truncated => {
                    tls.conn.send_close_notify();
                    tls.flush()?;
                    return Ok(());
                }
                Misdeed::Stall => {
                    // Hold the connection until the fetcher gives up on it.
                    let mut sink = [0u8; 64];
                    while tls.read(&mut sink)? > 0 {}
                    return Ok(());
                }
                _ => {}
            }
        }
    }

    /// The true proof of bytes `start..end`, as a holder sends it.
    fn proof(&self, start: u64, end: u64) -> Vec<u8> {
        let groups = group_range(self.size, start..end).expect("a valid range");
        let file = std::fs::File::open(self.dir.join("data")).unwrap();
        let outboard = std::fs::File::open(self.dir.join("obao")).unwrap();
        let mut source = ProofSource::new(file, outboard, self.size, groups);
        let mut wire = Collect(Vec::new());
        while !source.done() {
            source.send(&mut wire, 1 << 20).unwrap();
        }
        wire.0
    }
}

/// A stream that keeps what is written to it.
struct Collect(Vec<u8>);

impl Read for Collect {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Ok(0)
    }
}

impl Write for Collect {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Stream for Collect {
    fn close_write(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
