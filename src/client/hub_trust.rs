//! The client's trust in its hub: the pins in `<share>/.peerhub-known-hubs`, the TLS
//! configuration whose verifier applies [`trust::decide`] to the key the hub presents
//! (so nothing, not even the hello, is sent to a hub it refuses), and what each
//! outcome makes the client report — `hub_key_pinned` on first use or a deliberate
//! `--hub-key` replacement, `hub_key_mismatch` and exit 1 when the key is not the one
//! it trusts, with the way to trust a new key deliberately.

use crate::output::Event;
use crate::trust::known_hubs::KNOWN_HUBS_FILE;
use crate::trust::{self, Fingerprint, KnownHubs, ServerKeyVerifier, Trust};
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// What the client does with the key a hub presented.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Record this pin for the hub's address.
    pub pin: Option<Fingerprint>,
    /// Report this.
    pub event: Option<Event>,
    /// Give up on the hub: send nothing, exit 1.
    pub refuse: bool,
}

/// The rule's verdict as what the client does and says (`addr` as given to
/// `--server`). Pure: the caller writes the pin and carries out the rest.
pub fn outcome(trust: Trust, addr: &str) -> Outcome {
    match trust {
        Trust::Accept => Outcome {
            pin: None,
            event: None,
            refuse: false,
        },
        Trust::AcceptAndPin { pin, replaced } => {
            let human = match replaced {
                None => format!("trusting the hub at {addr} on first use: its key is {pin}"),
                Some(old) => format!(
                    "trusting the hub at {addr} with the key given by --hub-key: {pin} (it replaces {old})"
                ),
            };
            let mut event = Event::new("hub_key_pinned", human)
                .field("addr", addr)
                .field("fingerprint", pin.to_string());
            if let Some(old) = replaced {
                event = event.field("replaced", old.to_string());
            }
            Outcome {
                pin: Some(pin),
                event: Some(event),
                refuse: false,
            }
        }
        Trust::Mismatch { expected, got } => refusal(
            addr,
            expected,
            got,
            format!(
                "the hub at {addr} presented the key {got}, but {KNOWN_HUBS_FILE} pins {expected} \
                 for it: nothing was sent. If its key was changed deliberately (a new hub, a new \
                 --data), trust the new one with --hub-key {got}"
            ),
        ),
        Trust::RefusedExplicit { expected, got } => refusal(
            addr,
            expected,
            got,
            format!(
                "the hub at {addr} presented the key {got}, not the {expected} given by \
                 --hub-key: nothing was sent. Check the fingerprint the hub prints at start"
            ),
        ),
    }
}

/// A refused key: the mismatch event, and exit.
fn refusal(addr: &str, expected: Fingerprint, got: Fingerprint, human: String) -> Outcome {
    let event = Event::new("hub_key_mismatch", human.clone())
        .field("addr", addr)
        .field("expected", expected.to_string())
        .field("got", got.to_string())
        .field("message", human);
    Outcome {
        pin: None,
        event: Some(event),
        refuse: true,
    }
}

/// The pins, the rule's inputs and the TLS configuration for one hub.
pub struct HubTrust {
    /// The hub's address as given to `--server` (the pin's key).
    addr: String,
    hub_key: Option<Fingerprint>,
    path: PathBuf,
    /// Shared with the verifier, which reads them during each handshake.
    pins: Arc<Mutex<KnownHubs>>,
    config: Arc<ClientConfig>,
}

impl HubTrust {
    /// Load the pins from `share` and build the configuration every connection to the
    /// hub at `addr` uses (one for the client's life, so reconnects resume sessions).
    pub fn load(share: &Path, addr: &str, hub_key: Option<Fingerprint>) -> io::Result<HubTrust> {
        let path = share.join(KNOWN_HUBS_FILE);
        let pins = KnownHubs::load(&path).map_err(io::Error::other)?;
        let pins = Arc::new(Mutex::new(pins));
        let verifier = {
            let (pins, addr) = (pins.clone(), addr.to_owned());
            ServerKeyVerifier::new(&trust::provider(), move |presented| {
                lock(&pins).decide(&addr, hub_key, *presented).accepted()
            })
        };
        // The hub asks for no certificate: the client's own identity is for peers.
        let config = trust::client_config(verifier, None)
            .map_err(|e| io::Error::other(format!("TLS: {e}")))?;
        Ok(HubTrust {
            addr: addr.to_owned(),
            hub_key,
            path,
            pins,
            config,
        })
    }

