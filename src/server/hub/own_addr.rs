//! A login may not announce the hub's own address as its peer address: the hub tells
//! fetchers to connect to the IP it sees for the connection and the announced
//! `peer_port`, and fetchers sent to the hub itself would reach no peer.

use std::net::{IpAddr, SocketAddr};

/// Why a login from `peer` announcing `peer_port` is refused, if it is: the address
/// fetchers would be sent to is `local`, the address the hub accepted that connection
/// on (its local IP — also when the hub listens on `0.0.0.0` or `::` — and the hub's
/// port). On loopback every `127.x` address of the hub's port counts as the hub's own.
pub fn own_address(peer: IpAddr, peer_port: u16, local: SocketAddr) -> Option<String> {
    let (peer, hub) = (peer.to_canonical(), local.ip().to_canonical());
    let same_host = peer == hub || (peer.is_loopback() && hub.is_loopback());
    (same_host && peer_port == local.port()).then(|| {
        format!(
            "peer_port {peer_port} is the hub's own address ({}): announce your peer listener's port",
            SocketAddr::new(peer, peer_port)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{base, sent_to, test_hub, HUB_PORT};
    use super::*;
    use crate::proto::message::{ClientMsg, HubMsg, Role, VERSION};
    use crate::server::hub::HubConfig;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_hubs_own_address_is_refused() {
        let why = own_address(ip("127.0.0.1"), 9999, sa("127.0.0.1:9999")).unwrap();
        assert_eq!(
            why,
            "peer_port 9999 is the hub's own address (127.0.0.1:9999): \
             announce your peer listener's port"
        );
        // A client on the hub's machine reaching it by its LAN address (the hub
        // listening on 0.0.0.0 accepted it there).
        assert!(own_address(ip("192.168.1.5"), 9999, sa("192.168.1.5:9999")).is_some());
        assert!(own_address(ip("::1"), 9999, sa("[::1]:9999")).is_some());
        // Another loopback address of the same machine.
        assert!(own_address(ip("127.0.0.2"), 9999, sa("127.0.0.1:9999")).is_some());
        // An IPv4 client of a dual-stack listener on `::`.
        assert!(own_address(ip("::ffff:127.0.0.1"), 9999, sa("[::ffff:127.0.0.1]:9999")).is_some());
        assert!(own_address(ip("::ffff:10.0.0.1"), 9999, sa("10.0.0.1:9999")).is_some());
    }

    #[test]
    fn any_other_address_is_taken() {
        // Another port on the hub's machine: a peer listener.
        assert_eq!(
            own_address(ip("127.0.0.1"), 7001, sa("127.0.0.1:9999")),
            None
        );
        // The hub's port on another machine: that machine's business.
        assert_eq!(
            own_address(ip("192.168.1.6"), 9999, sa("192.168.1.5:9999")),
            None
        );
        assert_eq!(
            own_address(ip("10.0.0.2"), 9999, sa("[::ffff:10.0.0.1]:9999")),
            None
        );
        // A client behind a NAT (seen as its router) on the hub's port number.
        assert_eq!(
            own_address(ip("203.0.113.7"), 9999, sa("198.51.100.1:9999")),
            None
        );
    }

    /// The decision in the hub: the login is refused before its password is hashed,
    /// the connection stays, and a login announcing a real peer port then succeeds.
    #[test]
    fn a_login_announcing_the_hubs_port_is_refused_before_hashing() {
        let mut hub = test_hub(HubConfig::default());
        let now = base();
        let local = SocketAddr::from(([127, 0, 0, 1], HUB_PORT));
        let mut out = Vec::new();
        hub.on_connect(1, sa("127.0.0.1:5001"), local, now, &mut out);
        let hello = ClientMsg::Hello {
            version: VERSION,
            role: Role::Session,
        };
        hub.on_message(1, hello, now, &mut out);
        let register = ClientMsg::Register {
            tag: 1,
            user: "carol".into(),
            password: "pw".into(),
        };
        hub.on_message(1, register, now, &mut out);
        let login = |tag, peer_port| ClientMsg::Login {
            tag,
            user: "carol".into(),
            password: "pw".into(),
            peer_port,
            fingerprint: crate::trust::Fingerprint::from_bytes([1; 32]),
        };
        let hashed = hub.hashes_this_turn;
        let mut out = Vec::new();
        hub.on_message(1, login(2, HUB_PORT), now, &mut out);
        assert_eq!(hub.hashes_this_turn, hashed, "no password was hashed");
        let got = sent_to(1, &out);
        assert!(
            matches!(&got[..], [HubMsg::Reply { tag: 2, status, message, .. }]
                if status.0 == 400 && message.starts_with("peer_port 9999 is the hub's own address")),
            "{got:?}"
        );
        assert!(hub.online.is_empty());
        let mut out = Vec::new();
        hub.on_message(1, login(3, 4000), now, &mut out);
        assert!(
            matches!(&sent_to(1, &out)[..], [HubMsg::Reply { tag: 3, status, .. }, ..] if status.0 == 200),
            "{:?}",
            sent_to(1, &out)
        );
    }
}
