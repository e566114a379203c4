//! Choosing the holder to fetch from, among those a lookup returned. Pure.

use crate::proto::message::{Hash, Holder};
use crate::proto::status::Status;

/// What the choice came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// Fetch from `holders[i]`.
    One(usize),
    /// Ask the person: `order` lists indexes into `holders`, best first (the suggestion).
    Ask { order: Vec<usize> },
}

/// Pick a holder of `name`.
///
/// - `me`: the user logged in here; never chosen (400 when asked for, or when it is
///   the only holder).
/// - `from`: `--from <user>`; only that user is considered (406 when it holds nothing).
/// - `busy(user)`: downloads from that user running in this client now.
/// - `partial`: the hash the partial file of the destination was downloaded for.
///
/// Holders are ranked: fewest running downloads first, then a hash matching the
/// partial file (it can be resumed), then the hub's order. With `interactive` and
/// more than one candidate the person is asked, the best one suggested.
pub fn choose(
    name: &str,
    holders: &[Holder],
    me: Option<&str>,
    from: Option<&str>,
    busy: impl Fn(&str) -> usize,
    partial: Option<&Hash>,
    interactive: bool,
) -> Result<Choice, (Status, String)> {
    if from.is_some() && from == me {
        return Err((
            Status::BAD_REQUEST,
            "you cannot fetch from yourself".to_owned(),
        ));
    }
    let mut order: Vec<usize> = holders
        .iter()
        .enumerate()
        .filter(|(_, h)| Some(h.user.as_str()) != me)
        .filter(|(_, h)| from.is_none_or(|f| f == h.user))
        .map(|(i, _)| i)
        .collect();
    if order.is_empty() {
        return Err(match from {
            Some(f) => (
                Status::NO_FILE,
                format!("{f} does not publish {name} (or is offline)"),
            ),
            None => (
                Status::BAD_REQUEST,
                format!("you are the only holder of {name}: you cannot fetch from yourself"),
            ),
        });
    }
    order.sort_by_key(|&i| {
        let (load, other_content) = holders.get(i).map_or((usize::MAX, true), |h| {
            (busy(&h.user), partial != Some(&h.hash))
        });
        (load, other_content, i)
    });
    match order.as_slice() {
        [only] => Ok(Choice::One(*only)),
        [best, ..] if !interactive => Ok(Choice::One(*best)),
        _ => Ok(Choice::Ask { order }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(user: &str, hash: u8) -> Holder {
        Holder {
            user: user.into(),
            addr: "127.0.0.1:1".parse().unwrap(),
            size: 10,
            hash: [hash; 32],
            fingerprint: crate::trust::Fingerprint::from_bytes([hash; 32]),
            ticket: Vec::new(),
        }
    }

    fn idle(_: &str) -> usize {
        0
    }

    #[test]
    fn self_is_never_chosen() {
        let hs = [holder("me", 1), holder("bob", 1)];
        assert_eq!(
            choose("f", &hs, Some("me"), None, idle, None, false),
            Ok(Choice::One(1))
        );
        let (status, _) = choose("f", &hs, Some("me"), Some("me"), idle, None, false).unwrap_err();
        assert_eq!(status, Status::BAD_REQUEST);
        let (status, msg) = choose("f", &hs[..1], Some("me"), None, idle, None, false).unwrap_err();
        assert_eq!(status, Status::BAD_REQUEST);
        assert!(msg.contains("only holder"), "{msg}");
    }

    #[test]
    fn from_filters() {
        let hs = [holder("ann", 1), holder("bob", 1)];
        assert_eq!(
            choose("f", &hs, Some("me"), Some("bob"), idle, None, true),
            Ok(Choice::One(1))
        );
        let (status, _) =
            choose("f", &hs, Some("me"), Some("carl"), idle, None, false).unwrap_err();
        assert_eq!(status, Status::NO_FILE);
    }

    #[test]
    fn least_busy_then_partial_match_then_hub_order() {
        let hs = [holder("ann", 1), holder("bob", 2), holder("cid", 2)];
        let busy = |u: &str| usize::from(u == "ann");
        assert_eq!(
            choose("f", &hs, None, None, busy, None, false),
            Ok(Choice::One(1))
        );
        // All idle: the holder whose hash matches the partial file wins.
        assert_eq!(
            choose("f", &hs, None, None, idle, Some(&[2; 32]), false),
            Ok(Choice::One(1))
        );
        assert_eq!(
            choose("f", &hs, None, None, idle, None, false),
            Ok(Choice::One(0))
        );
    }

    #[test]
    fn interactive_asks_only_with_a_real_choice() {
        let hs = [holder("ann", 1), holder("bob", 2)];
        let busy = |u: &str| usize::from(u == "ann");
        assert_eq!(
            choose("f", &hs, None, None, busy, None, true),
            Ok(Choice::Ask { order: vec![1, 0] })
        );
        assert_eq!(
            choose("f", &hs[..1], None, None, idle, None, true),
            Ok(Choice::One(0))
        );
    }
}
