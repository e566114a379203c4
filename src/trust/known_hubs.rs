//! The hubs a client trusts: `<share>/.peerhub-known-hubs`, one `HOST:PORT FINGERPRINT`
//! line per hub (HOST:PORT as given to `--server`; `#` comments and blank lines kept as
//! they are), and [`decide`], the pure rule that says what to do with the key a hub
//! presents — trust on first use like `ssh`'s `accept-new`, or exactly the key
//! `--hub-key` names.

use super::{replace_file, Fingerprint};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// The client's pins, in its share directory.
pub const KNOWN_HUBS_FILE: &str = ".peerhub-known-hubs";

/// Mode of the pins file: only its owner changes whom the client trusts.
const MODE: u32 = 0o600;

/// What to do with the key a hub presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// Go on; nothing to write, no event.
    Accept,
    /// Go on and record `pin` for this address (event `hub_key_pinned`); `replaced` is
    /// the pin it overwrites (`--hub-key` naming a new key for a pinned hub).
    AcceptAndPin {
        pin: Fingerprint,
        replaced: Option<Fingerprint>,
    },
    /// A pinned hub presented another key: send nothing, report `hub_key_mismatch`,
    /// exit 1.
    Mismatch {
        expected: Fingerprint,
        got: Fingerprint,
    },
    /// The hub's key is not the one `--hub-key` names: send nothing, exit 1.
    RefusedExplicit {
        expected: Fingerprint,
        got: Fingerprint,
    },
}

impl Trust {
    /// Whether the connection may go on.
    pub fn accepted(&self) -> bool {
        matches!(self, Trust::Accept | Trust::AcceptAndPin { .. })
    }
}

/// The rule of issue #12: with `--hub-key` only that key is accepted, nothing is written
/// and no pin event fires — unless it replaces a different pin for this hub, which it
/// does deliberately; without it, the first key seen is pinned and only that key is
/// accepted after.
pub fn decide(
    pinned: Option<Fingerprint>,
    hub_key: Option<Fingerprint>,
    presented: Fingerprint,
) -> Trust {
    match (hub_key, pinned) {
        (Some(expected), _) if expected != presented => Trust::RefusedExplicit {
            expected,
            got: presented,
        },
        (Some(_), Some(old)) if old != presented => Trust::AcceptAndPin {
            pin: presented,
            replaced: Some(old),
        },
        (Some(_), _) => Trust::Accept,
        (None, None) => Trust::AcceptAndPin {
            pin: presented,
            replaced: None,
        },
        (None, Some(expected)) if expected != presented => Trust::Mismatch {
            expected,
            got: presented,
        },
        (None, Some(_)) => Trust::Accept,
    }
}

/// One line of the file, kept for writing it back.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    /// `HOST:PORT FINGERPRINT`.
    Pin { addr: String, key: Fingerprint },
    /// A comment or a blank line, verbatim.
    Other(String),
}

/// The pins file, parsed: its lines in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownHubs {
    lines: Vec<Line>,
}

/// A line of the pins file that is not a pin, a comment or blank; or the file unreadable.
#[derive(Debug)]
pub enum KnownHubsError {
    /// Line `line` (from 1) is not `HOST:PORT FINGERPRINT`: `why`.
    Corrupt { line: usize, why: String },
    /// Reading or writing `path` failed.
    Io { path: PathBuf, error: io::Error },
}

impl fmt::Display for KnownHubsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KnownHubsError::Corrupt { line, why } => write!(
                f,
                "{KNOWN_HUBS_FILE} line {line}: {why} (each line is HOST:PORT sha256:<64 hex digits>; \
                 fix or delete that line)"
            ),
            KnownHubsError::Io { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl std::error::Error for KnownHubsError {}

impl KnownHubs {
    /// Parse the file's text; a line that is neither a pin, a comment nor blank is an
    /// error naming it, and so is a second pin for one address.
    pub fn parse(text: &str) -> Result<KnownHubs, KnownHubsError> {
        let mut hubs = KnownHubs::default();
        for (index, raw) in text.lines().enumerate() {
            let corrupt = |why: String| KnownHubsError::Corrupt {
                line: index + 1,
                why,
            };
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                hubs.lines.push(Line::Other(raw.to_owned()));
                continue;
            }
            let mut words = trimmed.split_whitespace();
            let (Some(addr), Some(key), None) = (words.next(), words.next(), words.next()) else {
                return Err(corrupt("expected two words".to_owned()));
            };
            check_addr(addr).map_err(|why| corrupt(why.to_owned()))?;
            let key = key
                .parse()
                .map_err(|e: super::FingerprintError| corrupt(e.to_string()))?;
            if hubs.pinned(addr).is_some() {
                return Err(corrupt(format!("{addr} is pinned on an earlier line too")));
            }
            hubs.lines.push(Line::Pin {
                addr: addr.to_owned(),
                key,
            });
        }
        Ok(hubs)
    }

    /// The pins file at `path`; no file is no pins.
    pub fn load(path: &Path) -> Result<KnownHubs, KnownHubsError> {
        match std::fs::read_to_string(path) {
            Ok(text) => KnownHubs::parse(&text),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(KnownHubs::default()),
            Err(error) => Err(KnownHubsError::Io {
                path: path.to_owned(),
                error,
            }),
        }
    }

    /// Write the file back atomically, every other line as it was.
    pub fn save(&self, path: &Path) -> Result<(), KnownHubsError> {
        replace_file(path, self.render().as_bytes(), MODE).map_err(|error| KnownHubsError::Io {
            path: path.to_owned(),
            error,
        })
    }

    /// The key pinned for `addr` (as given to `--server`, compared exactly).
    pub fn pinned(&self, addr: &str) -> Option<Fingerprint> {
        self.lines.iter().find_map(|line| match line {
            Line::Pin { addr: a, key } if a == addr => Some(*key),
            _ => None,
        })
    }

    /// [`decide`] for the hub at `addr`.
    pub fn decide(
        &self,
        addr: &str,
        hub_key: Option<Fingerprint>,
        presented: Fingerprint,
    ) -> Trust {
        decide(self.pinned(addr), hub_key, presented)
    }

    /// Pin `key` for `addr`: its line replaced in place, or a new line at the end.
    /// `false` when `addr` cannot be written as a pin (it holds a blank).
    pub fn pin(&mut self, addr: &str, key: Fingerprint) -> bool {
        if check_addr(addr).is_err() {
            return false;
        }
        let existing = self.lines.iter_mut().find_map(|line| match line {
            Line::Pin { addr: a, key } if a == addr => Some(key),
            _ => None,
        });
        match existing {
            Some(old) => *old = key,
            None => self.lines.push(Line::Pin {
                addr: addr.to_owned(),
                key,
            }),
        }
        true
    }

    /// The file's text.
    pub fn render(&self) -> String {
        self.lines
            .iter()
            .map(|line| match line {
                Line::Pin { addr, key } => format!("{addr} {key}\n"),
                Line::Other(text) => format!("{text}\n"),
            })
            .collect()
    }
}

/// `HOST:PORT`: a host without blanks and a port number.
fn check_addr(addr: &str) -> Result<(), &'static str> {
    let Some((host, port)) = addr.rsplit_once(':') else {
        return Err("the address has no :PORT");
    };
    if host.is_empty() || host.contains(char::is_whitespace) || host.starts_with('#') {
        return Err("the address has no host");
    }
    port.parse::<u16>()
        .map(|_| ())
        .map_err(|_| "the port is not a number from 0 to 65535")
}

#[cfg(test)]
mod tests;
