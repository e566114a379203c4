//! The web interface's request-head parser (`web::http::parse`) and what decides on a
//! head (`web::access::Access::check`, `web::share::route` and `file_name`), on any
//! bytes a browser or an attacker sends: never panics; a whole head took no more than
//! the bytes given and `MAX_HEAD`, its path is a path; a refusal is a 4xx/5xx; a share
//! name is one visible path component.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerhub::web::access::{Access, AccessToken};
use peerhub::web::http::{parse, Parsed, MAX_HEAD};
use peerhub::web::share;

fuzz_target!(|data: &[u8]| {
    match parse(data) {
        Parsed::Partial => assert!(data.len() < MAX_HEAD),
        Parsed::Bad(status, _) => assert!((400..600).contains(&status)),
        Parsed::Done(head, len) => {
            assert!(len <= data.len() && len <= MAX_HEAD);
            assert!(head.path.starts_with('/'));
            let access = Access {
                token: AccessToken::from_random([7; 16]),
                bound: "127.0.0.1:8080".parse().unwrap(),
                https: false,
                hosts: vec!["peerhub.lan".into()],
            };
            if let Err(denied) = access.check(&head) {
                assert!(matches!(denied.status, 401 | 403), "{denied:?}");
            }
            if let Some(name) = share::route(&head.path).and_then(share::file_name) {
                assert!(!name.is_empty() && name.len() <= 255);
                assert!(!name.starts_with('.') && !name.contains(['/', '\\', '\0']));
            }
        }
    }
});