    /// The configuration to connect with.
    pub fn config(&self) -> Arc<ClientConfig> {
        self.config.clone()
    }

    /// The name the handshake carries (names key resumption; keys are what is checked).
    pub fn server_name(&self) -> ServerName<'static> {
        ServerName::try_from("hub.peerhub.invalid").expect("a valid DNS name")
    }

    /// What to do about `presented`, the key the hub showed (in a handshake that went
    /// through, or that our verifier refused); a new pin is written first.
    pub fn judge(&self, presented: Fingerprint) -> io::Result<Outcome> {
        let mut pins = lock(&self.pins);
        let outcome = outcome(pins.decide(&self.addr, self.hub_key, presented), &self.addr);
        if let Some(pin) = outcome.pin {
            pins.pin(&self.addr, pin);
            pins.save(&self.path).map_err(io::Error::other)?;
        }
        Ok(outcome)
    }
}

/// The pins, whoever panicked while holding them (nothing here leaves them half-changed).
fn lock(pins: &Mutex<KnownHubs>) -> std::sync::MutexGuard<'_, KnownHubs> {
    pins.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> Fingerprint {
        format!("sha256:{}", format!("{byte:02x}").repeat(32))
            .parse()
            .unwrap()
    }

    #[test]
    fn accepting_a_known_key_says_nothing() {
        assert_eq!(
            outcome(Trust::Accept, "h:1"),
            Outcome {
                pin: None,
                event: None,
                refuse: false
            }
        );
    }

    #[test]
    fn first_use_pins_and_reports_the_address_and_key() {
        let out = outcome(
            Trust::AcceptAndPin {
                pin: key(1),
                replaced: None,
            },
            "hub.lan:9999",
        );
        assert_eq!(out.pin, Some(key(1)));
        assert!(!out.refuse);
        let event = out.event.unwrap();
        assert_eq!(event.name, "hub_key_pinned");
        assert_eq!(event.fields["addr"], "hub.lan:9999");
        assert_eq!(event.fields["fingerprint"], key(1).to_string());
        assert!(!event.fields.contains_key("replaced"));
        assert!(event.human.contains("first use"));
    }

    #[test]
    fn a_deliberate_replacement_names_the_old_key() {
        let out = outcome(
            Trust::AcceptAndPin {
                pin: key(2),
                replaced: Some(key(1)),
            },
            "h:1",
        );
        let event = out.event.unwrap();
        assert_eq!(event.fields["replaced"], key(1).to_string());
        assert!(event.human.contains("--hub-key"));
    }

    #[test]
    fn a_mismatch_refuses_and_says_how_to_trust_the_new_key() {
        let out = outcome(
            Trust::Mismatch {
                expected: key(1),
                got: key(2),
            },
            "h:1",
        );
        assert!(out.refuse);
        assert_eq!(out.pin, None);
        let event = out.event.unwrap();
        assert_eq!(event.name, "hub_key_mismatch");
        assert_eq!(event.fields["expected"], key(1).to_string());
        assert_eq!(event.fields["got"], key(2).to_string());
        assert!(event.human.contains(&format!("--hub-key {}", key(2))));
    }

    #[test]
    fn a_wrong_hub_key_refuses_without_pinning() {
        let out = outcome(
            Trust::RefusedExplicit {
                expected: key(3),
                got: key(4),
            },
            "h:1",
        );
        assert!(out.refuse);
        assert_eq!(out.pin, None);
        assert_eq!(out.event.unwrap().name, "hub_key_mismatch");
    }

    #[test]
    fn judging_writes_a_first_pin_and_then_holds_to_it() {
        let dir = std::env::temp_dir().join(format!("peerhub-hubtrust-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let trust = HubTrust::load(&dir, "127.0.0.1:7", None).unwrap();
        assert_eq!(trust.judge(key(5)).unwrap().pin, Some(key(5)));
        let text = std::fs::read_to_string(dir.join(KNOWN_HUBS_FILE)).unwrap();
        assert_eq!(text, format!("127.0.0.1:7 {}\n", key(5)));
        assert!(!trust.judge(key(5)).unwrap().refuse);
        assert!(trust.judge(key(6)).unwrap().refuse);
        let again = HubTrust::load(&dir, "127.0.0.1:7", None).unwrap();
        assert!(again.judge(key(6)).unwrap().refuse);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
